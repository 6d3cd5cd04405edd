package nodeagent_test

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// TestPersistentVolumeClaims: a pod waits (ContainerCreating, FailedMount) until its
// claim exists and is bound; a provisioned volume keeps what one pod wrote for the
// next, on another node too, as network storage would, read-only when the claim is;
// a static hostPath volume (scenario 11) is the node's own disk; deleting the claim
// deletes the provisioned volume and its Docker volume.
func TestPersistentVolumeClaims(t *testing.T) {
	e := newEnv(t)
	a, b := e.addNode("a"), e.addNode("b")
	k := e.kubectl()
	k.must("create", "namespace", "demo")
	k.must("apply", "-f", scenario(t, "11-static-pv-pvc.yaml"))

	k.apply(`apiVersion: v1
kind: Pod
metadata: {name: writer, namespace: demo}
spec:
  nodeName: ` + a + `
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "echo kept > /data/f && echo local > /task/f"]
    volumeMounts: [{name: data, mountPath: /data}, {name: task, mountPath: /task}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: task, persistentVolumeClaim: {claimName: task-pv-claim}}
`)
	out := k.eventually(30*time.Second, `FailedMount`, "describe", "pod", "-n", "demo", "writer")
	contains(t, "describe writer", out, `error processing PVC demo/data: failed to fetch PVC from API server: persistentvolumeclaims "data" not found`)
	matches(t, "get writer", k.must("get", "pod", "-n", "demo", "writer"), `writer\s+0/1\s+ContainerCreating`)

	k.apply(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`)
	k.eventually(60*time.Second, `writer\s+0/1\s+Completed`, "get", "pod", "-n", "demo", "writer")
	volumeName := k.must("get", "pvc", "-n", "demo", "data", "-o", "jsonpath={.spec.volumeName}")
	dockerVolume := "kindlike-" + e.cluster + "-" + volumeName
	if !e.hasVolume(dockerVolume) {
		t.Fatalf("no Docker volume %s for %s", dockerVolume, volumeName)
	}
	k.must("delete", "pod", "-n", "demo", "writer")

	// On the other node: the provisioned volume has the file, the hostPath one is
	// that node's disk, without it; the claim's readOnly holds.
	k.apply(`apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: demo}
spec:
  nodeName: ` + b + `
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "cat /data/f; test -e /task/f || echo no-local; touch /data/g 2>/dev/null || echo read-only"]
    volumeMounts: [{name: data, mountPath: /data}, {name: task, mountPath: /task}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data, readOnly: true}}
  - {name: task, persistentVolumeClaim: {claimName: task-pv-claim}}
`)
	k.eventually(60*time.Second, `reader\s+0/1\s+Completed`, "get", "pod", "-n", "demo", "reader")
	if got := k.must("logs", "-n", "demo", "reader"); got != "kept\nno-local\nread-only\n" {
		t.Errorf("reader saw %q", got)
	}

	// The claim goes: its volume (reclaim policy Delete) and Docker volume go too.
	k.must("delete", "pod", "-n", "demo", "reader")
	k.must("delete", "pvc", "-n", "demo", "data")
	k.eventually(60*time.Second, `^$`, "get", "pv", volumeName, "--ignore-not-found")
	if e.hasVolume(dockerVolume) {
		t.Errorf("Docker volume %s left after its PersistentVolume was deleted", dockerVolume)
	}
}

// hasVolume reports whether the engine has a Docker volume of the test cluster.
func (e *env) hasVolume(name string) bool {
	e.t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelCluster+"="+e.cluster), filters.Arg("name", name))
	list, err := dockerClient(e.t).VolumeList(context.Background(), volume.ListOptions{Filters: f})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range list.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}
