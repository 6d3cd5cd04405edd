package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

const maxScore = 100

// scorer gives each feasible node a raw score; higher is better. Raw scores are
// normalized to 0..maxScore over the nodes, then weighted.
type scorer struct {
	weight int
	score  func(pod *corev1.Pod, n *nodeInfo, all *snapshot) int
}

// scorers and their weights, as kube-scheduler's default profile weighs them:
// placement preferences the user wrote count twice what balancing resources does.
var scorers = []scorer{
	{1, leastAllocated},
	{2, ownerSpread},
	{2, preferredNodeAffinity},
	{2, preferredPodAffinity},
	{2, softTopologySpread},
}

// best returns the highest-scoring node; ties go to the node with fewer pods, then to
// the first by name, so placement is predictable in a lesson.
func best(pod *corev1.Pod, nodes []*nodeInfo, all *snapshot) *nodeInfo {
	total := make([]int, len(nodes))
	raw := make([]int, len(nodes))
	for _, sc := range scorers {
		lo, hi := 0, 0
		for i, n := range nodes {
			raw[i] = sc.score(pod, n, all)
			if i == 0 || raw[i] < lo {
				lo = raw[i]
			}
			if i == 0 || raw[i] > hi {
				hi = raw[i]
			}
		}
		for i := range nodes {
			norm := maxScore
			if hi > lo {
				norm = (raw[i] - lo) * maxScore / (hi - lo)
			}
			total[i] += sc.weight * norm
		}
	}
	top := 0
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i], nodes[top]
		if total[i] > total[top] ||
			(total[i] == total[top] && (len(a.pods) < len(b.pods) || (len(a.pods) == len(b.pods) && a.node.Name < b.node.Name))) {
			top = i
		}
	}
	return nodes[top]
}

// leastAllocated favours nodes with more cpu and memory left after placing the pod.
func leastAllocated(pod *corev1.Pod, n *nodeInfo, all *snapshot) int {
	want := all.requests(pod)
	used := n.used()
	total, count := 0, 0
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		alloc, ok := n.node.Status.Allocatable[name]
		if !ok || alloc.IsZero() {
			continue
		}
		need := used[name].DeepCopy()
		need.Add(want[name])
		free := max(alloc.MilliValue()-need.MilliValue(), 0)
		total += int(free * maxScore / alloc.MilliValue())
		count++
	}
	if count == 0 {
		return 0
	}
	return total / count
}

// ownerSpread favours nodes running fewer pods of the pod's controller, so replicas
// land on different nodes (kube-scheduler's default topology spreading).
func ownerSpread(pod *corev1.Pod, n *nodeInfo, _ *snapshot) int {
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return 0
	}
	count := 0
	for _, p := range n.pods {
		if o := metav1.GetControllerOfNoCopy(p); o != nil && o.UID == owner.UID {
			count++
		}
	}
	return -count
}

// preferredNodeAffinity sums the weights of the preferred node affinity terms the
// node matches.
func preferredNodeAffinity(pod *corev1.Pod, n *nodeInfo, _ *snapshot) int {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0
	}
	terms := a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(terms) == 0 {
		return 0
	}
	pref, err := nodeaffinity.NewPreferredSchedulingTerms(terms)
	if err != nil {
		return 0
	}
	return int(pref.Score(n.node))
}

// preferredPodAffinity adds each preferred affinity term's weight per selected pod in
// the node's domain, and subtracts it for anti-affinity terms.
func preferredPodAffinity(pod *corev1.Pod, n *nodeInfo, all *snapshot) int {
	a := pod.Spec.Affinity
	if a == nil {
		return 0
	}
	score := 0
	if a.PodAffinity != nil {
		for _, t := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			score += int(t.Weight) * countInDomain(t.PodAffinityTerm, pod, n, all)
		}
	}
	if a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			score -= int(t.Weight) * countInDomain(t.PodAffinityTerm, pod, n, all)
		}
	}
	return score
}

// softTopologySpread favours the domains with fewer selected pods, for the pod's
// ScheduleAnyway spread constraints.
func softTopologySpread(pod *corev1.Pod, n *nodeInfo, all *snapshot) int {
	score := 0
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway {
			continue
		}
		v, ok := n.node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		score -= spreadSkew(pod, c, v, all)
	}
	return score
}
