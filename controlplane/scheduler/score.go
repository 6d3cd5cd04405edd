package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Weights of the scores, as kube-scheduler's default profile weighs them: spreading
// pods of one owner counts twice as much as balancing free resources.
const (
	weightLeastAllocated = 1
	weightSpread         = 2
	maxScore             = 100
)

// best returns the highest-scoring node; ties go to the node with fewer pods, then to
// the first by name, so placement is predictable in a lesson.
func best(pod *corev1.Pod, nodes []*nodeInfo) *nodeInfo {
	spread := spreadScores(pod, nodes)
	var top *nodeInfo
	topScore := -1
	for i, n := range nodes {
		score := weightLeastAllocated*leastAllocated(pod, n) + weightSpread*spread[i]
		if top == nil || score > topScore ||
			(score == topScore && (len(n.pods) < len(top.pods) || (len(n.pods) == len(top.pods) && n.node.Name < top.node.Name))) {
			top, topScore = n, score
		}
	}
	return top
}

// leastAllocated favours nodes with more cpu and memory left after placing the pod.
func leastAllocated(pod *corev1.Pod, n *nodeInfo) int {
	want := requests(pod)
	used := n.used()
	total, count := 0, 0
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		alloc, ok := n.node.Status.Allocatable[name]
		if !ok || alloc.IsZero() {
			continue
		}
		need := used[name].DeepCopy()
		need.Add(want[name])
		free := alloc.MilliValue() - need.MilliValue()
		if free < 0 {
			free = 0
		}
		total += int(free * maxScore / alloc.MilliValue())
		count++
	}
	if count == 0 {
		return 0
	}
	return total / count
}

// spreadScores favours nodes running fewer pods of the pod's owner (its controller),
// so replicas land on different nodes.
func spreadScores(pod *corev1.Pod, nodes []*nodeInfo) []int {
	scores := make([]int, len(nodes))
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		for i := range scores {
			scores[i] = maxScore
		}
		return scores
	}
	counts := make([]int, len(nodes))
	most := 0
	for i, n := range nodes {
		for _, p := range n.pods {
			if o := metav1.GetControllerOf(p); o != nil && o.UID == owner.UID {
				counts[i]++
			}
		}
		most = max(most, counts[i])
	}
	for i := range nodes {
		if most == 0 {
			scores[i] = maxScore
			continue
		}
		scores[i] = maxScore * (most - counts[i]) / most
	}
	return scores
}
