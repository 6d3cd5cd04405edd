package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

var (
	deployments = Resource{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Kind: "Deployment", Namespaced: true}
	replicaSets = Resource{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, Kind: "ReplicaSet", Namespaced: true}
	pods        = Resource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Kind: "Pod", Namespaced: true}
	kinds       = map[string]Resource{"Deployment": deployments, "ReplicaSet": replicaSets, "Pod": pods}
)

// obj makes an object of kind named name, with uid "uid-<name>", owned by owners.
func obj(kind, name string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	gv := kinds[kind].GVR.GroupVersion()
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: gv.String(), Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), OwnerReferences: owners}}
}

// ref references owner, blocking its foreground deletion if block.
func ref(owner *metav1.PartialObjectMetadata, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(block)}
}

// deleting marks m as being deleted, holding finalizers.
func deleting(m *metav1.PartialObjectMetadata, finalizers ...string) *metav1.PartialObjectMetadata {
	m = m.DeepCopy()
	m.DeletionTimestamp = &metav1.Time{Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	m.Finalizers = append(m.Finalizers, finalizers...)
	return m
}

// writes records what the collector writes, in words: the fake metadata client
// forgets delete options.
type writes struct {
	metadata.Interface
	mu  sync.Mutex
	log []string
}

func (w *writes) Resource(gvr schema.GroupVersionResource) metadata.Getter {
	return &recorded{ResourceInterface: w.Interface.Resource(gvr), getter: w.Interface.Resource(gvr), w: w, gvr: gvr}
}

func (w *writes) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.log
	w.log = nil
	return out
}

type recorded struct {
	metadata.ResourceInterface
	getter metadata.Getter
	w      *writes
	gvr    schema.GroupVersionResource
	ns     string
}

func (r *recorded) Namespace(ns string) metadata.ResourceInterface {
	return &recorded{ResourceInterface: r.getter.Namespace(ns), getter: r.getter, w: r.w, gvr: r.gvr, ns: ns}
}

func (r *recorded) record(s string) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.log = append(r.w.log, s)
}

// Delete records "delete <resource> <name> <policy>", and whether the precondition
// names the object's uid.
func (r *recorded) Delete(ctx context.Context, name string, opts metav1.DeleteOptions, subresources ...string) error {
	line := fmt.Sprintf("delete %s %s %s", r.gvr.Resource, name, ptr.Deref(opts.PropagationPolicy, "(no policy)"))
	if opts.Preconditions == nil || ptr.Deref(opts.Preconditions.UID, "") != types.UID("uid-"+name) {
		line += " without a uid precondition"
	}
	r.record(line)
	return r.ResourceInterface.Delete(ctx, name, opts, subresources...)
}

// Patch records "patch <resource> <name> owners=[...]" or "... finalizers=[...]".
func (r *recorded) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*metav1.PartialObjectMetadata, error) {
	var p struct {
		Metadata struct {
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
			Finalizers      *[]string               `json:"finalizers"`
			UID             types.UID               `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	line := fmt.Sprintf("patch %s %s", r.gvr.Resource, name)
	if p.Metadata.Finalizers != nil {
		line += fmt.Sprintf(" finalizers=%v", *p.Metadata.Finalizers)
	} else {
		var owners []string
		for _, o := range p.Metadata.OwnerReferences {
			owners = append(owners, o.Name)
		}
		line += fmt.Sprintf(" owners=%v", owners)
	}
	if p.Metadata.UID != types.UID("uid-"+name) {
		line += " without a uid precondition"
	}
	r.record(line)
	return r.ResourceInterface.Patch(ctx, name, pt, data, opts, subresources...)
}

// cluster is an API (the fake metadata client) and a collector on a fake clock. The
// informers' stores are filled from the API around every sync, as their watches
// would, so each step of a test sees what the last one wrote.
type cluster struct {
	t      *testing.T
	meta   *metadatafake.FakeMetadataClient
	writes *writes
	clock  *clocktesting.FakeClock
	c      *Controller
}

func newCluster(t *testing.T, objs ...*metav1.PartialObjectMetadata) *cluster {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var raw []runtime.Object
	for _, o := range objs {
		raw = append(raw, o)
	}
	h := &cluster{t: t, meta: metadatafake.NewSimpleMetadataClient(scheme, raw...), clock: clocktesting.NewFakeClock(time.Now())}
	h.writes = &writes{Interface: h.meta}
	var resources []Resource
	for _, r := range []Resource{deployments, replicaSets, pods} {
		r.Informer = metadatainformer.NewFilteredMetadataInformer(h.meta, r.GVR, "", 0, cache.Indexers{}, nil).Informer()
		resources = append(resources, r)
	}
	c, err := newController(h.writes, resources, h.clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.refresh()
	return h
}

func (h *cluster) refresh() {
	h.t.Helper()
	for gvr, inf := range h.c.informers {
		list, err := h.meta.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			h.t.Fatal(err)
		}
		var items []any
		for i := range list.Items {
			items = append(items, &list.Items[i])
		}
		if err := inf.GetStore().Replace(items, ""); err != nil {
			h.t.Fatal(err)
		}
	}
}

// sync makes the collector look at the object, and returns what it wrote.
func (h *cluster) sync(m *metav1.PartialObjectMetadata) []string {
	h.t.Helper()
	h.refresh()
	h.writes.take()
	if err := h.c.sync(context.Background(), key(kinds[m.Kind].GVR, m.Namespace, m.Name)); err != nil {
		h.t.Fatal(err)
	}
	h.refresh()
	return h.writes.take()
}

// remove deletes m from the API behind the collector's back (its finalizers done).
func (h *cluster) remove(m *metav1.PartialObjectMetadata) {
	h.t.Helper()
	if err := h.meta.Tracker().Delete(kinds[m.Kind].GVR, m.Namespace, m.Name); err != nil {
		h.t.Fatal(err)
	}
}

func TestCollect(t *testing.T) {
	web := obj("Deployment", "web")
	rs := obj("ReplicaSet", "web-1", ref(web, true))
	other := obj("ReplicaSet", "other")
	for _, tt := range []struct {
		name string
		// objs are in the API and the collector's caches; serverOnly in the API alone.
		objs, serverOnly []*metav1.PartialObjectMetadata
		sync             *metav1.PartialObjectMetadata
		want             []string
	}{
		{name: "an owner that is gone: background deletion",
			objs: []*metav1.PartialObjectMetadata{rs}, sync: rs,
			want: []string{"delete replicasets web-1 Background"}},
		{name: "an owner that never existed, of another kind",
			objs: []*metav1.PartialObjectMetadata{obj("Pod", "stray", ref(obj("ReplicaSet", "nowhere"), false))}, sync: obj("Pod", "stray"),
			want: []string{"delete pods stray Background"}},
		{name: "an owner replaced by another of its name",
			objs: []*metav1.PartialObjectMetadata{rs, {TypeMeta: web.TypeMeta, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "a-new-uid"}}},
			sync: rs, want: []string{"delete replicasets web-1 Background"}},
		{name: "an owner the caches have not seen yet",
			objs: []*metav1.PartialObjectMetadata{rs}, serverOnly: []*metav1.PartialObjectMetadata{web}, sync: rs},
		{name: "a live owner",
			objs: []*metav1.PartialObjectMetadata{web, rs}, sync: rs},
		{name: "one owner of two gone: only its reference goes",
			objs: []*metav1.PartialObjectMetadata{other, obj("Pod", "shared", ref(web, true), ref(other, false))}, sync: obj("Pod", "shared"),
			want: []string{"patch pods shared owners=[other]"}},
		{name: "an owner of a kind the cluster does not serve",
			objs: []*metav1.PartialObjectMetadata{obj("Pod", "widgets", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "uid-w"})},
			sync: obj("Pod", "widgets")},
		{name: "a dependent already terminating",
			objs: []*metav1.PartialObjectMetadata{deleting(rs, "example.com/hold")}, sync: rs},
		{name: "an object whose own finalizer asks to orphan is deleted so",
			objs: []*metav1.PartialObjectMetadata{{TypeMeta: rs.TypeMeta, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", UID: "uid-web-1",
				OwnerReferences: rs.OwnerReferences, Finalizers: []string{metav1.FinalizerOrphanDependents}}}},
			sync: rs, want: []string{"delete replicasets web-1 Orphan"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newCluster(t, tt.objs...)
			for _, o := range tt.serverOnly {
				if err := h.meta.Tracker().Add(o); err != nil {
					t.Fatal(err)
				}
			}
			h.writes.take()
			if err := h.c.sync(context.Background(), key(kinds[tt.sync.Kind].GVR, "default", tt.sync.Name)); err != nil {
				t.Fatal(err)
			}
			if got := h.writes.take(); !slices.Equal(got, tt.want) {
				t.Errorf("writes %q, want %q", got, tt.want)
			}
		})
	}
}

// Foreground deletion: the owner's dependents are collected, each as its other
// owners allow, and the owner goes once no dependent that blocks it is left; those
// that do not block (one terminating slowly here) do not hold it.
func TestForeground(t *testing.T) {
	owner := deleting(obj("ReplicaSet", "web-1"), metav1.FinalizerDeleteDependents, "example.com/keep")
	other := obj("ReplicaSet", "other")
	a := obj("Pod", "a", ref(owner, true))
	b := deleting(obj("Pod", "b", ref(owner, true)), "example.com/hold")
	loose := obj("Pod", "loose", ref(owner, false))
	slow := deleting(obj("Pod", "slow", ref(owner, false)), "example.com/hold")
	shared := obj("Pod", "shared", ref(owner, true), ref(other, false))
	h := newCluster(t, owner, other, a, b, loose, slow, shared)

	got := h.sync(owner)
	slices.Sort(got)
	if want := []string{"delete pods a Background", "delete pods loose Background", "patch pods shared owners=[other]"}; !slices.Equal(got, want) {
		t.Fatalf("first look: %q, want %q", got, want)
	}
	// b still blocks the owner. The collector looks again by itself after a while,
	// on its clock.
	h.clock.Step(waitForDependents - time.Millisecond)
	if n := h.c.queue.Len(); n != 0 {
		t.Fatalf("owner queued again before %s", waitForDependents)
	}
	h.clock.Step(time.Millisecond)
	controllertest.Eventually(t, "the owner queued again", func() bool { return h.c.queue.Len() == 1 })
	if got := h.sync(owner); len(got) != 0 {
		t.Fatalf("while b terminates: %q", got)
	}

	// b's finalizer is done and it goes: the owner is queued, and let go.
	for h.c.queue.Len() > 0 {
		k, _ := h.c.queue.Get()
		h.c.queue.Forget(k)
		h.c.queue.Done(k)
	}
	h.remove(b)
	h.c.gone(b)
	if k, _ := h.c.queue.Get(); k != key(replicaSets.GVR, "default", "web-1") {
		t.Errorf("queued %q when its blocking dependent went", k)
	}
	if got, want := h.sync(owner), []string{"patch replicasets web-1 finalizers=[example.com/keep]"}; !slices.Equal(got, want) {
		t.Errorf("with no blocking dependent left: %q, want %q", got, want)
	}
}

// A dependent with dependents of its own goes in the foreground too, so the owner
// waits for the whole tree.
func TestForegroundTree(t *testing.T) {
	web := deleting(obj("Deployment", "web"), metav1.FinalizerDeleteDependents)
	rs := obj("ReplicaSet", "web-1", ref(web, true))
	pod := obj("Pod", "web-1-a", ref(rs, true))
	h := newCluster(t, web, rs, pod)
	if got, want := h.sync(web), []string{"delete replicasets web-1 Foreground"}; !slices.Equal(got, want) {
		t.Errorf("writes %q, want %q", got, want)
	}
}

// Orphaning: the dependents lose their reference to the owner and stay; then the
// owner goes.
func TestOrphan(t *testing.T) {
	owner := deleting(obj("ReplicaSet", "web-1"), metav1.FinalizerOrphanDependents)
	other := obj("ReplicaSet", "other")
	h := newCluster(t, owner, other, obj("Pod", "a", ref(owner, true)), obj("Pod", "shared", ref(other, false), ref(owner, true)))
	got := h.sync(owner)
	if want := []string{"patch pods a owners=[]", "patch pods shared owners=[other]", "patch replicasets web-1 finalizers=[]"}; !slices.Equal(sortedButLast(got), want) {
		t.Errorf("writes %q, want %q", got, want)
	}
	for _, name := range []string{"a", "shared"} {
		if _, err := h.meta.Resource(pods.GVR).Namespace("default").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("orphaned pod %s: %v", name, err)
		}
	}
}

// sortedButLast sorts all but the last of writes (the dependents' patches come in no
// set order; the owner's comes after them all).
func sortedButLast(writes []string) []string {
	if len(writes) < 2 {
		return writes
	}
	out := slices.Clone(writes[:len(writes)-1])
	slices.Sort(out)
	return append(out, writes[len(writes)-1])
}
