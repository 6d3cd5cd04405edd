package namespace

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

var (
	t0   = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	cms  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deps = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func object(kind, ns, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	apiVersion := "v1"
	if kind == "Deployment" {
		apiVersion = "apps/v1"
	}
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Finalizers: finalizers}}
}

func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &metav1.Time{Time: t0}},
		Spec: corev1.NamespaceSpec{Finalizers: finalizers}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
}

// api is the two clients the controller uses, the metadata one deleting a collection
// as the API server does: objects with finalizers stay, marked terminating.
type api struct {
	t      *testing.T
	client *fake.Clientset
	meta   *metadatafake.FakeMetadataClient
	clock  *clocktesting.FakeClock
	c      *Controller
	nsInf  informers.SharedInformerFactory
}

func newAPI(t *testing.T, ns *corev1.Namespace, objs ...runtime.Object) *api {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	a := &api{t: t, client: fake.NewSimpleClientset(ns), meta: metadatafake.NewSimpleMetadataClient(scheme, objs...), clock: clocktesting.NewFakeClock(t0)}
	a.meta.PrependReactor("delete-collection", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		tracker, gvr, ns := a.meta.Tracker(), action.GetResource(), action.GetNamespace()
		list, err := tracker.List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, ns)
		if err != nil {
			return true, nil, err
		}
		items, _ := list.(*metav1.List)
		for _, raw := range items.Items {
			m := raw.Object.(*metav1.PartialObjectMetadata)
			if len(m.Finalizers) == 0 {
				err = errors.Join(err, tracker.Delete(gvr, ns, m.Name))
				continue
			}
			if m.DeletionTimestamp == nil {
				m.DeletionTimestamp = &metav1.Time{Time: a.clock.Now()}
				err = errors.Join(err, tracker.Update(gvr, m, ns))
			}
		}
		return true, nil, err
	})
	a.nsInf = informers.NewSharedInformerFactory(a.client, 0)
	c, err := newController(a.client, a.meta, a.nsInf.Core().V1().Namespaces(), []schema.GroupVersionResource{pods, cms, deps},
		a.clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	return a
}

// sync makes the controller look at the namespace as the API has it now.
func (a *api) sync(name string) error {
	a.t.Helper()
	ns := a.namespace(name)
	if err := a.nsInf.Core().V1().Namespaces().Informer().GetStore().Update(ns); err != nil {
		a.t.Fatal(err)
	}
	return a.c.sync(context.Background(), name)
}

func (a *api) namespace(name string) *corev1.Namespace {
	a.t.Helper()
	ns, err := a.client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatal(err)
	}
	return ns
}

// left lists what is left of resource in ns, a name with "(terminating)" after it for
// an object waiting for its finalizers.
func (a *api) left(gvr schema.GroupVersionResource, ns string) []string {
	a.t.Helper()
	list, err := a.meta.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, m := range list.Items {
		if m.DeletionTimestamp != nil {
			out = append(out, m.Name+" (terminating)")
		} else {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// shown lists a namespace's conditions as "Type Status Reason: Message @ offset
// of the transition from t0".
func shown(ns *corev1.Namespace) []string {
	var out []string
	for _, c := range ns.Status.Conditions {
		out = append(out, string(c.Type)+" "+string(c.Status)+" "+c.Reason+": "+c.Message+" @"+c.LastTransitionTime.Sub(t0).String())
	}
	return out
}

func finalized(a *api) bool {
	for _, action := range a.client.Actions() {
		if action.GetSubresource() == "finalize" {
			return true
		}
	}
	return false
}

// A terminating namespace is emptied: what can go goes at once, and the namespace
// waits, saying why, for what waits for finalizers; then it is finalized.
func TestDeletion(t *testing.T) {
	a := newAPI(t, terminating("demo", corev1.FinalizerKubernetes, "example.com/keep"),
		object("Pod", "demo", "web"), object("Pod", "demo", "held", "example.com/hold"),
		object("ConfigMap", "demo", "settings"), object("ConfigMap", "demo", "more", "example.com/hold", "example.com/also"),
		object("Pod", "other", "bystander"))
	if err := a.sync("demo"); err != nil {
		t.Fatal(err)
	}
	if got, want := a.left(pods, "demo"), []string{"held (terminating)"}; !slices.Equal(got, want) {
		t.Errorf("pods left: %v, want %v", got, want)
	}
	if got, want := a.left(cms, "demo"), []string{"more (terminating)"}; !slices.Equal(got, want) {
		t.Errorf("configmaps left: %v, want %v", got, want)
	}
	if got := a.left(pods, "other"); !slices.Equal(got, []string{"bystander"}) {
		t.Errorf("another namespace's pods: %v", got)
	}
	want := []string{
		"NamespaceDeletionDiscoveryFailure False ResourcesDiscovered: All resources successfully discovered @0s",
		"NamespaceDeletionGroupVersionParsingFailure False ParsedGroupVersions: All legacy kube types successfully parsed @0s",
		"NamespaceDeletionContentFailure False ContentDeleted: All content successfully deleted, may be waiting on finalization @0s",
		"NamespaceContentRemaining True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances @0s",
		"NamespaceFinalizersRemaining True SomeFinalizerRemain: Some finalizers are remaining: example.com/also in 1 resource instances, example.com/hold in 2 resource instances @0s",
	}
	if got := shown(a.namespace("demo")); !slices.Equal(got, want) {
		t.Errorf("conditions:\n%q\nwant\n%q", got, want)
	}
	if finalized(a) {
		t.Fatal("finalized with content left")
	}

	// The controller looks again after recheck, by its clock.
	a.clock.Step(recheck - time.Millisecond)
	if n := a.c.queue.Len(); n != 0 {
		t.Fatalf("looked again before %s", recheck)
	}
	a.clock.Step(time.Millisecond)
	controllertest.Eventually(t, "the namespace queued again", func() bool { return a.c.queue.Len() == 1 })

	// Their finalizers done, the last objects go.
	for gvr, name := range map[schema.GroupVersionResource]string{pods: "held", cms: "more"} {
		if err := a.meta.Tracker().Delete(gvr, "demo", name); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.sync("demo"); err != nil {
		t.Fatal(err)
	}
	ns := a.namespace("demo")
	want[3] = "NamespaceContentRemaining False ContentRemoved: All content successfully removed @2s"
	want[4] = "NamespaceFinalizersRemaining False ContentRemoved: All content successfully removed @2s"
	if got := shown(ns); !slices.Equal(got, want) {
		t.Errorf("conditions:\n%q\nwant\n%q", got, want)
	}
	// Only the finalizer that is the controller's own goes.
	if !finalized(a) || !slices.Equal(ns.Spec.Finalizers, []corev1.FinalizerName{"example.com/keep"}) {
		t.Errorf("finalized %v, finalizers %v", finalized(a), ns.Spec.Finalizers)
	}
}

// A resource whose content cannot be deleted keeps the namespace, says so, and does
// not keep the other resources' content from going.
func TestContentFailure(t *testing.T) {
	a := newAPI(t, terminating("demo", corev1.FinalizerKubernetes), object("Pod", "demo", "web"), object("ConfigMap", "demo", "settings"))
	a.meta.PrependReactor("delete-collection", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	if err := a.sync("demo"); err == nil {
		t.Error("sync succeeded with content that could not be deleted")
	}
	if got := a.left(pods, "demo"); len(got) != 0 {
		t.Errorf("pods left: %v", got)
	}
	got := shown(a.namespace("demo"))
	if want := "NamespaceDeletionContentFailure True ContentDeletionFailed: Failed to delete all resource types, 1 remaining: etcdserver: request timed out @0s"; len(got) != 5 || got[2] != want {
		t.Errorf("conditions %q, want the third %q", got, want)
	}
	if finalized(a) {
		t.Error("finalized with content that could not be deleted")
	}
}

// Namespaces that are not terminating, or that the controller has finalized already,
// are left alone.
func TestLeftAlone(t *testing.T) {
	for name, ns := range map[string]*corev1.Namespace{
		"active":    {ObjectMeta: metav1.ObjectMeta{Name: "demo"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}},
		"finalized": terminating("demo", "example.com/keep"),
	} {
		t.Run(name, func(t *testing.T) {
			a := newAPI(t, ns, object("Pod", "demo", "web"))
			if err := a.sync("demo"); err != nil {
				t.Fatal(err)
			}
			if got := a.left(pods, "demo"); !slices.Equal(got, []string{"web"}) {
				t.Errorf("pods: %v", got)
			}
			for _, action := range a.client.Actions() {
				if action.GetVerb() != "get" {
					t.Errorf("the namespace was written: %s %s", action.GetVerb(), action.GetSubresource())
				}
			}
		})
	}
}
