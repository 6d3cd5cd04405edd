package disruption

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestStatus(t *testing.T) {
	now := time.Unix(10000, 0)
	three := int32(3)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", UID: "rs"}, Spec: appsv1.ReplicaSetSpec{Replicas: &three}}
	pod := func(name string, ready bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}}}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		return p
	}
	intOrStr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	tests := []struct {
		name                                string
		spec                                policyv1.PodDisruptionBudgetSpec
		pods                                []*corev1.Pod
		disrupted                           map[string]metav1.Time
		allowed, healthy, desired, expected int32
		recheck                             bool
	}{
		{name: "minAvailable 2 of 3 ready", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, allowed: 1, healthy: 3, desired: 2, expected: 3},
		{name: "one not ready leaves no room", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", false)}, allowed: 0, healthy: 2, desired: 2, expected: 3},
		{name: "maxUnavailable 1 counts the controller's scale", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: intOrStr(intstr.FromInt32(1))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true)}, allowed: 0, healthy: 2, desired: 2, expected: 3},
		{name: "minAvailable 50% rounds up", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromString("50%"))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, allowed: 1, healthy: 3, desired: 2, expected: 3},
		{name: "a pod just evicted is not healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, disrupted: map[string]metav1.Time{"a": metav1.NewTime(now.Add(-time.Second))},
			allowed: 0, healthy: 2, desired: 2, expected: 3, recheck: true},
		{name: "an old eviction record expires", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(2))},
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, disrupted: map[string]metav1.Time{"a": metav1.NewTime(now.Add(-3 * time.Minute))},
			allowed: 1, healthy: 3, desired: 2, expected: 3},
		{name: "no pods, no disruptions", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: intOrStr(intstr.FromInt32(0))}},
	}
	client := fake.NewSimpleClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	c := newController(t, client, f)
	if err := f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 2}, Spec: tt.spec,
				Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: tt.disrupted}}
			st, recheck, err := c.status(pdb, tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.DisruptionsAllowed != tt.allowed || st.CurrentHealthy != tt.healthy || st.DesiredHealthy != tt.desired || st.ExpectedPods != tt.expected {
				t.Errorf("allowed/healthy/desired/expected = %d/%d/%d/%d, want %d/%d/%d/%d", st.DisruptionsAllowed, st.CurrentHealthy,
					st.DesiredHealthy, st.ExpectedPods, tt.allowed, tt.healthy, tt.desired, tt.expected)
			}
			if (recheck > 0) != tt.recheck {
				t.Errorf("recheck after %s, want one: %v", recheck, tt.recheck)
			}
			if st.ObservedGeneration != 2 || len(st.Conditions) != 1 || (st.Conditions[0].Status == metav1.ConditionTrue) != (tt.allowed > 0) {
				t.Errorf("observedGeneration %d, conditions %+v", st.ObservedGeneration, st.Conditions)
			}
		})
	}
}

// TestSelectors: as in policy/v1, an empty selector covers every pod of the
// namespace and a null one none; finished pods never count.
func TestSelectors(t *testing.T) {
	client := fake.NewSimpleClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	c := newController(t, client, f)
	pods := f.Core().V1().Pods().Informer().GetIndexer()
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"app": "web"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", Labels: map[string]string{"app": "db"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}},
	} {
		if err := pods.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name     string
		selector *metav1.LabelSelector
		want     int
	}{
		{"null", nil, 0},
		{"empty", &metav1.LabelSelector{}, 2},
		{"app=web", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, 1},
	} {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: tt.selector}}
		got, err := c.matchingPods(pdb)
		if err != nil || len(got) != tt.want {
			t.Errorf("%s selector: %d pods (err %v), want %d", tt.name, len(got), err, tt.want)
		}
	}
}

func newController(t *testing.T, client *fake.Clientset, f informers.SharedInformerFactory) *Controller {
	t.Helper()
	c, err := New(client, f.Policy().V1().PodDisruptionBudgets(), f.Core().V1().Pods(), f.Apps().V1().ReplicaSets(),
		f.Apps().V1().Deployments(), f.Apps().V1().StatefulSets(), f.Core().V1().ReplicationControllers(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
