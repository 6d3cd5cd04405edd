package replicaset

import (
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
)

// deletionCostAnnotation lets users say which pods to remove first on scale-down.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// rankedPod is a pod with the number of its controller's pods on the same node.
type rankedPod struct {
	pod  *corev1.Pod
	rank int
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// less says whether a should be deleted before b, in Kubernetes' order: unscheduled
// before scheduled; Pending, Unknown, then Running; not ready before ready; lower
// deletion cost first; pods on crowded nodes first; ready for less time first (ages
// compared in powers of two, so that pods of about the same age go in random-ish
// order); more container restarts first; newer first.
func less(a, b rankedPod, now time.Time) bool {
	p, q := a.pod, b.pod
	if p.Spec.NodeName != q.Spec.NodeName && (p.Spec.NodeName == "" || q.Spec.NodeName == "") {
		return p.Spec.NodeName == ""
	}
	if phaseOrder[p.Status.Phase] != phaseOrder[q.Status.Phase] {
		return phaseOrder[p.Status.Phase] < phaseOrder[q.Status.Phase]
	}
	if podutils.IsPodReady(p) != podutils.IsPodReady(q) {
		return !podutils.IsPodReady(p)
	}
	if cp, cq := deletionCost(p), deletionCost(q); cp != cq {
		return cp < cq
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if podutils.IsPodReady(p) && podutils.IsPodReady(q) {
		tp, tq := podcontrol.ReadySince(p), podcontrol.ReadySince(q)
		if !tp.Equal(tq) {
			if tp.IsZero() || tq.IsZero() {
				return tp.IsZero()
			}
			if d := ageBucket(tp, now) - ageBucket(tq, now); d != 0 {
				return d < 0
			}
			return p.UID < q.UID
		}
	}
	if rp, rq := restarts(p), restarts(q); rp != rq {
		return rp > rq
	}
	tp, tq := p.CreationTimestamp.Time, q.CreationTimestamp.Time
	if !tp.Equal(tq) {
		if tp.IsZero() || tq.IsZero() {
			return tp.IsZero()
		}
		if d := ageBucket(tp, now) - ageBucket(tq, now); d != 0 {
			return d < 0
		}
		return p.UID < q.UID
	}
	return false
}

// ageBucket is log2 of how long ago t was, in nanoseconds; -1 for the future.
func ageBucket(t, now time.Time) int64 {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[deletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}
