package deployment

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/utils/ptr"
)

func rollingDeployment(replicas int32, surge, unavailable string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge: ptr.To(intstr.Parse(surge)), MaxUnavailable: ptr.To(intstr.Parse(unavailable)),
		}},
	}}
}

func replicaSet(name string, replicas int32, age time.Duration, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Annotations: annotations,
			CreationTimestamp: metav1.NewTime(time.Unix(10000, 0).Add(-age))},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tt := range []struct {
		replicas               int32
		surge, unavailable     string
		wantSurge, wantUnavail int32
	}{
		{3, "25%", "25%", 1, 0}, // surge rounds up, unavailable down
		{10, "25%", "25%", 3, 2},
		{4, "25%", "25%", 1, 1},
		{1, "0%", "1%", 0, 1}, // both zero: one may be unavailable
		{5, "2", "0", 2, 0},
		{0, "25%", "25%", 0, 1},
	} {
		d := rollingDeployment(tt.replicas, tt.surge, tt.unavailable)
		s, u, err := deploymentutil.ResolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, tt.replicas)
		if err != nil || s != tt.wantSurge || u != tt.wantUnavail {
			t.Errorf("%d replicas, surge %s, unavailable %s: got %d, %d (%v), want %d, %d", tt.replicas, tt.surge, tt.unavailable, s, u, err, tt.wantSurge, tt.wantUnavail)
		}
	}
	if got := maxUnavailable(rollingDeployment(0, "25%", "25%")); got != 0 {
		t.Errorf("maxUnavailable of 0 replicas = %d", got)
	}
}

func TestNewReplicaSetReplicas(t *testing.T) {
	for _, tt := range []struct {
		name     string
		d        *appsv1.Deployment
		old, new int32
		want     int32
	}{
		{"first step of 3 replicas", rollingDeployment(3, "25%", "25%"), 3, 0, 1},
		{"surge used up", rollingDeployment(3, "25%", "25%"), 3, 1, 1},
		{"old shrunk", rollingDeployment(3, "25%", "25%"), 2, 1, 2},
		{"ten with 3 surge", rollingDeployment(10, "25%", "25%"), 10, 0, 3},
		{"never past desired", rollingDeployment(3, "100%", "0"), 0, 1, 3},
	} {
		newRS := replicaSet("new", tt.new, 0, nil)
		all := []*appsv1.ReplicaSet{replicaSet("old", tt.old, time.Hour, nil), newRS}
		got, err := newReplicaSetReplicas(tt.d, all, newRS)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %d (%v), want %d", tt.name, got, err, tt.want)
		}
	}
	recreate := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	if got, _ := newReplicaSetReplicas(recreate, nil, replicaSet("new", 0, 0, nil)); got != 4 {
		t.Errorf("Recreate: got %d, want 4", got)
	}
}

func TestProportionalSizes(t *testing.T) {
	ann := func(max int32) map[string]string {
		return map[string]string{MaxReplicasAnnotation: fmt.Sprint(max), DesiredReplicasAnnotation: "10"}
	}
	for _, tt := range []struct {
		name     string
		replicas int32
		sizes    []int32 // old to new
		want     []int32
	}{
		// Mid-rollout of 10 (max 13) with 8 old and 5 new, scaled to 20 (max 25).
		{"scale up", 20, []int32{8, 5}, []int32{15, 10}},
		// The same scaled down to 5 (max 7).
		{"scale down", 5, []int32{8, 5}, []int32{4, 3}},
		{"to zero", 0, []int32{8, 5}, []int32{0, 0}},
	} {
		d := rollingDeployment(tt.replicas, "25%", "25%")
		var all []*appsv1.ReplicaSet
		for i, n := range tt.sizes {
			all = append(all, replicaSet(fmt.Sprint("rs", i), n, time.Duration(len(tt.sizes)-i)*time.Hour, ann(13)))
		}
		if got := proportionalSizes(d, all); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestComputeHash(t *testing.T) {
	tpl := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cats"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "cats", Image: image}}},
		}
	}
	seen := map[string]int{}
	for i := range 1000 {
		h := ComputeHash(tpl(fmt.Sprintf("cats:v0.%d.0", i)), nil)
		if j, ok := seen[h]; ok {
			t.Fatalf("versions %d and %d share hash %s", j, i, h)
		}
		seen[h] = i
	}
	a := ComputeHash(tpl("x"), nil)
	if a != ComputeHash(tpl("x"), nil) {
		t.Error("hash is not stable")
	}
	if a == ComputeHash(tpl("x"), ptr.To[int32](1)) {
		t.Error("collisionCount does not change the hash")
	}
}

func TestRevisionAnnotations(t *testing.T) {
	d := rollingDeployment(3, "25%", "25%")
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "undo", RevisionAnnotation: "9", corev1.LastAppliedConfigAnnotation: "{}"}
	rs := replicaSet("rs", 0, 0, nil)
	if !setNewReplicaSetAnnotations(d, rs, 1, false) {
		t.Fatal("no change reported for a new ReplicaSet")
	}
	want := map[string]string{"kubernetes.io/change-cause": "undo", RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}
	if fmt.Sprint(rs.Annotations) != fmt.Sprint(want) {
		t.Errorf("annotations = %v, want %v", rs.Annotations, want)
	}
	// Brought back by an undo: revision 3, having served 1.
	setNewReplicaSetAnnotations(d, rs, 3, true)
	setNewReplicaSetAnnotations(d, rs, 5, true)
	if got := rs.Annotations[RevisionAnnotation] + " " + rs.Annotations[RevisionHistoryAnnotation]; got != "5 1,3" {
		t.Errorf("revision and history = %q, want \"5 1,3\"", got)
	}
	if setNewReplicaSetAnnotations(d, rs, 4, true) {
		t.Error("a lower revision changed the annotations")
	}
}

func TestProgressConditions(t *testing.T) {
	now := time.Unix(5000, 0)
	d := rollingDeployment(2, "25%", "25%")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](10)
	cond := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated, "", now.Add(-11*time.Second))
	status := appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{cond}}
	if !deploymentTimedOut(d, &status, now) {
		t.Error("11 s without progress is past a 10 s deadline")
	}
	if deploymentTimedOut(d, &status, now.Add(-2*time.Second)) {
		t.Error("9 s without progress is within a 10 s deadline")
	}
	status.Conditions[0].Reason = ReasonNewReplicaSetAvailable
	if deploymentTimedOut(d, &status, now) {
		t.Error("a complete rollout does not time out")
	}
	d.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}
	if !deploymentProgressing(d, &appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}) {
		t.Error("one more updated replica is progress")
	}
	if deploymentProgressing(d, &appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}) {
		t.Error("no change is no progress")
	}
}
