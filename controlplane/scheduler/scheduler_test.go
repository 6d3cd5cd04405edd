package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// runScheduler runs a scheduler against a fake clientset holding objs, whose binds
// go through bind (which may fail them) and then set the pod's node, after a pause
// that makes binds overlap.
func runScheduler(t *testing.T, bind func(*corev1.Binding) error, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	client.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		create := action.(k8stesting.CreateAction)
		if create.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*corev1.Binding)
		time.Sleep(50 * time.Millisecond)
		if err := bind(b); err != nil {
			return true, nil, err
		}
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(corev1.Resource("pods/binding"), b.Name, errors.New("already bound"))
		}
		pod.Spec.NodeName = b.Target.Name
		return true, nil, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace)
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	s, err := New(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(), record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); factory.Shutdown() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx, 16)
	}()
	return client
}

// placement waits until every named pod is bound or marked Unschedulable, and
// returns each one's node ("" for unschedulable).
func placement(t *testing.T, client *fake.Clientset, names ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := map[string]string{}
		for _, name := range names {
			p, err := client.CoreV1().Pods("demo").Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.NodeName != "" {
				out[name] = p.Spec.NodeName
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
					out[name] = ""
				}
			}
		}
		if len(out) == len(names) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all pods placed or refused within 10s: %v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBindsInFlightTakeRoom: pods decided while others are still binding see them
// on their nodes, so a node never gets more than it holds.
func TestBindsInFlightTakeRoom(t *testing.T) {
	client := runScheduler(t, func(*corev1.Binding) error { return nil },
		node("w1", "2"), pod("a", "1"), pod("b", "1"), pod("c", "1"))
	got := placement(t, client, "a", "b", "c")
	bound := 0
	for _, n := range got {
		if n == "w1" {
			bound++
		}
	}
	if bound != 2 {
		t.Errorf("placement %v: want two pods on w1 and one unschedulable", got)
	}
}

// TestFailedBindIsRetried: a bind the API refuses leaves the pod pending and its room
// free, and the pod is bound on a later try.
func TestFailedBindIsRetried(t *testing.T) {
	var mu sync.Mutex
	failures := 0
	client := runScheduler(t, func(b *corev1.Binding) error {
		mu.Lock()
		defer mu.Unlock()
		if b.Name == "a" && failures < 2 {
			failures++
			return apierrors.NewServiceUnavailable("no leader")
		}
		return nil
	}, node("w1", "1"), pod("a", "1"))
	if got := placement(t, client, "a"); got["a"] != "w1" {
		t.Errorf("placement %v: want a on w1 after the failed binds", got)
	}
}
