package controlplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const agentDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox:1.36
        command: ["sleep", "3600"]
`

const webStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector: {kubernetes.io/hostname: w1}
      containers:
      - name: web
        image: busybox:1.36
`

// TestDaemonSet: one pod per worker, a node that joins gets one, a rolling update
// and its undo complete under kubectl rollout status, and kubectl drain
// --ignore-daemonsets evicts a node's other pods but leaves the DaemonSet's.
func TestDaemonSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	kubelet := startFakeKubelet(t, client, "w1", "w2")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	k.eventually(20*time.Second, `(?m)^default\s+Active`, "get", "ns")

	contains(t, "apply", k.must("apply", "-f", writeManifest(t, "agent", agentDaemonSet)), "daemonset.apps/agent created")
	out := k.eventually(30*time.Second, `(?m)^agent\s+2\s+2\s+2\s+2\s+2\s+<none>\s+\d+s$`, "get", "ds")
	matches(t, "get ds", out, `(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE$`)
	nodes := k.must("get", "pods", "-l", "app=agent", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {end}")
	if !strings.Contains(nodes, "w1") || !strings.Contains(nodes, "w2") {
		t.Errorf("agent pods on %q, want one on w1 and one on w2", nodes)
	}

	t.Run("pod pinned and tolerant", func(t *testing.T) {
		pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=agent"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("list agent pods: %v", err)
		}
		p := pods.Items[0]
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" ||
			terms[0].MatchFields[0].Values[0] != p.Spec.NodeName {
			t.Errorf("pod %s on %s has affinity %+v, want matchFields metadata.name In [%s]", p.Name, p.Spec.NodeName, terms, p.Spec.NodeName)
		}
		tolerated := map[string]bool{}
		for _, tol := range p.Spec.Tolerations {
			if tol.Operator == corev1.TolerationOpExists && tol.TolerationSeconds == nil {
				tolerated[tol.Key+":"+string(tol.Effect)] = true
			}
		}
		for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
			"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
			"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"} {
			if !tolerated[want] {
				t.Errorf("pod %s lacks the DaemonSet toleration %s: %+v", p.Name, want, p.Spec.Tolerations)
			}
		}
		if p.Labels["controller-revision-hash"] == "" || p.Labels["pod-template-generation"] != "1" {
			t.Errorf("pod labels %v lack controller-revision-hash or pod-template-generation=1", p.Labels)
		}
	})

	t.Run("node added later", func(t *testing.T) {
		k := k
		k.t = t
		kubelet.AddNode("w3")
		k.eventually(30*time.Second, `(?m)^agent\s+3\s+3\s+3\s+3\s+3\s+`, "get", "ds")
	})

	t.Run("rolling update and undo", func(t *testing.T) {
		k := k
		k.t = t
		contains(t, "rollout status", k.must("rollout", "status", "ds/agent", "--timeout=30s"), `daemon set "agent" successfully rolled out`)
		k.must("set", "image", "ds/agent", "agent=busybox:1.37")
		contains(t, "rollout status after set image", k.must("rollout", "status", "ds/agent", "--timeout=60s"), `daemon set "agent" successfully rolled out`)
		k.eventually(10*time.Second, `^(busybox:1.37 ){3}$`, "get", "pods", "-l", "app=agent", "-o", "jsonpath={range .items[*]}{.spec.containers[0].image} {end}")
		matches(t, "rollout history", k.must("rollout", "history", "ds/agent"), `(?m)^1\s+<none>$`, `(?m)^2\s+<none>$`)
		contains(t, "undo", k.must("rollout", "undo", "ds/agent"), "daemonset.apps/agent rolled back")
		k.must("rollout", "status", "ds/agent", "--timeout=60s")
		k.eventually(10*time.Second, `^(busybox:1.36 ){3}$`, "get", "pods", "-l", "app=agent", "-o", "jsonpath={range .items[*]}{.spec.containers[0].image} {end}")
		matches(t, "history after undo", k.must("rollout", "history", "ds/agent"), `(?m)^2\s+<none>$`, `(?m)^3\s+<none>$`)
	})

	t.Run("drain and uncordon", func(t *testing.T) {
		k := k
		k.t = t
		k.must("apply", "-f", writeManifest(t, "web", webStatefulSet))
		k.eventually(30*time.Second, `(?m)^web\s+1/1\s+`, "get", "sts", "web")
		agentOnW1 := k.must("get", "pods", "-l", "app=agent", "--field-selector", "spec.nodeName=w1", "-o", "name")

		out, warnings, err := k.run("drain", "w1", "--ignore-daemonsets", "--timeout=60s")
		if err != nil {
			t.Fatalf("kubectl drain: %v\n%s\n%s", err, out, warnings)
		}
		contains(t, "drain", out, "node/w1 cordoned", "evicting pod default/web-0", "pod/web-0 evicted", "node/w1 drained")
		contains(t, "drain warnings", warnings, "Warning: ignoring DaemonSet-managed Pods: default/agent-")
		matches(t, "get nodes", k.must("get", "nodes"), `(?m)^w1\s+Ready,SchedulingDisabled\s+`)
		if got := k.must("get", "pods", "-l", "app=agent", "--field-selector", "spec.nodeName=w1", "-o", "name"); got != agentOnW1 {
			t.Errorf("DaemonSet pod on w1 changed across drain: %q, was %q", got, agentOnW1)
		}
		// web-0 comes back but can only run on w1, which is cordoned.
		k.eventually(30*time.Second, `(?m)^web-0\s+0/1\s+Pending\s+`, "get", "pod", "web-0")
		matches(t, "ds after drain", k.must("get", "ds"), `(?m)^agent\s+3\s+3\s+3\s+3\s+3\s+`)

		contains(t, "uncordon", k.must("uncordon", "w1"), "node/w1 uncordoned")
		k.eventually(30*time.Second, `(?m)^web-0\s+1/1\s+Running\s+`, "get", "pod", "web-0")
		contains(t, "cordon", k.must("cordon", "w2"), "node/w2 cordoned")
		matches(t, "get nodes", k.must("get", "nodes"), `(?m)^w2\s+Ready,SchedulingDisabled\s+`)
		matches(t, "ds after cordon", k.must("get", "ds"), `(?m)^agent\s+3\s+3\s+3\s+3\s+3\s+`)
	})
}
