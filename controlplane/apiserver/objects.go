package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/store"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxRetries bounds the read-modify-write loops that retry on a concurrent write.
const maxRetries = 16

// decode turns a stored entry into a typed object of res, with its resourceVersion.
func decode(res *registry.Resource, e store.Entry) (runtime.Object, error) {
	stored := res.Stored()
	obj := stored.New()
	if err := json.Unmarshal(e.Value, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.Key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(stored.GVK())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatUint(e.Rev, 10))
	if stored != res {
		if obj, err = res.FromStored(obj); err != nil {
			return nil, fmt.Errorf("convert %s: %w", e.Key, err)
		}
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	}
	return obj, nil
}

// encode turns an object of res into what the store keeps: JSON of the stored
// resource's form, without resourceVersion.
func encode(res *registry.Resource, obj runtime.Object) ([]byte, error) {
	if res.StoredAs != nil {
		var err error
		if obj, err = res.ToStored(obj); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(res.Stored().GVK())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion("")
	return json.Marshal(obj)
}

func revOf(obj runtime.Object) uint64 {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
	return rv
}

// get reads one object. consistent asks for a linearizable read.
func (s *Server) get(ctx context.Context, res *registry.Resource, ns, name string, consistent bool) (runtime.Object, error) {
	e, err := s.store.Get(ctx, res.Key(ns, name), consistent)
	if err != nil {
		return nil, storeError(res, name, err)
	}
	return decode(res, e)
}

// current reads the object a write starts from. The first attempt reads this
// member's state, which compare-and-swap makes safe to write from; but a miss there
// may only mean this member has not applied a recent create yet, so it is confirmed
// by a linearizable read before the client is told NotFound. Retries read
// linearizably.
func (s *Server) current(ctx context.Context, res *registry.Resource, ns, name string, attempt int) (runtime.Object, error) {
	local := attempt == 0
	obj, err := s.get(ctx, res, ns, name, !local)
	if local && apierrors.IsNotFound(err) {
		return s.get(ctx, res, ns, name, true)
	}
	return obj, err
}

// list reads every object of res in ns ("" for all), with the revision the list reflects.
func (s *Server) list(ctx context.Context, res *registry.Resource, ns string, consistent bool) ([]runtime.Object, uint64, error) {
	entries, rev, err := s.store.List(ctx, res.Prefix(ns), consistent)
	if err != nil {
		return nil, 0, storeError(res, "", err)
	}
	objs := make([]runtime.Object, 0, len(entries))
	for _, e := range entries {
		obj, err := decode(res, e)
		if err != nil {
			s.log.Error("skipping undecodable object", "key", e.Key, "err", err)
			continue
		}
		objs = append(objs, obj)
	}
	return objs, rev, nil
}

// nameValidator returns the name rule of res.
func nameValidator(res *registry.Resource) apimachineryvalidation.ValidateNameFunc {
	switch {
	case res.NameIsDNS1035:
		return apimachineryvalidation.NameIsDNS1035Label
	case res.NameIsLabel:
		return apimachineryvalidation.NameIsDNSLabel
	case res.Stored() == registry.Events:
		// Event names need only be a valid path segment, as kube-apiserver has it.
		return path.ValidatePathSegmentName
	}
	return apimachineryvalidation.NameIsDNSSubdomain
}

func invalid(res *registry.Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: res.Group, Kind: res.Kind}, name, errs)
}

// prepareCreate fills the server-owned fields of a new object, gives a Service its
// addresses, and validates it. The allocation, if any, is to be committed with it.
func (s *Server) prepareCreate(ctx context.Context, res *registry.Resource, obj runtime.Object, ns string) (*Allocation, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if ns != "" && m.GetNamespace() != ns {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + rand.String(5))
	}
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(s.now()))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if res.Generation {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	st := res.Strategy
	if st.Default != nil {
		st.Default(obj)
	}
	if st.PrepareForCreate != nil {
		st.PrepareForCreate(obj)
	}
	s.admit(ctx, obj)
	alloc, err := s.allocate(ctx, res, obj, nil)
	if err != nil {
		return nil, err
	}
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(m, res.Namespaced, nameValidator(res), field.NewPath("metadata"))
	if st.Validate != nil {
		errs = append(errs, st.Validate(obj)...)
	}
	if len(errs) > 0 {
		return nil, invalid(res, m.GetName(), errs)
	}
	return alloc, nil
}

// prepareUpdate carries the server-owned fields of old into obj, for an update of the
// main resource (sub "") or a subresource, gives a Service what its new spec needs,
// and validates the result. The allocation, if any, is to be committed with it.
func (s *Server) prepareUpdate(ctx context.Context, res *registry.Resource, sub string, obj, old runtime.Object) (*Allocation, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	om, _ := meta.Accessor(old)
	if m.GetNamespace() == "" && res.Namespaced {
		m.SetNamespace(om.GetNamespace())
	}
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	m.SetSelfLink("")
	st := res.Strategy
	var errs field.ErrorList
	var alloc *Allocation
	switch sub {
	case "", registry.Scale:
		// A scale write is a write of the main resource built from the current object.
		if st.Default != nil {
			st.Default(obj)
		}
		if res.HasSubresource(registry.Status) {
			copyField(obj, old, "Status")
		}
		if st.PrepareForUpdate != nil {
			st.PrepareForUpdate(obj, old)
		}
		if res.Generation && (specChanged(obj, old) || (res == registry.Deployments && annotationsChanged(obj, old))) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
		if sub == "" {
			if alloc, err = s.allocate(ctx, res, obj, old); err != nil {
				return nil, err
			}
		}
		if st.ValidateUpdate != nil {
			errs = append(errs, st.ValidateUpdate(obj, old)...)
		} else if st.Validate != nil {
			errs = append(errs, st.Validate(obj)...)
		}
	case registry.Status:
		copyField(obj, old, "Spec")
		// A status write may not change metadata beyond what the status owns.
		m.SetLabels(om.GetLabels())
		if res != registry.Deployments {
			// kube-apiserver lets a Deployment's status write carry annotations: the
			// deployment controller records the revision there without bumping the
			// generation, which any other annotation change does.
			m.SetAnnotations(om.GetAnnotations())
		}
		m.SetFinalizers(om.GetFinalizers())
		m.SetOwnerReferences(om.GetOwnerReferences())
		if st.PrepareForStatusUpdate != nil {
			st.PrepareForStatusUpdate(obj, old)
		}
		if st.ValidateStatusUpdate != nil {
			errs = append(errs, st.ValidateStatusUpdate(obj, old)...)
		}
	default:
		// Binding and finalize: the caller built obj from old and checked the request
		// with that subresource's own rules.
	}
	metaErrs := apimachineryvalidation.ValidateObjectMetaAccessor(m, res.Namespaced, nameValidator(res), field.NewPath("metadata"))
	metaErrs = append(metaErrs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))...)
	errs = append(metaErrs, errs...)
	if len(errs) > 0 {
		return nil, invalid(res, m.GetName(), errs)
	}
	return alloc, nil
}

// copyField sets dst's exported struct field name to src's, when both have it.
func copyField(dst, src runtime.Object, name string) {
	d := reflect.ValueOf(dst).Elem().FieldByName(name)
	sv := reflect.ValueOf(src).Elem().FieldByName(name)
	if d.IsValid() && sv.IsValid() && d.CanSet() {
		d.Set(sv)
	}
}

// annotationsChanged reports whether metadata.annotations differ; a Deployment's
// generation counts those too, as kube-apiserver's does.
func annotationsChanged(obj, old runtime.Object) bool {
	a, _ := meta.Accessor(obj)
	b, _ := meta.Accessor(old)
	return !apiequality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
}

// specChanged reports whether anything outside metadata and status differs: the
// two objects, of one type, are compared field by field, without copies.
func specChanged(obj, old runtime.Object) bool {
	a, b := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	for i := range a.NumField() {
		switch a.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !apiequality.Semantic.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// create stores a new object after preparing and validating it. A Service is stored
// with its claims in one transaction; when another write took an address the
// allocator chose, the Service is prepared again from what the client sent.
func (s *Server) create(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object, dry bool) (runtime.Object, error) {
	sent := obj
	if s.services != nil && res == registry.Services {
		sent = obj.DeepCopyObject()
	}
	for prepared := 0; ; prepared++ {
		out, err := s.createOnce(ctx, res, ns, obj, dry)
		if errors.Is(err, errAgain) && prepared < maxRetries {
			obj = sent.DeepCopyObject()
			// Writers that lost the same race would otherwise all try again at
			// once and collide again: a few random milliseconds apart, they do not.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(rand.Int63nRange(0, int64(prepared+1)*int64(2*time.Millisecond)))):
			}
			continue
		}
		if errors.Is(err, errAgain) {
			return nil, apierrors.NewInternalError(err)
		}
		return out, err
	}
}

func (s *Server) createOnce(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object, dry bool) (runtime.Object, error) {
	alloc, err := s.prepareCreate(ctx, res, obj, ns)
	if err != nil {
		return nil, err
	}
	m, _ := meta.Accessor(obj)
	if res.Namespaced {
		if err := s.namespaceAcceptsContent(ctx, res, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if dry {
		return obj, nil
	}
	for attempt := 0; ; attempt++ {
		value, err := encode(res, obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		e, err := s.commit(ctx, store.CreateOp(res.Key(m.GetNamespace(), m.GetName()), value), alloc)
		if errors.Is(err, store.ErrExists) && m.GetGenerateName() != "" && attempt < 8 {
			// A generated name collided; draw another, as kube-apiserver asks clients to.
			m.SetName(m.GetGenerateName() + rand.String(5))
			continue
		}
		if errors.Is(err, errAgain) {
			return nil, err
		}
		if err != nil {
			return nil, storeError(res, m.GetName(), err)
		}
		return decode(res, e)
	}
}

// namespaceAcceptsContent refuses objects in a namespace that does not exist or is
// being deleted.
func (s *Server) namespaceAcceptsContent(ctx context.Context, res *registry.Resource, ns string) error {
	obj, err := s.current(ctx, registry.Namespaces, "", ns, 0)
	if err != nil {
		return err
	}
	nsObj := obj.(*corev1.Namespace)
	if nsObj.DeletionTimestamp != nil || nsObj.Status.Phase == corev1.NamespaceTerminating {
		gr := schema.GroupResource{Group: res.Group, Resource: res.Resource}
		return apierrors.NewForbidden(gr, "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// mutation turns the current object into the desired one. It may return a Conflict
// (a precondition failed) or any other error to stop.
type mutation func(old runtime.Object) (runtime.Object, error)

// update applies mutate to the current object and stores the result with
// compare-and-swap, retrying when another write came first. A no-op update writes
// nothing. An object being deleted whose last finalizer is removed is deleted.
func (s *Server) update(ctx context.Context, res *registry.Resource, sub, ns, name string, mutate mutation, dry bool) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		old, err := s.current(ctx, res, ns, name, attempt)
		if err != nil {
			return nil, err
		}
		obj, err := mutate(old.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		alloc, err := s.prepareUpdate(ctx, res, sub, obj, old)
		if err != nil {
			return nil, err
		}
		obj = s.trackManagedFields(ctx, res, sub, obj, old)
		if unchanged(obj, old) {
			return old, nil
		}
		if dry {
			return obj, nil
		}
		if finalizedAway(obj) {
			// What the stored object holds is freed with it.
			rel, err := s.release(ctx, res, old)
			if err != nil {
				return nil, err
			}
			e, err := s.commit(ctx, store.DeleteOp(res.Key(ns, name), revOf(old)), rel)
			if retryWrite(err) && attempt < maxRetries {
				continue
			}
			if err != nil {
				return nil, storeError(res, name, err)
			}
			return decode(res, e)
		}
		value, err := encode(res, obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		e, err := s.commit(ctx, store.UpdateOp(res.Key(ns, name), value, revOf(old)), alloc)
		if retryWrite(err) && attempt < maxRetries {
			continue
		}
		if err != nil {
			return nil, storeError(res, name, err)
		}
		return decode(res, e)
	}
}

// retryWrite: the write lost a compare-and-swap, or raced over an allocation; a
// fresh read of the object may succeed.
func retryWrite(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, errAgain)
}

// unchanged compares two versions of an object, ignoring resourceVersion,
// managedFields and kind. Rather than copy both, it sets those aside on the
// objects themselves for the comparison and puts them back before returning.
func unchanged(obj, old runtime.Object) bool {
	defer setAside(obj)()
	defer setAside(old)()
	return apiequality.Semantic.DeepEqual(obj, old)
}

// setAside clears what unchanged ignores and returns the function restoring it.
func setAside(o runtime.Object) (restore func()) {
	m, _ := meta.Accessor(o)
	rv, fields, gvk := m.GetResourceVersion(), m.GetManagedFields(), o.GetObjectKind().GroupVersionKind()
	m.SetResourceVersion("")
	m.SetManagedFields(nil)
	o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return func() {
		m.SetResourceVersion(rv)
		m.SetManagedFields(fields)
		o.GetObjectKind().SetGroupVersionKind(gvk)
	}
}

// finalizedAway reports whether an object under deletion has nothing left holding it.
func finalizedAway(obj runtime.Object) bool {
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return len(o.Spec.Finalizers) == 0
	case *corev1.Pod:
		// A pod on a node goes when its node confirms the containers are gone.
		g := o.DeletionGracePeriodSeconds
		return o.Spec.NodeName == "" || (g != nil && *g == 0)
	}
	return true
}

// preconditionsMatch checks DeleteOptions preconditions against the object.
func preconditionsMatch(res *registry.Resource, obj runtime.Object, pre *metav1.Preconditions) error {
	if pre == nil {
		return nil
	}
	m, _ := meta.Accessor(obj)
	gr := schema.GroupResource{Group: res.Group, Resource: res.Resource}
	if pre.UID != nil && *pre.UID != m.GetUID() {
		//lint:ignore ST1005 kube-apiserver's wording, which clients print
		return apierrors.NewConflict(gr, m.GetName(), fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *pre.UID, m.GetUID()))
	}
	if pre.ResourceVersion != nil && *pre.ResourceVersion != m.GetResourceVersion() {
		//lint:ignore ST1005 kube-apiserver's wording, which clients print
		return apierrors.NewConflict(gr, m.GetName(), fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *pre.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// Finalizers the server itself adds for the deletion propagation policies.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// deleteObject deletes one object, gracefully where Kubernetes would: pods on a node
// get a deletionTimestamp and wait for their node; objects with finalizers (including
// the ones the propagation policy adds) wait for them. It returns the object as it is
// afterwards (the last state when gone) and whether it is gone.
func (s *Server) deleteObject(ctx context.Context, res *registry.Resource, ns, name string, opts *metav1.DeleteOptions, dry bool) (runtime.Object, bool, error) {
	for attempt := 0; ; attempt++ {
		old, err := s.current(ctx, res, ns, name, attempt)
		if err != nil {
			return nil, false, err
		}
		if err := preconditionsMatch(res, old, opts.Preconditions); err != nil {
			return nil, false, err
		}
		obj := old.DeepCopyObject()
		m, _ := meta.Accessor(obj)
		now := metav1.NewTime(s.now())
		grace, graceful := gracePeriod(obj, opts)
		finalizers := withPolicyFinalizers(m.GetFinalizers(), opts)
		if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
			ns.Status.Phase = corev1.NamespaceTerminating
			graceful = true
		}
		if graceful || len(finalizers) > 0 {
			m.SetFinalizers(finalizers)
			// A second delete may only shorten the grace period.
			if cur := m.GetDeletionGracePeriodSeconds(); m.GetDeletionTimestamp() == nil || (graceful && cur != nil && grace < *cur) {
				ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
				m.SetDeletionTimestamp(&ts)
				m.SetDeletionGracePeriodSeconds(&grace)
			}
			if !finalizedAway(obj) {
				if unchanged(obj, old) {
					return old, false, nil
				}
				if dry {
					return obj, false, nil
				}
				value, err := encode(res, obj)
				if err != nil {
					return nil, false, apierrors.NewInternalError(err)
				}
				e, err := s.store.Update(ctx, res.Key(ns, name), value, revOf(old))
				if errors.Is(err, store.ErrConflict) && attempt < maxRetries {
					continue
				}
				if err != nil {
					return nil, false, storeError(res, name, err)
				}
				out, err := decode(res, e)
				return out, false, err
			}
		}
		if dry {
			return old, true, nil
		}
		rel, err := s.release(ctx, res, old)
		if err != nil {
			return nil, false, err
		}
		e, err := s.commit(ctx, store.DeleteOp(res.Key(ns, name), revOf(old)), rel)
		if retryWrite(err) && attempt < maxRetries {
			continue
		}
		if err != nil {
			return nil, false, storeError(res, name, err)
		}
		out, err := decode(res, e)
		return out, true, err
	}
}

// gracePeriod returns the grace period for deleting obj and whether the deletion is
// graceful (only pods bound to a node and still running are).
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) (int64, bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0, false
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace < 0 {
		grace = 1
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, false
	}
	if grace == 0 {
		return 0, false
	}
	return grace, true
}

// withPolicyFinalizers adds the finalizer the propagation policy asks for.
func withPolicyFinalizers(finalizers []string, opts *metav1.DeleteOptions) []string {
	policy := opts.PropagationPolicy
	//lint:ignore SA1019 older clients still send orphanDependents
	if policy == nil && opts.OrphanDependents != nil {
		p := metav1.DeletePropagationBackground
		//lint:ignore SA1019 older clients still send orphanDependents
		if *opts.OrphanDependents {
			p = metav1.DeletePropagationOrphan
		}
		policy = &p
	}
	out := append([]string(nil), finalizers...)
	if policy == nil {
		return out
	}
	add := func(f string) {
		for _, x := range out {
			if x == f {
				return
			}
		}
		out = append(out, f)
	}
	remove := func(f string) {
		kept := out[:0]
		for _, x := range out {
			if x != f {
				kept = append(kept, x)
			}
		}
		out = kept
	}
	switch *policy {
	case metav1.DeletePropagationOrphan:
		add(finalizerOrphan)
		remove(finalizerForeground)
	case metav1.DeletePropagationForeground:
		add(finalizerForeground)
		remove(finalizerOrphan)
	case metav1.DeletePropagationBackground:
		remove(finalizerOrphan)
		remove(finalizerForeground)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
