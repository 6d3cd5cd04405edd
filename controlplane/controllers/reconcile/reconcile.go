// Package reconcile is the work loop every kindlike controller shares: a rate-limited
// queue of object keys drained by workers that each call the controller's sync
// function, requeueing with back-off when it fails.
package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// maxRetries is how often a failing key is retried with back-off before it is dropped
// until its object changes again.
const maxRetries = 15

// Loop drains a queue of keys into Sync.
type Loop struct {
	Name  string
	Queue workqueue.TypedRateLimitingInterface[string]
	// Sync makes one step of the object named by key toward its desired state. It reads
	// current state itself (from listers), never trusting the event that queued key.
	Sync func(ctx context.Context, key string) error
	Log  *slog.Logger
}

// NewQueue makes the queue a Loop drains, with client-go's default back-off.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return NewQueueWithClock(name, clock.RealClock{})
}

// NewQueueWithClock is NewQueue on clk: delayed adds and back-off wait on it, so a
// test's fake clock decides when they come due.
func NewQueueWithClock(name string, clk clock.WithTicker) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: clk},
	)
}

// Enqueue adds the key of an informer object (or tombstone) to q.
func Enqueue(q workqueue.TypedRateLimitingInterface[string], obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		q.Add(key)
	}
}

// Handler queues the key of every object its informer adds, updates or deletes:
// what a controller registers for the kind it reconciles.
func Handler(q workqueue.TypedRateLimitingInterface[string]) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { Enqueue(q, obj) },
		UpdateFunc: func(_, obj any) { Enqueue(q, obj) },
		DeleteFunc: func(obj any) { Enqueue(q, obj) },
	}
}

// OnChange calls changed with every object its informer adds or deletes, and with
// both the old and the new state of an update (a change of labels or owner may concern
// two owners): what a controller registers for the objects it owns.
func OnChange(changed func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(old, cur any) { changed(old); changed(cur) },
		DeleteFunc: changed,
	}
}

// Unwrap returns the last known state of a deleted object an informer hands over
// as a tombstone, and any other object as it is.
func Unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

// Run waits for the caches, then runs workers until ctx ends, and returns when
// every worker has stopped.
func (l *Loop) Run(ctx context.Context, workers int, synced ...cache.InformerSynced) {
	defer l.Queue.ShutDown()
	if !cache.WaitForNamedCacheSync(l.Name, ctx.Done(), synced...) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.processNextWorkItem(ctx) {
			}
		}()
	}
	<-ctx.Done()
	l.Queue.ShutDown()
	wg.Wait()
}

func (l *Loop) processNextWorkItem(ctx context.Context) bool {
	key, quit := l.Queue.Get()
	if quit {
		return false
	}
	defer l.Queue.Done(key)
	start := time.Now()
	err := l.Sync(ctx, key)
	switch {
	case err == nil:
		l.Queue.Forget(key)
	case ctx.Err() != nil:
		// Shutting down: the next leader starts over from current state.
	case l.Queue.NumRequeues(key) < maxRetries:
		l.Log.Warn("sync failed, retrying", "controller", l.Name, "key", key, "attempt", l.Queue.NumRequeues(key)+1, "err", err)
		l.Queue.AddRateLimited(key)
	default:
		l.Log.Warn("sync failed, giving up until the object changes", "controller", l.Name, "key", key, "attempts", l.Queue.NumRequeues(key)+1, "err", err)
		l.Queue.Forget(key)
	}
	if d := time.Since(start); d > time.Second {
		l.Log.Debug("slow sync", "controller", l.Name, "key", key, "took", d)
	}
	return true
}
