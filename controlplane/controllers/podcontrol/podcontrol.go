// Package podcontrol is what every workload controller shares: making pods from a
// template with the owner's controller reference, deleting them with the events
// kubectl describe shows, adopting and releasing objects by selector, expectations
// that keep a lagging cache from doubling a write, and the pod states controllers
// count (active, ready, available).
package podcontrol

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Event reasons, as Kubernetes' controllers record them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Control creates and deletes pods for an owner, recording events on the owner.
type Control struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

// NewPod makes a pod from template, owned (as controller) by owner of kind gvk. The
// caller sets a name (or the pod gets generateName "<owner>-") and anything else
// its kind needs (hostname, subdomain, volumes).
func NewPod(template *corev1.PodTemplateSpec, owner metav1.Object, gvk schema.GroupVersionKind) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       owner.GetNamespace(),
			GenerateName:    owner.GetName() + "-",
			Labels:          copyMap(template.Labels),
			Annotations:     copyMap(template.Annotations),
			Finalizers:      append([]string(nil), template.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Spec: *template.Spec.DeepCopy(),
	}
	return pod
}

// Create creates pod, recording SuccessfulCreate or FailedCreate on owner.
func (c Control) Create(ctx context.Context, pod *corev1.Pod, owner runtime.Object) (*corev1.Pod, error) {
	created, err := c.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return nil, err
	}
	c.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return created, nil
}

// Delete deletes a pod, recording SuccessfulDelete or FailedDelete on owner. A pod
// already gone is not an error.
func (c Control) Delete(ctx context.Context, namespace, name string, owner runtime.Object) error {
	err := c.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		c.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	c.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", name)
	return nil
}

// PatchFunc patches one object of the kind being claimed, in owner's namespace.
type PatchFunc func(ctx context.Context, name string, pt types.PatchType, data []byte) error

// PodPatcher patches pods of namespace.
func PodPatcher(client kubernetes.Interface, namespace string) PatchFunc {
	return func(ctx context.Context, name string, pt types.PatchType, data []byte) error {
		_, err := client.CoreV1().Pods(namespace).Patch(ctx, name, pt, data, metav1.PatchOptions{})
		return err
	}
}

// Claim returns the objects owner should manage, as Kubernetes' controller
// reference manager does: those it controls that still match selector, plus orphans
// matching selector, which it adopts by adding its controller reference. Objects it
// controls that no longer match are released. Objects controlled by another owner
// are never touched. An owner being deleted adopts nothing.
func Claim[T metav1.Object](ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, selector labels.Selector, objs []T, patch PatchFunc) ([]T, error) {
	var claimed []T
	var errs []error
	for _, o := range objs {
		ref := metav1.GetControllerOfNoCopy(o)
		matches := selector.Matches(labels.Set(o.GetLabels()))
		switch {
		case ref != nil && ref.UID != owner.GetUID():
			// Someone else's.
		case ref != nil && matches:
			claimed = append(claimed, o)
		case ref != nil:
			if err := release(ctx, owner, o, patch); err != nil {
				errs = append(errs, err)
			}
		case matches && owner.GetDeletionTimestamp() == nil && o.GetDeletionTimestamp() == nil:
			if err := adopt(ctx, owner, gvk, o, patch); err != nil {
				errs = append(errs, err)
				continue
			}
			claimed = append(claimed, o)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("claim objects of %s/%s: %v", owner.GetNamespace(), owner.GetName(), errs)
	}
	return claimed, nil
}

func adopt(ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, o metav1.Object, patch PatchFunc) error {
	// The uid in the patch is a precondition: a recreated object of the same name is
	// not adopted by accident.
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		"uid":             o.GetUID(),
	}})
	if err != nil {
		return err
	}
	if err := patch(ctx, o.GetName(), types.StrategicMergePatchType, data); err != nil {
		return fmt.Errorf("adopt %s: %w", o.GetName(), err)
	}
	return nil
}

func release(ctx context.Context, owner, o metav1.Object, patch PatchFunc) error {
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner.GetUID()}},
		"uid":             o.GetUID(),
	}})
	if err != nil {
		return err
	}
	err = patch(ctx, o.GetName(), types.StrategicMergePatchType, data)
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// Gone, or replaced by another object of the same name: nothing to release.
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", o.GetName(), err)
	}
	return nil
}

// IsActive says whether a pod counts toward its owner's replicas: not finished and
// not being deleted.
func IsActive(p *corev1.Pod) bool {
	return !IsTerminal(p) && p.DeletionTimestamp == nil
}

// IsTerminal says whether a pod has finished: Succeeded or Failed.
func IsTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// ReadySince is when a pod's Ready condition last became True, or zero if it is not
// Ready.
func ReadySince(p *corev1.Pod) time.Time {
	if c := readyCondition(p); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// Key is the namespace/name key of an object, as queues and expectations use it.
func Key(o metav1.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// OwnerKey is the key of the object of kind gvk that controls o (by its controller
// reference), if such an object does.
func OwnerKey(o metav1.Object, gvk schema.GroupVersionKind) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(o)
	if ref == nil || ref.Kind != gvk.Kind || ref.APIVersion != gvk.GroupVersion().String() {
		return "", false
	}
	if o.GetNamespace() == "" {
		return ref.Name, true
	}
	return o.GetNamespace() + "/" + ref.Name, true
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// EnqueueSelecting queues the key of every owner whose selector matches set: when an
// orphan appears or changes, any of them may adopt it, and only their syncs decide
// which. A null selector matches nothing and an empty one everything (the workload
// kinds' validation rejects empty selectors; a PodDisruptionBudget's may be empty).
func EnqueueSelecting[T metav1.Object](q workqueue.TypedInterface[string], owners []T, selectorOf func(T) *metav1.LabelSelector, set map[string]string) {
	for _, o := range owners {
		sel, err := metav1.LabelSelectorAsSelector(selectorOf(o))
		if err == nil && sel.Matches(labels.Set(set)) {
			q.Add(Key(o))
		}
	}
}
