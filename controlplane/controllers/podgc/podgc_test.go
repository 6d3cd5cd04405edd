package podgc

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestCollect(t *testing.T) {
	t0 := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	node := func(name string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}
	}
	pod := func(name, nodeName string, phase corev1.PodPhase, age time.Duration, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-age))},
			Spec: corev1.PodSpec{NodeName: nodeName}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: t0}
		}
		return p
	}
	nodes := []*corev1.Node{node("alive"), node("retired", corev1.Taint{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute})}
	pods := []*corev1.Pod{
		pod("old-done", "alive", corev1.PodSucceeded, 3*time.Hour, false),
		pod("older-failed", "alive", corev1.PodFailed, 4*time.Hour, false),
		pod("new-done", "alive", corev1.PodSucceeded, time.Hour, false),
		pod("running", "alive", corev1.PodRunning, 5*time.Hour, false),
		pod("on-gone-node", "gone", corev1.PodRunning, time.Hour, false),
		pod("out-of-service", "retired", corev1.PodRunning, time.Hour, true),
		pod("unscheduled-deleting", "", corev1.PodPending, time.Hour, true),
	}
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, n)
	}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(), Options{TerminatedThreshold: 1, Quarantine: 40 * time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	c.now = func() time.Time { return now }
	for _, n := range nodes {
		_ = factory.Core().V1().Nodes().Informer().GetStore().Add(n)
	}
	for _, p := range pods {
		_ = factory.Core().V1().Pods().Informer().GetStore().Add(p)
	}
	left := func() []string {
		list, _ := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
	ctx := context.Background()
	if err := c.collect(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Two of three finished pods go (threshold 1), the oldest first; the pod of the
	// missing node waits out its quarantine.
	if got, want := left(), []string{"new-done", "on-gone-node", "running"}; !slices.Equal(got, want) {
		t.Fatalf("after the first pass: %v, want %v", got, want)
	}
	// The informer would show those deletions.
	for _, p := range pods {
		if !slices.Contains(left(), p.Name) {
			_ = factory.Core().V1().Pods().Informer().GetStore().Delete(p)
		}
	}
	var marked []string
	client.PrependReactor("update", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			p := a.(clienttesting.UpdateAction).GetObject().(*corev1.Pod)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget {
					marked = append(marked, p.Name+" "+string(p.Status.Phase)+" "+c.Reason+": "+c.Message)
				}
			}
		}
		return false, nil, nil
	})
	now = t0.Add(41 * time.Second)
	if err := c.collect(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got, want := left(), []string{"new-done", "running"}; !slices.Equal(got, want) {
		t.Fatalf("after the quarantine: %v, want %v", got, want)
	}
	if want := []string{"on-gone-node Failed DeletionByPodGC: PodGC: node no longer exists"}; !slices.Equal(marked, want) {
		t.Errorf("pods marked before deletion: %v, want %v", marked, want)
	}
}
