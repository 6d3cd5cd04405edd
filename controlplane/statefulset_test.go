package controlplane_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlike/kindlike/internal/testcluster"
)

// podLog records, in the order the API reported them, what happened to the pods of
// a namespace: "add web-0", "ready web-0", "notready web-0", "terminating web-0",
// "delete web-0".
type podLog struct {
	mu    sync.Mutex
	lines []string
	seen  map[string]string // pod name → last state logged
}

func watchPods(t *testing.T, c *testcluster.Cluster, namespace string) *podLog {
	t.Helper()
	cfg := c.RestConfig(0)
	cfg.Timeout = 0 // a watch lasts the whole test
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &podLog{seen: map[string]string{}}
	w, err := client.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			state := "notready"
			switch {
			case ev.Type == watch.Added:
				state = "add"
			case ev.Type == watch.Deleted:
				state = "delete"
			case pod.DeletionTimestamp != nil:
				state = "terminating"
			case pod.Status.Phase == corev1.PodRunning && podReady(pod):
				state = "ready"
			}
			l.mu.Lock()
			if l.seen[pod.Name] != state {
				l.seen[pod.Name] = state
				l.lines = append(l.lines, state+" "+pod.Name)
			}
			if state == "delete" {
				delete(l.seen, pod.Name)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// index is where line first appears in the log, or -1.
func (l *podLog) index(line string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.lines {
		if x == line {
			return i
		}
	}
	return -1
}

func (l *podLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// before fails the test unless a was logged, and before b (when b was logged).
func (l *podLog) before(t *testing.T, a, b string) {
	t.Helper()
	ia, ib := l.index(a), l.index(b)
	if ia < 0 || (ib >= 0 && ib < ia) {
		t.Errorf("want %q before %q; pod log:\n%s", a, b, l)
	}
}

// TestStatefulSet applies the tutorial's StatefulSet: pods start one after another in
// ordinal order with stable names, hostnames and claims; scaling adds in order and
// removes in reverse while claims stay; a partitioned rolling update, rollout history
// and undo work through kubectl; claims stay or go with the retention policy; and a
// pod on a dead node is not replaced until it is really gone.
func TestStatefulSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	kubelet := startFakeKubelet(t, client, "w1", "w2")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	k.eventually(20*time.Second, `(?m)^default\s+Active`, "get", "ns")
	k.must("create", "ns", "demo")
	log := watchPods(t, c, "demo")

	contains(t, "apply", k.must("apply", "-f", filepath.Join(scenarios(t), "09-web-statefulset.yaml")),
		"service/nginx-demo created", "statefulset.apps/web-demo created")
	k.eventually(30*time.Second, `(?m)^web-demo\s+2/2\s+`, "get", "sts", "-n", "demo")
	log.before(t, "ready web-demo-0", "add web-demo-1")

	t.Run("identity", func(t *testing.T) {
		k := k
		k.t = t
		pod, err := client.CoreV1().Pods("demo").Get(context.Background(), "web-demo-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.Hostname != "web-demo-1" || pod.Spec.Subdomain != "nginx-demo" {
			t.Errorf("hostname %q subdomain %q, want web-demo-1 and nginx-demo", pod.Spec.Hostname, pod.Spec.Subdomain)
		}
		for k, v := range map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-demo-1", "apps.kubernetes.io/pod-index": "1"} {
			if pod.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
			}
		}
		if !strings.HasPrefix(pod.Labels["controller-revision-hash"], "web-demo-") {
			t.Errorf("controller-revision-hash = %q, want the revision's name", pod.Labels["controller-revision-hash"])
		}
		claim := ""
		for _, v := range pod.Spec.Volumes {
			if v.Name == "www" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != "www-web-demo-1" {
			t.Errorf("volume www claims %q, want www-web-demo-1", claim)
		}
		pvc := k.must("get", "pvc", "www-web-demo-0", "-n", "demo", "-o", "jsonpath={.metadata.labels.app}")
		if pvc != "nginx" {
			t.Errorf("claim www-web-demo-0 label app = %q, want nginx (the selector's)", pvc)
		}
		events := k.must("get", "events", "-n", "demo", "--field-selector", "involvedObject.kind=StatefulSet")
		matches(t, "events", events,
			`Normal\s+SuccessfulCreate\s+statefulset/web-demo\s+create Claim www-web-demo-0 Pod web-demo-0 in StatefulSet web-demo success`,
			`Normal\s+SuccessfulCreate\s+statefulset/web-demo\s+create Pod web-demo-0 in StatefulSet web-demo successful`)
	})

	t.Run("scale", func(t *testing.T) {
		k := k
		k.t = t
		contains(t, "scale up", k.must("scale", "sts", "web-demo", "-n", "demo", "--replicas=5"), "statefulset.apps/web-demo scaled")
		k.eventually(30*time.Second, `(?m)^web-demo\s+5/5\s+`, "get", "sts", "-n", "demo")
		log.before(t, "ready web-demo-1", "add web-demo-2")
		log.before(t, "ready web-demo-2", "add web-demo-3")
		log.before(t, "ready web-demo-3", "add web-demo-4")
		out := k.must("get", "pvc", "-n", "demo")
		for i := range 5 {
			matches(t, "get pvc", out, fmt.Sprintf(`(?m)^www-web-demo-%d\s+(Pending|Bound)\s+`, i))
		}

		k.must("scale", "sts", "web-demo", "-n", "demo", "--replicas=3")
		k.eventually(30*time.Second, `(?m)^web-demo\s+3/3\s+`, "get", "sts", "-n", "demo")
		k.eventually(10*time.Second, `^web-demo-0 web-demo-1 web-demo-2$`, "get", "pods", "-n", "demo", "-o", "jsonpath={.items[*].metadata.name}")
		log.before(t, "delete web-demo-4", "terminating web-demo-3")
		out = k.must("get", "pvc", "-n", "demo", "-o", "name")
		for i := range 5 {
			contains(t, "claims kept on scale-down", out, fmt.Sprintf("persistentvolumeclaim/www-web-demo-%d", i))
		}
	})

	t.Run("rolling update with partition", func(t *testing.T) {
		k := k
		k.t = t
		k.must("patch", "sts", "web-demo", "-n", "demo", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}`)
		k.must("set", "image", "sts/web-demo", "-n", "demo", "nginx=nginx:1.20")
		status := k.must("rollout", "status", "sts/web-demo", "-n", "demo", "--timeout=30s")
		contains(t, "rollout status partitioned", status, "partitioned roll out complete: 1 new pods have been updated...")
		images := `{range .items[*]}{.metadata.name}={.spec.containers[0].image} {end}`
		k.eventually(10*time.Second, `^web-demo-0=nginx:1.19 web-demo-1=nginx:1.19 web-demo-2=nginx:1.20 $`, "get", "pods", "-n", "demo", "-o", "jsonpath="+images)

		k.must("patch", "sts", "web-demo", "-n", "demo", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
		status = k.must("rollout", "status", "sts/web-demo", "-n", "demo", "--timeout=60s")
		// The API server defaults partition to 0, so kubectl words it as a partitioned roll out.
		contains(t, "rollout status", status, "partitioned roll out complete: 3 new pods have been updated...")
		k.eventually(10*time.Second, `^web-demo-0=nginx:1.20 web-demo-1=nginx:1.20 web-demo-2=nginx:1.20 $`, "get", "pods", "-n", "demo", "-o", "jsonpath="+images)
		log.before(t, "ready web-demo-1", "terminating web-demo-0") // one at a time, highest first

		hist := k.must("rollout", "history", "sts/web-demo", "-n", "demo")
		matches(t, "rollout history", hist, `(?m)^REVISION\s+CHANGE-CAUSE$`, `(?m)^1\s+<none>$`, `(?m)^2\s+<none>$`)
		contains(t, "rollout undo", k.must("rollout", "undo", "sts/web-demo", "-n", "demo"), "statefulset.apps/web-demo rolled back")
		k.must("rollout", "status", "sts/web-demo", "-n", "demo", "--timeout=60s")
		k.eventually(10*time.Second, `^web-demo-0=nginx:1.19 web-demo-1=nginx:1.19 web-demo-2=nginx:1.19 $`, "get", "pods", "-n", "demo", "-o", "jsonpath="+images)
		matches(t, "history after undo", k.must("rollout", "history", "sts/web-demo", "-n", "demo"), `(?m)^2\s+<none>$`, `(?m)^3\s+<none>$`)
		revs := k.must("get", "controllerrevisions", "-n", "demo")
		matches(t, "controllerrevisions", revs, `(?m)^web-demo-\w+\s+statefulset.apps/web-demo\s+3\s+`)
	})

	t.Run("claim retention", func(t *testing.T) {
		k := k
		k.t = t
		k.must("apply", "-f", writeManifest(t, "scratch", `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: scratch
  namespace: demo
spec:
  serviceName: scratch
  replicas: 2
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
  selector:
    matchLabels: {app: scratch}
  template:
    metadata:
      labels: {app: scratch}
    spec:
      containers:
      - name: c
        image: busybox:1.36
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`))
		k.eventually(30*time.Second, `(?m)^scratch\s+2/2\s+`, "get", "sts", "scratch", "-n", "demo")
		k.must("scale", "sts", "scratch", "-n", "demo", "--replicas=1")
		k.eventually(30*time.Second, `^persistentvolumeclaim/data-scratch-0\n$`, "get", "pvc", "-n", "demo", "-l", "app=scratch", "-o", "name")
		k.must("delete", "sts", "scratch", "-n", "demo")
		k.eventually(30*time.Second, `^$`, "get", "pvc", "-n", "demo", "-l", "app=scratch", "-o", "name")

		// The tutorial's set retains its claims when it goes.
		k.must("delete", "sts", "web-demo", "-n", "demo")
		k.eventually(30*time.Second, `^$`, "get", "pods", "-n", "demo", "-l", "app=nginx", "-o", "name")
		out := k.must("get", "pvc", "-n", "demo", "-l", "app=nginx", "-o", "name")
		for i := range 5 {
			contains(t, "claims kept after set deletion", out, fmt.Sprintf("persistentvolumeclaim/www-web-demo-%d", i))
		}
	})

	t.Run("at most one", func(t *testing.T) {
		k := k
		k.t = t
		// A set whose pod leaves an unreachable node after 1s instead of the default.
		k.must("apply", "-f", writeManifest(t, "lost", `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: lost
  namespace: demo
spec:
  serviceName: lost
  replicas: 1
  selector:
    matchLabels: {app: lost}
  template:
    metadata:
      labels: {app: lost}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      containers:
      - name: c
        image: busybox:1.36
`))
		k.eventually(30*time.Second, `(?m)^lost\s+1/1\s+`, "get", "sts", "lost", "-n", "demo")
		pod, err := client.CoreV1().Pods("demo").Get(context.Background(), "lost-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kubelet.Stop(pod.Spec.NodeName)
		defer kubelet.Start(pod.Spec.NodeName)
		// Evicted after the node's grace period and the toleration, it stays
		// Terminating: nobody confirms its end.
		k.eventually(40*time.Second, `^\S+$`, "get", "pod", "lost-0", "-n", "demo", "-o", "jsonpath={.metadata.deletionTimestamp}")
		// kubectl shows a pod evicted from an unreachable node as Unknown.
		matches(t, "get evicted pod", k.must("get", "pod", "lost-0", "-n", "demo"), `(?m)^lost-0\s+1/1\s+Unknown\s+`)
		// A spec change the controller reports back once it has synced the set again,
		// after the pod was marked for deletion: any replacement would be made by then.
		k.must("patch", "sts", "lost", "-n", "demo", "--type=merge", "-p", `{"spec":{"minReadySeconds":1}}`)
		gen := k.must("get", "sts", "lost", "-n", "demo", "-o", "jsonpath={.metadata.generation}")
		k.eventually(20*time.Second, "^"+gen+"$", "get", "sts", "lost", "-n", "demo", "-o", "jsonpath={.status.observedGeneration}")
		uid := k.must("get", "pod", "lost-0", "-n", "demo", "-o", "jsonpath={.metadata.uid}")
		if uid != string(pod.UID) {
			t.Fatalf("lost-0 was replaced (uid %s, was %s) while its predecessor was still terminating", uid, pod.UID)
		}
		k.must("delete", "pod", "lost-0", "-n", "demo", "--force", "--grace-period=0")
		out := k.eventually(30*time.Second, `^[0-9a-f-]+ Running$`, "get", "pod", "lost-0", "-n", "demo", "-o", "jsonpath={.metadata.uid} {.status.phase}")
		if strings.HasPrefix(out, string(pod.UID)) {
			t.Errorf("lost-0 was not recreated: %s", out)
		}
		if n := regexp.MustCompile(`(?m)^add lost-0$`).FindAllStringIndex(log.String(), -1); len(n) != 2 {
			t.Errorf("lost-0 added %d times, want 2; pod log:\n%s", len(n), log)
		}
	})
}
