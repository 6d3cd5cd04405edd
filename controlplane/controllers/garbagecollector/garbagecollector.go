// Package garbagecollector deletes objects whose owners are gone, following
// ownerReferences, and carries out the orphan and foreground deletion policies.
package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Resource is one kind of object the collector follows.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	// Informer lists and watches the resource's objects as metadata
	// (*metav1.PartialObjectMetadata), as a metadata informer does.
	Informer cache.SharedIndexInformer
}

const (
	byOwnerUID = "ownerUID"
	byUID      = "uid"
	// waitForDependents is how soon an owner under foreground deletion is looked at
	// again while its dependents go.
	waitForDependents = time.Second
)

// Controller is the garbage collector.
type Controller struct {
	client    metadata.Interface
	resources map[schema.GroupVersionResource]Resource
	byKind    map[schema.GroupVersionKind]schema.GroupVersionResource
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New makes the collector over the given resources.
func New(client metadata.Interface, resources []Resource, log *slog.Logger) (*Controller, error) {
	return newController(client, resources, clock.RealClock{}, log)
}

// newController is New on clk, which tests set.
func newController(client metadata.Interface, resources []Resource, clk clock.WithTicker, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client:    client,
		resources: map[schema.GroupVersionResource]Resource{},
		byKind:    map[schema.GroupVersionKind]schema.GroupVersionResource{},
		informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		queue:     reconcile.NewQueueWithClock("garbagecollector", clk),
		log:       log,
	}
	for _, r := range resources {
		c.resources[r.GVR] = r
		c.byKind[r.GVR.GroupVersion().WithKind(r.Kind)] = r.GVR
		if err := r.Informer.AddIndexers(cache.Indexers{byOwnerUID: ownerUIDs, byUID: uidOf}); err != nil {
			return nil, fmt.Errorf("index %s by owner: %w", r.GVR.Resource, err)
		}
		if _, err := r.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.observe(r.GVR, obj) },
			UpdateFunc: func(_, obj any) { c.observe(r.GVR, obj) },
			DeleteFunc: func(obj any) { c.gone(obj) },
		}); err != nil {
			return nil, fmt.Errorf("add %s event handler: %w", r.GVR.Resource, err)
		}
		c.informers[r.GVR] = r.Informer
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	var synced []cache.InformerSynced
	for _, inf := range c.informers {
		synced = append(synced, inf.HasSynced)
	}
	loop := reconcile.Loop{Name: "garbagecollector", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, synced...)
}

func ownerUIDs(obj any) ([]string, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, nil
	}
	out := make([]string, 0, len(m.OwnerReferences))
	for _, ref := range m.OwnerReferences {
		out = append(out, string(ref.UID))
	}
	return out, nil
}

func uidOf(obj any) ([]string, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, nil
	}
	return []string{string(m.UID)}, nil
}

// key names an object for the queue: resource|namespace|name.
func key(gvr schema.GroupVersionResource, ns, name string) string {
	return gvr.Group + "/" + gvr.Version + "/" + gvr.Resource + "|" + ns + "|" + name
}

func parseKey(k string) (schema.GroupVersionResource, string, string, bool) {
	parts := strings.Split(k, "|")
	if len(parts) != 3 {
		return schema.GroupVersionResource{}, "", "", false
	}
	gv := strings.SplitN(parts[0], "/", 3)
	if len(gv) != 3 {
		return schema.GroupVersionResource{}, "", "", false
	}
	return schema.GroupVersionResource{Group: gv[0], Version: gv[1], Resource: gv[2]}, parts[1], parts[2], true
}

// observe queues an object that has owners, or that waits for the collector to orphan
// or delete its dependents.
func (c *Controller) observe(gvr schema.GroupVersionResource, obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	if len(m.OwnerReferences) > 0 || (m.DeletionTimestamp != nil && (hasFinalizer(m, metav1.FinalizerOrphanDependents) || hasFinalizer(m, metav1.FinalizerDeleteDependents))) {
		c.queue.Add(key(gvr, m.Namespace, m.Name))
	}
}

// gone queues the dependents of a deleted object, and its owners (one of which may be
// waiting in foreground deletion for it to go).
func (c *Controller) gone(obj any) {
	obj = reconcile.Unwrap(obj)
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	for _, d := range c.dependents(string(m.UID)) {
		c.queue.Add(key(d.gvr, d.obj.Namespace, d.obj.Name))
	}
	for _, ref := range m.OwnerReferences {
		if o, ok := c.cached(string(ref.UID)); ok {
			c.queue.Add(key(o.gvr, o.obj.Namespace, o.obj.Name))
		}
	}
}

type cachedObject struct {
	gvr schema.GroupVersionResource
	obj *metav1.PartialObjectMetadata
}

func (c *Controller) dependents(uid string) []cachedObject {
	var out []cachedObject
	for gvr, inf := range c.informers {
		objs, _ := inf.GetIndexer().ByIndex(byOwnerUID, uid)
		for _, o := range objs {
			if m, ok := o.(*metav1.PartialObjectMetadata); ok {
				out = append(out, cachedObject{gvr, m})
			}
		}
	}
	return out
}

func (c *Controller) cached(uid string) (cachedObject, bool) {
	for gvr, inf := range c.informers {
		objs, _ := inf.GetIndexer().ByIndex(byUID, uid)
		for _, o := range objs {
			if m, ok := o.(*metav1.PartialObjectMetadata); ok {
				return cachedObject{gvr, m}, true
			}
		}
	}
	return cachedObject{}, false
}

func (c *Controller) sync(ctx context.Context, k string) error {
	gvr, ns, name, ok := parseKey(k)
	if !ok {
		return nil
	}
	inf, ok := c.informers[gvr]
	if !ok {
		return nil
	}
	item, exists, err := inf.GetIndexer().GetByKey(cacheKey(ns, name))
	if err != nil || !exists {
		return err
	}
	m := item.(*metav1.PartialObjectMetadata)
	if m.DeletionTimestamp != nil {
		switch {
		case hasFinalizer(m, metav1.FinalizerOrphanDependents):
			return c.orphanDependents(ctx, gvr, m)
		case hasFinalizer(m, metav1.FinalizerDeleteDependents):
			return c.deleteDependentsFirst(ctx, gvr, m)
		}
		// On its way out already: nothing more to decide.
		return nil
	}
	if len(m.OwnerReferences) == 0 {
		return nil
	}
	return c.collect(ctx, gvr, m)
}

func cacheKey(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// collect decides about an object with owners, as Kubernetes' collector does. While
// one owner is live (and not deleting its dependents first), the object stays and
// only loses its references to owners that are gone or going. Otherwise it is
// deleted: in the foreground when its own dependents must go before it (an owner of
// it waits for them), else in the background.
func (c *Controller) collect(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) error {
	var solid, dangling, waiting []metav1.OwnerReference
	for _, ref := range m.OwnerReferences {
		state, err := c.ownerState(ctx, m.Namespace, ref)
		if err != nil {
			return err
		}
		switch state {
		case ownerLive:
			solid = append(solid, ref)
		case ownerGone:
			dangling = append(dangling, ref)
		case ownerWaiting:
			waiting = append(waiting, ref)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		return c.setOwners(ctx, gvr, m, solid)
	case len(waiting) > 0 && len(c.dependents(string(m.UID))) > 0:
		c.log.Info("deleting object in the foreground, as its owner waits for its dependents", "resource", gvr.Resource, "namespace", m.Namespace, "name", m.Name)
		return c.delete(ctx, gvr, m, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(m, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(m, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		c.log.Info("deleting object whose owners are gone", "resource", gvr.Resource, "namespace", m.Namespace, "name", m.Name, "propagation", policy)
		return c.delete(ctx, gvr, m, policy)
	}
}

// ownerState is what became of an object's owner.
type ownerState int

const (
	ownerLive ownerState = iota
	// ownerGone: no object of that name and uid exists.
	ownerGone
	// ownerWaiting: the owner is being deleted in the foreground, waiting for its
	// dependents to go first.
	ownerWaiting
)

// ownerState looks the owner up in the caches, then, to be sure a missing owner is
// not merely not yet seen, on the server.
func (c *Controller) ownerState(ctx context.Context, depNamespace string, ref metav1.OwnerReference) (ownerState, error) {
	var owner *metav1.PartialObjectMetadata
	if o, ok := c.cached(string(ref.UID)); ok {
		owner = o.obj
	} else {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return ownerGone, nil
		}
		gvr, ok := c.byKind[gv.WithKind(ref.Kind)]
		if !ok {
			// An owner of a kind this cluster does not serve cannot be checked; keep the object.
			return ownerLive, nil
		}
		ns := ""
		if c.resources[gvr].Namespaced {
			ns = depNamespace
		}
		owner, err = c.client.Resource(gvr).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ownerGone, nil
		}
		if err != nil {
			return ownerLive, err
		}
		if owner.UID != ref.UID {
			return ownerGone, nil
		}
	}
	if owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerLive, nil
}

// orphanDependents removes the owner from its dependents' references, then lets the
// owner go.
func (c *Controller) orphanDependents(ctx context.Context, gvr schema.GroupVersionResource, owner *metav1.PartialObjectMetadata) error {
	for _, d := range c.dependents(string(owner.UID)) {
		var kept []metav1.OwnerReference
		for _, ref := range d.obj.OwnerReferences {
			if ref.UID != owner.UID {
				kept = append(kept, ref)
			}
		}
		if err := c.setOwners(ctx, d.gvr, d.obj, kept); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, gvr, owner, metav1.FinalizerOrphanDependents)
}

// deleteDependentsFirst carries out an owner's foreground deletion: its dependents
// are collected (each deleted unless another owner keeps it), and the owner goes once
// no dependent that blocks its deletion (blockOwnerDeletion) is left.
func (c *Controller) deleteDependentsFirst(ctx context.Context, gvr schema.GroupVersionResource, owner *metav1.PartialObjectMetadata) error {
	blocking := 0
	var errs []error
	for _, d := range c.dependents(string(owner.UID)) {
		if blocks(d.obj, owner.UID) {
			blocking++
		}
		if d.obj.DeletionTimestamp == nil {
			errs = append(errs, c.collect(ctx, d.gvr, d.obj))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if blocking == 0 {
		return c.removeFinalizer(ctx, gvr, owner, metav1.FinalizerDeleteDependents)
	}
	// The dependents' deletions queue the owner again; this is the safety net.
	c.queue.AddAfter(key(gvr, owner.Namespace, owner.Name), waitForDependents)
	return nil
}

// blocks reports whether m holds back the foreground deletion of its owner uid.
func blocks(m *metav1.PartialObjectMetadata, uid types.UID) bool {
	for _, ref := range m.OwnerReferences {
		if ref.UID == uid && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

func (c *Controller) delete(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid := m.UID
	err := c.client.Resource(gvr).Namespace(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone already, or replaced by a new object of the same name, which is not ours.
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", gvr.Resource, m.Namespace, m.Name, err)
	}
	return nil
}

// setOwners replaces an object's ownerReferences, guarded by its resourceVersion.
func (c *Controller) setOwners(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata, refs []metav1.OwnerReference) error {
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	return c.patchMeta(ctx, gvr, m, map[string]any{"ownerReferences": refs})
}

func (c *Controller) removeFinalizer(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata, finalizer string) error {
	kept := []string{}
	for _, f := range m.Finalizers {
		if f != finalizer {
			kept = append(kept, f)
		}
	}
	return c.patchMeta(ctx, gvr, m, map[string]any{"finalizers": kept})
}

func (c *Controller) patchMeta(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata, fields map[string]any) error {
	fields["resourceVersion"] = m.ResourceVersion
	fields["uid"] = m.UID
	patch, err := json.Marshal(map[string]any{"metadata": fields})
	if err != nil {
		return err
	}
	_, err = c.client.Resource(gvr).Namespace(m.Namespace).Patch(ctx, m.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch %s %s/%s: %w", gvr.Resource, m.Namespace, m.Name, err)
	}
	return nil
}

func hasFinalizer(m *metav1.PartialObjectMetadata, f string) bool {
	for _, x := range m.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}
