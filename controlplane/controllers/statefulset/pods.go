package statefulset

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/history"
	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
)

var podKind = corev1.SchemeGroupVersion.WithKind("Pod")

// podName is the name of the set's pod of ordinal ord.
func podName(set *appsv1.StatefulSet, ord int) string {
	return set.Name + "-" + strconv.Itoa(ord)
}

// ordinalOf parses a member's ordinal from its name <set>-<ordinal>.
func ordinalOf(set *appsv1.StatefulSet, pod *corev1.Pod) (int, bool) {
	rest, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	ord, err := strconv.Atoi(rest)
	if err != nil || ord < 0 {
		return 0, false
	}
	return ord, true
}

func isMember(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	_, ok := ordinalOf(set, pod)
	return ok
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func revisionOf(pod *corev1.Pod) string {
	return pod.Labels[history.HashLabel]
}

// isCreated says whether the API server has taken the pod in (it sets a phase).
func isCreated(pod *corev1.Pod) bool {
	return pod.Status.Phase != ""
}

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && podutils.IsPodReady(pod)
}

// isHealthy says whether an ordered set may move past pod: running, ready (for
// minReadySeconds) and not terminating.
func isHealthy(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return pod.DeletionTimestamp == nil && isRunningAndReady(pod) && podutils.IsPodAvailable(pod, minReadySeconds, metav1.NewTime(now))
}

// applyRevision returns set with the template revision holds.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	original, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(original, rev.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", rev.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", rev.Name, err)
	}
	return out, nil
}

// newPod makes the pod of ordinal ord from from's template (set at some revision),
// with its stable identity and its claims as volumes.
func newPod(set, from *appsv1.StatefulSet, ord int, revision string) *corev1.Pod {
	pod := podcontrol.NewPod(&from.Spec.Template, set, controllerKind)
	pod.GenerateName = ""
	pod.Name = podName(set, ord)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	for k, v := range identityLabels(set, ord) {
		pod.Labels[k] = v
	}
	pod.Labels[history.HashLabel] = revision
	claims := map[string]string{}
	var volumes []corev1.Volume
	for _, t := range set.Spec.VolumeClaimTemplates {
		claims[t.Name] = claimName(set, t.Name, ord)
		volumes = append(volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claims[t.Name]}}})
	}
	for _, v := range pod.Spec.Volumes {
		if _, shadowed := claims[v.Name]; !shadowed {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
	return pod
}

func identityLabels(set *appsv1.StatefulSet, ord int) map[string]string {
	return map[string]string{
		appsv1.StatefulSetPodNameLabel: podName(set, ord),
		appsv1.PodIndexLabel:           strconv.Itoa(ord),
	}
}

// fixIdentity puts back the identity labels of a member that lost them.
func (c *Controller) fixIdentity(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ord int) error {
	missing := map[string]string{}
	for k, v := range identityLabels(set, ord) {
		if pod.Labels[k] != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	c.recordPod("update", set, pod.Name, err)
	return err
}

// claimName is the name of the claim of template for ordinal ord.
func claimName(set *appsv1.StatefulSet, template string, ord int) string {
	return template + "-" + set.Name + "-" + strconv.Itoa(ord)
}

// createClaims creates the missing claims of the member of ordinal ord: before its
// pod is created (pod nil) or while it is pending; a running pod whose claim was
// deleted does not get a new, empty one. Existing claims get the owners the
// retention policy asks for. A claim still owned by a pod that was scaled away is
// stale: it is being deleted with that pod, and the new pod waits for it to go.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ord int) error {
	name := podName(set, ord)
	create := pod == nil || pod.Status.Phase == corev1.PodPending
	var errs []error
	for _, t := range set.Spec.VolumeClaimTemplates {
		claim := claimName(set, t.Name, ord)
		existing, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(claim)
		switch {
		case apierrors.IsNotFound(err) && !create:
		case apierrors.IsNotFound(err):
			_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, newClaim(set, &t, claim), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			c.recordClaim("create", set, name, claim, err)
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim, err))
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", claim, err))
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", claim))
		case staleClaim(existing, pod):
			errs = append(errs, fmt.Errorf("pvc %s still belongs to a pod that was scaled away", claim))
		default:
			if err := c.setClaimOwners(ctx, set, existing, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// staleClaim says whether claim is controlled by a pod other than pod.
func staleClaim(claim *corev1.PersistentVolumeClaim, pod *corev1.Pod) bool {
	ref := metav1.GetControllerOfNoCopy(claim)
	return ref != nil && ref.Kind == podKind.Kind && (pod == nil || ref.UID != pod.UID)
}

// claimOwnersForScaleDown hands the claims of a pod about to be scaled away to the
// pod when the set deletes claims on scale-down, so they go with it.
func (c *Controller) claimOwnersForScaleDown(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ord int) error {
	if retention(set).WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType &&
		retention(set).WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(claimName(set, t.Name, ord))
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := c.setClaimOwners(ctx, set, claim, pod); err != nil {
			return err
		}
	}
	return nil
}

func retention(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if r := set.Spec.PersistentVolumeClaimRetentionPolicy; r != nil {
		if r.WhenDeleted != "" {
			p.WhenDeleted = r.WhenDeleted
		}
		if r.WhenScaled != "" {
			p.WhenScaled = r.WhenScaled
		}
	}
	return p
}

// claimOwners are the controller references a claim gets under the retention policy:
// the set when claims go with the set, the pod (condemned is the pod being scaled
// away, nil otherwise) when they go with scale-down, none when retained.
func claimOwners(set *appsv1.StatefulSet, condemned *corev1.Pod) []metav1.OwnerReference {
	p := retention(set)
	switch {
	case condemned != nil && p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return []metav1.OwnerReference{*metav1.NewControllerRef(condemned, podKind)}
	case condemned == nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
	}
	return nil
}

func newClaim(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
	claim := template.DeepCopy()
	claim.Name = name
	claim.Namespace = set.Namespace
	claim.ResourceVersion = ""
	claim.Status = corev1.PersistentVolumeClaimStatus{}
	if claim.Labels == nil {
		claim.Labels = map[string]string{}
	}
	for k, v := range set.Spec.Selector.MatchLabels {
		claim.Labels[k] = v
	}
	claim.OwnerReferences = claimOwners(set, nil)
	return claim
}

// setClaimOwners replaces the set's and pod's references on claim by those the
// retention policy asks for. A claim controlled by someone else is left alone.
func (c *Controller) setClaimOwners(ctx context.Context, set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, condemned *corev1.Pod) error {
	ours := func(ref metav1.OwnerReference) bool {
		return (ref.Kind == controllerKind.Kind && ref.Name == set.Name) || (ref.Kind == podKind.Kind && strings.HasPrefix(ref.Name, set.Name+"-"))
	}
	if ref := metav1.GetControllerOfNoCopy(claim); ref != nil && !ours(*ref) {
		return nil
	}
	var refs []metav1.OwnerReference
	for _, ref := range claim.OwnerReferences {
		if !ours(ref) {
			refs = append(refs, ref)
		}
	}
	refs = append(refs, claimOwners(set, condemned)...)
	if sameRefs(refs, claim.OwnerReferences) {
		return nil
	}
	claim = claim.DeepCopy()
	claim.OwnerReferences = refs
	_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owners of pvc %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	return nil
}

func sameRefs(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || ptr.Deref(a[i].Controller, false) != ptr.Deref(b[i].Controller, false) {
			return false
		}
	}
	return true
}
