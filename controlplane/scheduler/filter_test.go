package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func node(name string, cpu string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	n.Status.Allocatable = corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110"),
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func controlPlane(n *corev1.Node) {
	n.Labels["node-role.kubernetes.io/control-plane"] = ""
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule})
}

func pod(name string, cpu string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID(name)}}
	c := corev1.Container{Name: "c", Image: "busybox"}
	if cpu != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	p.Spec.Containers = []corev1.Container{c}
	for _, m := range mods {
		m(p)
	}
	return p
}

func infos(nodes []*corev1.Node, placed map[string][]*corev1.Pod) []*nodeInfo {
	var out []*nodeInfo
	for _, n := range nodes {
		out = append(out, &nodeInfo{node: n, pods: placed[n.Name]})
	}
	return out
}

func TestFilterReasons(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		node   *corev1.Node
		placed []*corev1.Pod
		want   string
	}{
		{"fits", pod("p", "100m"), node("w1", "2"), nil, ""},
		{"control-plane taint", pod("p", ""), node("cp", "2", controlPlane), nil, "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
		{"tolerated taint", pod("p", "", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
		}), node("cp", "2", controlPlane), nil, ""},
		{"cordoned", pod("p", ""), node("w1", "2", func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil, reasonUnschedulable},
		{"node selector", pod("p", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), node("w1", "2"), nil, reasonAffinity},
		{"node selector matches", pod("p", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			node("w1", "2", func(n *corev1.Node) { n.Labels["disk"] = "ssd" }), nil, ""},
		{"matchFields names another node", pod("p", "", onNode("w2")), node("w1", "2"), nil, reasonAffinity},
		{"matchFields names this node", pod("p", "", onNode("w1")), node("w1", "2"), nil, ""},
		{"insufficient cpu", pod("p", "1500m"), node("w1", "2"), []*corev1.Pod{pod("q", "1")}, "Insufficient cpu"},
		{"too many pods", pod("p", ""), node("w1", "2", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1") }),
			[]*corev1.Pod{pod("q", "")}, reasonTooManyPods},
		{"host port taken", pod("p", "", withHostPort(8080)), node("w1", "2"), []*corev1.Pod{pod("q", "", withHostPort(8080))}, reasonPorts},
		{"other host port", pod("p", "", withHostPort(8080)), node("w1", "2"), []*corev1.Pod{pod("q", "", withHostPort(9090))}, ""},
		{"unreachable node", pod("p", "", func(p *corev1.Pod) {
			s := int64(300)
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s}}
		}), node("w1", "2", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
		}), nil, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := &nodeInfo{node: tc.node, pods: tc.placed}
			got := filter(tc.pod, n, &snapshot{nodes: []*nodeInfo{n}})
			if got != tc.want {
				t.Errorf("filter = %q, want %q", got, tc.want)
			}
		})
	}
}

func withHostPort(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: port, HostPort: port}}
	}
}

func TestFailedSchedulingMessage(t *testing.T) {
	nodes := []*corev1.Node{node("cp1", "2", controlPlane), node("cp2", "2", controlPlane), node("cp3", "2", controlPlane),
		node("w1", "1"), node("w2", "1"), node("w3", "1")}
	sched, d := decide(pod("big", "1500m"), infos(nodes, nil))
	if sched != "" {
		t.Fatalf("placed on %s", sched)
	}
	want := "0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. " +
		"preemption: 0/6 nodes are available: 3 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling."
	if got := d.message(); got != want {
		t.Errorf("message:\n got %q\nwant %q", got, want)
	}
	if got := (diagnosis{}).message(); got != "no nodes available to schedule pods" {
		t.Errorf("no nodes: %q", got)
	}
}

func TestSpreadsReplicasOfOneOwner(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-1", Controller: ptr(true)}
	replica := func(name string) *corev1.Pod {
		return pod(name, "100m", func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{owner} })
	}
	nodes := []*corev1.Node{node("w1", "2"), node("w2", "2"), node("w3", "2")}
	placed := map[string][]*corev1.Pod{}
	count := map[string]int{}
	for i := range 6 {
		p := replica("web-" + string(rune('a'+i)))
		chosen, _ := decide(p, infos(nodes, placed))
		placed[chosen] = append(placed[chosen], p)
		count[chosen]++
	}
	for _, n := range nodes {
		if count[n.Name] != 2 {
			t.Errorf("6 replicas over 3 nodes: %v, want 2 each", count)
			break
		}
	}
}

func TestLeastAllocatedPrefersTheEmptierNode(t *testing.T) {
	nodes := []*corev1.Node{node("busy", "2"), node("idle", "2")}
	placed := map[string][]*corev1.Pod{"busy": {pod("x", "1500m")}}
	if got, _ := decide(pod("p", "100m"), infos(nodes, placed)); got != "idle" {
		t.Errorf("placed on %s, want idle", got)
	}
}

func ptr[T any](v T) *T { return &v }

// onNode pins a pod to a node by name as the DaemonSet controller does.
func onNode(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{name}}}}}}}}
	}
}
