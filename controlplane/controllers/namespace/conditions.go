package namespace

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The conditions a terminating namespace shows, in Kubernetes' order, with the reason
// and message of each when all is well. kubectl describe shows them while a
// namespace is stuck in Terminating, saying what it waits for.
var (
	conditionTypes = []corev1.NamespaceConditionType{
		corev1.NamespaceDeletionDiscoveryFailure,
		corev1.NamespaceDeletionGVParsingFailure,
		corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining,
		corev1.NamespaceFinalizersRemaining,
	}
	okReasons = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
		corev1.NamespaceContentRemaining:         "ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "ContentRemoved",
	}
	okMessages = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "All content successfully removed",
		corev1.NamespaceFinalizersRemaining:      "All content successfully removed",
	}
)

// setConditions writes the conditions that what is left calls for, if they changed,
// and returns the namespace as it now is.
func (c *Controller) setConditions(ctx context.Context, ns *corev1.Namespace, left content) (*corev1.Namespace, error) {
	want := conditions(left)
	updated := ns.DeepCopy()
	now := metav1.NewTime(c.clock.Now())
	changed := false
	for _, w := range want {
		cur := findCondition(updated.Status.Conditions, w.Type)
		switch {
		case cur == nil:
			w.LastTransitionTime = now
			updated.Status.Conditions = append(updated.Status.Conditions, w)
			changed = true
		case cur.Status != w.Status || cur.Reason != w.Reason || cur.Message != w.Message:
			if cur.Status != w.Status {
				cur.LastTransitionTime = now
			}
			cur.Status, cur.Reason, cur.Message = w.Status, w.Reason, w.Message
			changed = true
		}
	}
	if !changed {
		return ns, nil
	}
	got, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return ns, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update the conditions of namespace %s: %w", ns.Name, err)
	}
	return got, nil
}

// conditions are the conditions, without transition times, that what is left of a
// namespace's content calls for.
func conditions(left content) []corev1.NamespaceCondition {
	var out []corev1.NamespaceCondition
	for _, t := range conditionTypes {
		out = append(out, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReasons[t], Message: okMessages[t]})
	}
	set := func(t corev1.NamespaceConditionType, reason, message string) {
		for i := range out {
			if out[i].Type == t {
				out[i].Status, out[i].Reason, out[i].Message = corev1.ConditionTrue, reason, message
			}
		}
	}
	if len(left.failures) > 0 {
		var msgs []string
		for _, err := range left.failures {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		set(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(msgs), strings.Join(msgs, ", ")))
	}
	if len(left.remaining) > 0 {
		var parts []string
		for gvr, n := range left.remaining {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		sort.Strings(parts)
		set(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(left.finalizers) > 0 {
		var parts []string
		for f, n := range left.finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		// Kubernetes spells this reason in the singular.
		set(corev1.NamespaceFinalizersRemaining, "SomeFinalizerRemain", "Some finalizers are remaining: "+strings.Join(parts, ", "))
	}
	return out
}

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
