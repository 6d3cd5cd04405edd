package nodeagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMergeConditionsKeepsTransitionTimes: a status computed from a stale cached pod
// (which did not show the agent's own last write) must not move a condition's
// transition time when the API already shows that condition in that status.
func TestMergeConditionsKeepsTransitionTimes(t *testing.T) {
	became := metav1.NewTime(time.Date(2026, 11, 24, 14, 31, 31, 0, time.UTC))
	now := metav1.NewTime(became.Add(time.Second))
	ours := []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, LastTransitionTime: now},
	}
	theirs := []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: became},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: became},
		{Type: "example.com/gate", Status: corev1.ConditionTrue, LastTransitionTime: became},
	}
	got := mergeConditions(ours, theirs)
	want := map[corev1.PodConditionType]metav1.Time{
		corev1.PodReady:        became, // unchanged status: the API's time stays
		corev1.ContainersReady: now,    // a real transition: now
		"example.com/gate":     became, // someone else's condition is kept
	}
	if len(got) != len(want) {
		t.Fatalf("conditions: %+v", got)
	}
	for _, c := range got {
		if w, ok := want[c.Type]; !ok || !c.LastTransitionTime.Equal(&w) {
			t.Errorf("%s: lastTransitionTime %s, want %s", c.Type, c.LastTransitionTime, w)
		}
	}
}
