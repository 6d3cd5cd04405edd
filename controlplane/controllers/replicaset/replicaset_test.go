package replicaset

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readyFor(d time.Duration, now time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{deletionCostAnnotation: c} }
}
func age(d time.Duration, now time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}}
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestPodsToDelete(t *testing.T) {
	now := time.Unix(100000, 0)
	for _, tt := range []struct {
		name string
		pods []*corev1.Pod
		n    int
		want []string
	}{
		{"unscheduled first", []*corev1.Pod{pod("a", onNode("w1"), readyFor(time.Hour, now)), pod("b", phase(corev1.PodPending))}, 1, []string{"b"}},
		{"pending before running", []*corev1.Pod{pod("a", onNode("w1")), pod("b", onNode("w1"), phase(corev1.PodPending))}, 1, []string{"b"}},
		{"not ready before ready", []*corev1.Pod{pod("a", onNode("w1"), readyFor(time.Hour, now)), pod("b", onNode("w2"))}, 1, []string{"b"}},
		{"lower deletion cost first", []*corev1.Pod{pod("a", onNode("w1"), cost("10")), pod("b", onNode("w2"), cost("-5"))}, 1, []string{"b"}},
		{"crowded node first", []*corev1.Pod{pod("a", onNode("w1")), pod("b", onNode("w2")), pod("c", onNode("w2"))}, 1, []string{"b"}},
		{"ready for less time first", []*corev1.Pod{pod("old", onNode("w1"), readyFor(time.Hour, now)), pod("new", onNode("w2"), readyFor(time.Minute, now))}, 1, []string{"new"}},
		{"newer first", []*corev1.Pod{pod("old", onNode("w1"), age(time.Hour, now)), pod("new", onNode("w2"), age(time.Minute, now))}, 1, []string{"new"}},
		{"all", []*corev1.Pod{pod("a"), pod("b")}, 3, []string{"a", "b"}},
	} {
		got := names(podsToDelete(tt.pods, tt.pods, tt.n, now))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: deleted %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCalculateStatus(t *testing.T) {
	now := time.Unix(100000, 0)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Generation: 4}, Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](3), MinReadySeconds: 10,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}},
	}}
	labeled := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web", "tier": "front"} }
	pods := []*corev1.Pod{
		pod("a", labeled, readyFor(time.Minute, now)),
		pod("b", labeled, readyFor(5*time.Second, now)),
		pod("c"),
	}
	s := calculateStatus(rs, pods, nil, now)
	if s.Replicas != 3 || s.FullyLabeledReplicas != 2 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1 || s.ObservedGeneration != 4 {
		t.Errorf("status = %+v", s)
	}
	rs.Status = calculateStatus(rs, pods[:1], errors.New("quota exceeded"), now)
	if c := condition(rs.Status.Conditions, appsv1.ReplicaSetReplicaFailure); c == nil || c.Reason != "FailedCreate" || c.Message != "quota exceeded" {
		t.Errorf("ReplicaFailure after a failed create = %+v", c)
	}
	rs.Status = calculateStatus(rs, pods, nil, now)
	if len(rs.Status.Conditions) != 0 {
		t.Errorf("ReplicaFailure not cleared: %+v", rs.Status.Conditions)
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	ok, err := slowStartBatch(10, func() error { calls.Add(1); return nil })
	if ok != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("all succeed: %d ok, %d calls, %v", ok, calls.Load(), err)
	}
	calls.Store(0)
	ok, err = slowStartBatch(10, func() error {
		if calls.Add(1) > 2 {
			return errors.New("forbidden")
		}
		return nil
	})
	// Batches of 1 and 2: the second batch has one failure, nothing more is tried.
	if ok != 2 || err == nil || calls.Load() != 3 {
		t.Errorf("failing: %d ok, %d calls, %v", ok, calls.Load(), err)
	}
}

func TestRCView(t *testing.T) {
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1"},
		Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](2), Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}}},
	}
	rs := rcView(rc)
	if rs.Name != "web" || rs.UID != "u1" || *rs.Spec.Replicas != 2 || rs.Spec.Selector.MatchLabels["app"] != "web" || rs.Spec.Template.Labels["app"] != "web" {
		t.Errorf("view = %+v", rs)
	}
	st := rcStatus(appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1, Conditions: []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Reason: "FailedCreate"}}})
	if st.Replicas != 2 || st.ReadyReplicas != 1 || st.Conditions[0].Type != corev1.ReplicationControllerReplicaFailure {
		t.Errorf("RC status = %+v", st)
	}
}
