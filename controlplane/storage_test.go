package controlplane_test

import (
	"path/filepath"
	"testing"
	"time"
)

// TestPersistentVolumes: the static PV lesson (scenario 11) binds task-pv-claim to
// task-pv-volume; a claim without a class gets the default class "standard", a volume
// provisioned for it and bound; pods wait for their claims to exist and be bound; a
// deleted claim releases its volume, which is kept (Retain) or deleted (Delete).
func TestPersistentVolumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	startFakeKubelet(t, client, "w1")

	matches(t, "get sc", k.eventually(10*time.Second, `standard`, "get", "sc"),
		`(?m)^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE$`,
		`(?m)^standard \(default\)\s+kindlike.dev/local\s+Delete\s+Immediate\s+false\s`)

	k.must("create", "ns", "demo")
	k.must("apply", "-f", filepath.Join(scenarios(t), "11-static-pv-pvc.yaml"))
	k.eventually(10*time.Second, `(?m)^task-pv-claim\s+Bound\s+task-pv-volume\s+10Gi\s+RWO\s+manual\s`, "get", "pvc", "-n", "demo")
	matches(t, "get pv", k.must("get", "pv", "task-pv-volume"),
		`(?m)^NAME\s+CAPACITY\s+ACCESS MODES\s+RECLAIM POLICY\s+STATUS\s+CLAIM\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+REASON\s+AGE$`,
		`(?m)^task-pv-volume\s+10Gi\s+RWO\s+Retain\s+Bound\s+demo/task-pv-claim\s+manual\s+<unset>\s`)
	annotations := k.must("get", "pvc", "-n", "demo", "task-pv-claim", "-o", "jsonpath={.metadata.annotations}")
	contains(t, "claim annotations", annotations, `"pv.kubernetes.io/bind-completed":"yes"`, `"pv.kubernetes.io/bound-by-controller":"yes"`)
	contains(t, "volume annotations", k.must("get", "pv", "task-pv-volume", "-o", "jsonpath={.metadata.annotations}"), `"pv.kubernetes.io/bound-by-controller":"yes"`)
	if got := k.must("get", "pv", "task-pv-volume", "-o", "jsonpath={.spec.claimRef.uid}"); got != k.must("get", "pvc", "-n", "demo", "task-pv-claim", "-o", "jsonpath={.metadata.uid}") {
		t.Errorf("claimRef uid %q is not the claim's", got)
	}

	// A pod whose claim does not exist is not scheduled; it is once the claim is
	// made and bound (here, by provisioning).
	k.must("apply", "-f", writeManifest(t, "pod", `apiVersion: v1
kind: Pod
metadata: {name: writer, namespace: demo}
spec:
  containers: [{name: main, image: busybox:1.31, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
`))
	out := k.eventually(10*time.Second, `FailedScheduling`, "describe", "pod", "-n", "demo", "writer")
	contains(t, "describe writer", out, `0/1 nodes are available: persistentvolumeclaim "data" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`)

	k.must("apply", "-f", writeManifest(t, "pvc", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`))
	claims := k.eventually(10*time.Second, `(?m)^data\s+Bound\s+pvc-`, "get", "pvc", "-n", "demo")
	matches(t, "get pvc", claims,
		`(?m)^NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+AGE$`,
		`(?m)^data\s+Bound\s+pvc-[0-9a-f-]{36}\s+1Gi\s+RWO\s+standard\s+<unset>\s`)
	uid := k.must("get", "pvc", "-n", "demo", "data", "-o", "jsonpath={.metadata.uid}")
	volume := "pvc-" + uid
	matches(t, "get provisioned pv", k.must("get", "pv", volume),
		`(?m)^`+volume+`\s+1Gi\s+RWO\s+Delete\s+Bound\s+demo/data\s+standard\s`)
	if got := k.must("get", "pv", volume, "-o", "jsonpath={.spec.csi.driver} {.spec.csi.volumeHandle} {.metadata.annotations.pv\\.kubernetes\\.io/provisioned-by}"); got != "local.kindlike.dev "+volume+" kindlike.dev/local" {
		t.Errorf("provisioned volume source and annotation: %q", got)
	}
	matches(t, "describe pvc", k.must("describe", "pvc", "-n", "demo", "data"),
		`Normal\s+Provisioning\s+.*kindlike.dev/local\s+External provisioner is provisioning volume for claim "demo/data"`,
		`Normal\s+ProvisioningSucceeded\s+.*kindlike.dev/local\s+Successfully provisioned volume `+volume)
	k.eventually(15*time.Second, `^w1$`, "get", "pod", "-n", "demo", "writer", "-o", "jsonpath={.spec.nodeName}")

	// A claim of a class nobody provides stays Pending, and says why.
	k.must("apply", "-f", writeManifest(t, "gold", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: gold, namespace: demo}
spec:
  storageClassName: gold
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`))
	out = k.eventually(10*time.Second, `ProvisioningFailed`, "describe", "pvc", "-n", "demo", "gold")
	contains(t, "describe gold", out, `storageclass.storage.k8s.io "gold" not found`)
	matches(t, "get pvc gold", k.must("get", "pvc", "-n", "demo", "gold"), `(?m)^gold\s+Pending\s+gold\s`)

	// Deleting the claims: Retain keeps the static volume Released; the provisioned
	// one (Delete) is deleted once a node agent has removed its Docker volume, which
	// it shows by removing the finalizer (done by hand here: no agents run).
	k.must("delete", "pod", "-n", "demo", "writer", "--wait=false")
	k.must("delete", "pvc", "-n", "demo", "task-pv-claim", "data", "--wait=false")
	k.eventually(15*time.Second, `(?m)^task-pv-volume\s+10Gi\s+RWO\s+Retain\s+Released\s+demo/task-pv-claim\s`, "get", "pv", "task-pv-volume")
	k.eventually(15*time.Second, `.+`, "get", "pv", volume, "-o", "jsonpath={.metadata.deletionTimestamp}")
	k.must("patch", "pv", volume, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	k.eventually(10*time.Second, `^$`, "get", "pv", volume, "--ignore-not-found")
}

// TestStorageProtection: a claim a scheduled pod uses stays Terminating when deleted,
// until the pod is gone; a bound volume stays Terminating until its claim is gone; as
// the pvc-protection and pv-protection finalizers keep them in Kubernetes.
func TestStorageProtection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	startFakeKubelet(t, client, "w1")
	k.must("apply", "-f", writeManifest(t, "claims", `apiVersion: v1
kind: PersistentVolume
metadata: {name: static}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: /data/static}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: keep}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: free}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  containers: [{name: main, image: busybox:1.31, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: keep}}]
`))
	k.eventually(10*time.Second, `(?m)^keep\s+Bound\s+static\s`, "get", "pvc")
	if got := k.must("get", "pvc", "keep", "-o", "jsonpath={.metadata.finalizers}"); got != `["kubernetes.io/pvc-protection"]` {
		t.Errorf("claim finalizers %s", got)
	}
	if got := k.must("get", "pv", "static", "-o", "jsonpath={.metadata.finalizers}"); got != `["kubernetes.io/pv-protection"]` {
		t.Errorf("volume finalizers %s", got)
	}
	k.eventually(15*time.Second, `^w1$`, "get", "pod", "user", "-o", "jsonpath={.spec.nodeName}")

	// The bound volume stays while its claim is there.
	k.must("delete", "pv", "static", "--wait=false")
	// free is used by nobody: once it is gone, the controller has looked at keep too.
	k.must("delete", "pvc", "keep", "free", "--wait=false")
	k.eventually(10*time.Second, `^$`, "get", "pvc", "free", "--ignore-not-found")
	matches(t, "get pvc keep", k.must("get", "pvc", "keep"), `(?m)^keep\s+Terminating\s+static\s`)
	matches(t, "get pv static", k.must("get", "pv", "static"), `(?m)^static\s+1Gi\s+RWO\s+Retain\s+Terminating\s+default/keep\s`)

	// The pod goes: the claim goes, then the released volume.
	k.must("delete", "pod", "user", "--wait=false")
	k.eventually(15*time.Second, `^$`, "get", "pvc", "keep", "--ignore-not-found")
	k.eventually(15*time.Second, `^$`, "get", "pv", "static", "--ignore-not-found")
}
