package podcontrol

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewExpectations()
	e.now = func() time.Time { return now }
	if !e.Satisfied("ns/rs") {
		t.Fatal("unknown key should be satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("one creation still pending")
	}
	e.CreationObserved("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("all creations observed")
	}
	e.ExpectDeletions("ns/rs", "ns/a", "ns/b")
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // a second event for the same pod counts once
	if e.Satisfied("ns/rs") {
		t.Fatal("ns/b still pending")
	}
	now = now.Add(ExpectationsTTL + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("expired expectations should be satisfied")
	}
}

func TestClaim(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "owner"}}
	other := metav1.NewControllerRef(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "other"}}, gvk)
	mine := metav1.NewControllerRef(owner, gvk)
	pod := func(name, app string, ref *metav1.OwnerReference) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + types.UID(name), Labels: map[string]string{"app": app}}}
		if ref != nil {
			p.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("owned", "web", mine),   // kept
		pod("orphan", "web", nil),   // adopted
		pod("stray", "db", mine),    // released
		pod("theirs", "web", other), // left alone
		pod("unrelated", "db", nil), // left alone
	}
	var objs []runtime.Object
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewSimpleClientset(objs...)
	ctx := context.Background()
	got, err := Claim(ctx, owner, gvk, labels.SelectorFromSet(labels.Set{"app": "web"}), pods, PodPatcher(client, "ns"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if want := []string{"owned", "orphan"}; !slices.Equal(names, want) {
		t.Fatalf("claimed %v, want %v", names, want)
	}
	controller := func(name string) types.UID {
		p, err := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(p); ref != nil {
			return ref.UID
		}
		return ""
	}
	for name, want := range map[string]types.UID{"owned": "owner", "orphan": "owner", "stray": "", "theirs": "other", "unrelated": ""} {
		if got := controller(name); got != want {
			t.Errorf("pod %s controlled by %q, want %q", name, got, want)
		}
	}

	// An owner being deleted adopts nothing.
	now := metav1.Now()
	owner.DeletionTimestamp = &now
	got, err = Claim(ctx, owner, gvk, labels.Everything(), []*corev1.Pod{pod("late", "web", nil)}, PodPatcher(client, "ns"))
	if err != nil || len(got) != 0 {
		t.Fatalf("deleting owner claimed %v (err %v)", got, err)
	}
}

func TestOwnerKey(t *testing.T) {
	rs := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	owned := func(apiVersion, kind string, controller bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: apiVersion, Kind: kind, Name: "web", UID: "u", Controller: &controller},
		}}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"controlled", owned("apps/v1", "ReplicaSet", true), "ns/web"},
		{"not controller", owned("apps/v1", "ReplicaSet", false), ""},
		{"other kind", owned("apps/v1", "StatefulSet", true), ""},
		{"other group", owned("example.com/v1", "ReplicaSet", true), ""},
		{"orphan", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}, ""},
	} {
		key, ok := OwnerKey(tc.pod, rs)
		if key != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: OwnerKey = %q, %v; want %q", tc.name, key, ok, tc.want)
		}
	}
}

// The scheduler and the node lifecycle controller both index the one pod informer by
// node: the second asks for what is there already, and must not be refused.
func TestIndexByNodeTwice(t *testing.T) {
	pods := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0).Core().V1().Pods().Informer()
	for i := range 2 {
		if err := IndexByNode(pods); err != nil {
			t.Fatalf("index %d: %v", i+1, err)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "worker"}}
	if err := pods.GetIndexer().Add(pod); err != nil {
		t.Fatal(err)
	}
	if got, err := pods.GetIndexer().ByIndex(NodeIndex, "worker"); err != nil || len(got) != 1 {
		t.Errorf("pods of worker: %v, %v", got, err)
	}
}
