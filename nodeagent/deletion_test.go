package nodeagent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestDeletionAdoptionAndNodeDeath covers the ends of pods: graceful deletion with
// preStop and SIGKILL after the grace period, forced deletion, an agent restart that
// adopts running containers and removes those of pods deleted meanwhile, and the
// death of the node container, which ends its pods.
func TestDeletionAdoptionAndNodeDeath(t *testing.T) {
	e := newEnv(t)
	e.addNode("worker")
	k := e.kubectl()
	k.apply(`apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    lifecycle:
      preStop: {exec: {command: ["sh", "-c", "echo preStop ran > /node/prestop"]}}
    volumeMounts: [{name: node, mountPath: /node}]
  volumes: [{name: node, hostPath: {path: /var/lib/deletion-test}}]
---
apiVersion: v1
kind: Pod
metadata: {name: forced}
spec:
  containers: [{name: main, image: busybox:1.31, command: ["sleep", "3600"], volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  containers:
  - name: main
    image: busybox:1.31
    command: ["sleep", "3600"]
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  containers: [{name: main, image: busybox:1.31, command: ["sleep", "3600"]}]
`)
	for _, p := range []string{"stubborn", "forced", "keeper", "gone"} {
		k.eventually(60*time.Second, p+`\s+1/1\s+Running`, "get", "pod", p)
	}

	t.Run("graceful deletion: preStop, SIGTERM, SIGKILL after the grace period", func(t *testing.T) {
		k := k.on(t)
		start := time.Now()
		k.must("delete", "pod", "stubborn", "--wait=false")
		k.eventually(5*time.Second, `stubborn\s+1/1\s+Terminating`, "get", "pod", "stubborn")
		k.eventually(30*time.Second, `^$`, "get", "pod", "stubborn", "--ignore-not-found")
		took := time.Since(start)
		if took < 3*time.Second || took > 15*time.Second {
			t.Errorf("deletion with a 4s grace period that the container ignores took %s", took)
		}
		if n := len(e.containersOf("default", "stubborn", true)); n != 0 {
			t.Errorf("%d containers left", n)
		}
		k.apply(`apiVersion: v1
kind: Pod
metadata: {name: check-prestop}
spec:
  restartPolicy: Never
  containers: [{name: main, image: busybox:1.31, command: ["cat", "/node/prestop"], volumeMounts: [{name: node, mountPath: /node}]}]
  volumes: [{name: node, hostPath: {path: /var/lib/deletion-test}}]
`)
		k.eventually(60*time.Second, `Completed`, "get", "pod", "check-prestop")
		if out := k.must("logs", "check-prestop"); out != "preStop ran\n" {
			t.Errorf("preStop's file: %q", out)
		}
	})

	t.Run("forced deletion", func(t *testing.T) {
		k := k.on(t)
		start := time.Now()
		k.must("delete", "pod", "forced", "--grace-period=0", "--force")
		deadline := time.Now().Add(10 * time.Second)
		for len(e.containersOf("default", "forced", true))+len(e.volumesOf("default", "forced")) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("containers or volumes of a force-deleted pod still there after %s", time.Since(start))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("an agent restart adopts running containers", func(t *testing.T) {
		k := k.on(t)
		before := ids(e.containersOf("default", "keeper", false))
		e.stopAgent("worker")
		k.must("delete", "pod", "gone", "--grace-period=0", "--force")
		k.apply(`apiVersion: v1
kind: Pod
metadata: {name: newcomer}
spec:
  containers: [{name: main, image: busybox:1.31, command: ["sleep", "3600"]}]
`)
		e.startAgent("worker")
		k.eventually(30*time.Second, `newcomer\s+1/1\s+Running`, "get", "pod", "newcomer")
		deadline := time.Now().Add(15 * time.Second)
		for len(e.containersOf("default", "gone", true)) > 0 {
			if time.Now().After(deadline) {
				t.Fatal("containers of a pod deleted while the agent was away are still there")
			}
			time.Sleep(200 * time.Millisecond)
		}
		after := ids(e.containersOf("default", "keeper", false))
		if before != after {
			t.Errorf("keeper's containers changed across the agent restart:\n%s\n%s", before, after)
		}
		k.eventually(10*time.Second, `keeper\s+1/1\s+Running\s+0`, "get", "pod", "keeper")
	})

	t.Run("killing the node container ends its pods", func(t *testing.T) {
		k := k.on(t)
		d := dockerClient(t)
		node := e.nodes["worker"].name
		// The agent runs in the node container in a real cluster: it dies with it.
		e.stopAgent("worker")
		ctx := context.Background()
		if err := d.ContainerKill(ctx, node, "KILL"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			running := len(e.containersOf("default", "keeper", false)) + len(e.containersOf("default", "newcomer", false))
			if running == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d pod containers still run after their node container was killed", running)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The node comes back (docker start): its agent makes its pods run again.
		if err := d.ContainerStart(ctx, node, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		e.startAgent("worker")
		k.eventually(30*time.Second, `keeper\s+1/1\s+Running\s+1`, "get", "pod", "keeper")
		matches(t, "describe keeper", k.must("describe", "pod", "keeper"), `Normal\s+SandboxChanged\s+.*Pod sandbox changed, it will be killed and re-created.`)
	})
}

func ids(list []container.Summary) string {
	var out []string
	for _, c := range list {
		out = append(out, c.ID[:12])
	}
	return strings.Join(out, ",")
}
