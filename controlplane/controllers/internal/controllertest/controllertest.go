// Package controllertest runs controllers against client-go's fake clientset, for
// their unit tests.
package controllertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// Timeout bounds every wait of a test on a controller.
const Timeout = 10 * time.Second

// Start starts factory's informers on client, waits until each has listed and opened
// its watch, and runs run until the test ends. Changes made through client after
// Start returns reach the informers: the fake clientset drops those made between an
// informer's list and its watch. When the test ends run's context is cancelled, and
// the test fails if run does not return: a controller's Run must not outlive it.
func Start(t testing.TB, client *fake.Clientset, factory informers.SharedInformerFactory, run func(context.Context)) {
	t.Helper()
	var mu sync.Mutex
	watching := 0
	client.PrependWatchReactor("*", func(a clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(a.GetResource(), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		mu.Lock()
		watching++
		mu.Unlock()
		return true, w, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(Timeout):
			t.Errorf("Run did not return within %s of its context ending", Timeout)
		}
		factory.Shutdown()
	})
	factory.Start(ctx.Done())
	synced := factory.WaitForCacheSync(ctx.Done())
	for typ, ok := range synced {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}
	Eventually(t, "every informer watching", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return watching >= len(synced)
	})
	go func() {
		defer close(done)
		run(ctx)
	}()
}

// Eventually waits until cond holds, failing the test if it does not within Timeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, Timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
