package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func labelled(l map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Labels = l }
}

func antiAffinity(key string, sel map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
			}},
		}}
	}
}

func affinity(key string, sel map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
			}},
		}}
	}
}

func zone(z string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels["topology.kubernetes.io/zone"] = z }
}

// schedule places pods one after another, as the scheduler would, and returns where
// each went ("" when it fit nowhere) and the last diagnosis.
func schedule(nodes []*corev1.Node, pods ...*corev1.Pod) ([]string, diagnosis) {
	placed := map[string][]*corev1.Pod{}
	var out []string
	var d diagnosis
	for _, p := range pods {
		var chosen string
		chosen, d = decide(p, infos(nodes, placed))
		if chosen != "" {
			placed[chosen] = append(placed[chosen], p)
		}
		out = append(out, chosen)
	}
	return out, d
}

func TestRequiredAntiAffinityOnePerNode(t *testing.T) {
	web := map[string]string{"app": "web"}
	nodes := []*corev1.Node{node("w1", "2"), node("w2", "2")}
	got, d := schedule(nodes,
		pod("a", "", labelled(web), antiAffinity("kubernetes.io/hostname", web)),
		pod("b", "", labelled(web), antiAffinity("kubernetes.io/hostname", web)),
		pod("c", "", labelled(web), antiAffinity("kubernetes.io/hostname", web)))
	if got[0] == got[1] || got[0] == "" || got[1] == "" || got[2] != "" {
		t.Fatalf("placements %v: want two different nodes, then none", got)
	}
	if d.reasons[reasonPodAntiAffinity] != 2 {
		t.Errorf("reasons %v", d.reasons)
	}
}

func TestExistingPodsAntiAffinity(t *testing.T) {
	nodes := []*corev1.Node{node("w1", "2"), node("w2", "2")}
	got, _ := schedule(nodes,
		pod("loner", "", labelled(map[string]string{"app": "loner"}), antiAffinity("kubernetes.io/hostname", map[string]string{"app": "noisy"})),
		pod("noisy", "", labelled(map[string]string{"app": "noisy"})))
	if got[0] == "" || got[1] == "" || got[0] == got[1] {
		t.Errorf("placements %v: the noisy pod must avoid the loner's node", got)
	}
}

func TestRequiredAffinityFollowsItsPartner(t *testing.T) {
	db := map[string]string{"app": "db"}
	nodes := []*corev1.Node{node("w1", "2"), node("w2", "2"), node("w3", "2")}
	got, _ := schedule(nodes,
		pod("filler", "1"),
		pod("db", "", labelled(db)),
		pod("app", "", affinity("kubernetes.io/hostname", db)))
	if got[2] != got[1] {
		t.Errorf("placements %v: app must join db", got)
	}
	// The first pod of a group that selects itself may start anywhere.
	first, _ := schedule(nodes, pod("first", "", labelled(db), affinity("kubernetes.io/hostname", db)))
	if first[0] == "" {
		t.Error("the first self-selecting pod found no node")
	}
	// A pod whose partner does not exist fits nowhere.
	none, d := schedule(nodes, pod("orphan", "", affinity("kubernetes.io/hostname", db)))
	if none[0] != "" || d.reasons[reasonPodAffinity] != 3 {
		t.Errorf("orphan: %v %v", none, d.reasons)
	}
}

func TestTopologySpreadDoNotSchedule(t *testing.T) {
	web := map[string]string{"app": "web"}
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: web},
		}}
	}
	nodes := []*corev1.Node{node("a1", "4", zone("a")), node("a2", "4", zone("a")), node("b1", "1", zone("b"))}
	var pods []*corev1.Pod
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		pods = append(pods, pod(name, "", labelled(web), spread))
	}
	got, _ := schedule(nodes, pods...)
	zones := map[string]int{}
	for _, n := range got {
		if n == "" {
			t.Fatalf("placements %v", got)
		}
		zones[n[:1]]++
	}
	if zones["a"] != 2 || zones["b"] != 2 {
		t.Errorf("zones %v (placements %v), want 2 and 2", zones, got)
	}
	unlabelled := []*corev1.Node{node("x", "2")}
	_, d := schedule(unlabelled, pod("p", "", labelled(web), spread))
	if d.reasons[reasonSpreadLabel] != 1 {
		t.Errorf("a node without the topology label: %v", d.reasons)
	}
}

func TestPreferredNodeAffinity(t *testing.T) {
	nodes := []*corev1.Node{node("plain", "2"), node("fast", "2", func(n *corev1.Node) { n.Labels["disk"] = "ssd" })}
	prefers := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}},
			}},
		}}
	}
	got, _ := schedule(nodes, pod("p", "", prefers))
	if got[0] != "fast" {
		t.Errorf("placed on %s, want fast", got[0])
	}
}
