// Package history keeps the revisions of a workload's pod template as apps/v1
// ControllerRevisions, as StatefulSets and DaemonSets do: one per distinct template,
// named <owner>-<hash>, numbered in the order they were (re)used, trimmed to the
// owner's revisionHistoryLimit. kubectl rollout history and undo read them.
package history

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
)

// HashLabel names the revision on the revision itself and on the pods made from it.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// TemplatePatch is what a revision stores: a strategic merge patch that puts the
// owner's pod template back, replacing the template wholesale. workload is the
// owner object (a StatefulSet or DaemonSet); kubectl rollout undo applies the patch
// as it is.
func TemplatePatch(workload any) ([]byte, error) {
	b, err := json.Marshal(workload)
	if err != nil {
		return nil, err
	}
	var obj struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	template := obj.Spec.Template
	if template == nil {
		template = map[string]any{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// Hash names a revision by its data and the owner's collision count: a collision
// (another revision already holds the name) is resolved by counting up.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// New makes (without creating it) the revision of owner (of kind gvk) holding data,
// labelled with the template's labels and its hash, numbered revision.
func New(owner metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	hash := Hash(data, collisionCount)
	lbls := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbls[k] = v
	}
	lbls[HashLabel] = hash
	var annotations map[string]string
	if a := owner.GetAnnotations(); len(a) > 0 {
		annotations = make(map[string]string, len(a))
		for k, v := range a {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            owner.GetName() + "-" + hash,
			Namespace:       owner.GetNamespace(),
			Labels:          lbls,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
}

// Equal says whether two revisions hold the same template (their data decode to the
// same JSON; the API server may reformat the bytes).
func Equal(a, b *appsv1.ControllerRevision) bool {
	return SameData(a.Data.Raw, b.Data.Raw)
}

// SameData says whether two revision data are the same JSON.
func SameData(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Sort orders revisions oldest first: by revision number, then creation, then name.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// Next is the number a new (or reused) revision gets: one more than the highest.
func Next(revs []*appsv1.ControllerRevision) int64 {
	var max int64
	for _, r := range revs {
		if r.Revision > max {
			max = r.Revision
		}
	}
	return max + 1
}

// Control writes revisions.
type Control struct {
	Client kubernetes.Interface
}

// Claim adopts orphaned revisions matching selector and releases those that no
// longer match, returning those owner controls.
func (c Control) Claim(ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, selector labels.Selector, revs []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	patch := func(ctx context.Context, name string, pt types.PatchType, data []byte) error {
		_, err := c.Client.AppsV1().ControllerRevisions(owner.GetNamespace()).Patch(ctx, name, pt, data, metav1.PatchOptions{})
		return err
	}
	return podcontrol.Claim(ctx, owner, gvk, selector, revs, patch)
}

// Create creates rev. When its name is taken by a revision with other data, it
// counts collisionCount up and tries the next name, so the caller must save
// collisionCount in the owner's status. When it is taken by an equal revision, that
// one is returned.
func (c Control) Create(ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	for range 100 {
		rev := New(owner, gvk, templateLabels, data, revision, collisionCount)
		created, err := c.Client.AppsV1().ControllerRevisions(rev.Namespace).Create(ctx, rev, metav1.CreateOptions{})
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create controllerrevision %s/%s: %w", rev.Namespace, rev.Name, err)
		}
		existing, err := c.Client.AppsV1().ControllerRevisions(rev.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read controllerrevision %s/%s: %w", rev.Namespace, rev.Name, err)
		}
		if metav1.IsControlledBy(existing, owner) && Equal(existing, rev) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("create controllerrevision for %s/%s: too many hash collisions", owner.GetNamespace(), owner.GetName())
}

// Renumber gives an existing revision a new number, when an old template comes back
// (a rollback makes it the newest).
func (c Control) Renumber(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == revision {
		return rev, nil
	}
	rev = rev.DeepCopy()
	rev.Revision = revision
	updated, err := c.Client.AppsV1().ControllerRevisions(rev.Namespace).Update(ctx, rev, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("renumber controllerrevision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return updated, nil
}

// Trim deletes the oldest revisions beyond limit, never one that live names.
func (c Control) Trim(ctx context.Context, revs []*appsv1.ControllerRevision, live map[string]bool, limit int32) error {
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	excess := len(old) - int(max(limit, 0))
	if excess <= 0 {
		return nil
	}
	Sort(old)
	for _, r := range old[:excess] {
		err := c.Client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete controllerrevision %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return nil
}
