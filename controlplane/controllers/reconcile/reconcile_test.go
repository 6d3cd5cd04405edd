package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// records keeps what a Loop logs, for tests to read.
type records struct {
	mu   sync.Mutex
	logs []slog.Record
	// gaveUp is closed when the loop logs that it gives up on a key.
	gaveUp chan struct{}
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, rec)
	if rec.Message == "sync failed, giving up until the object changes" {
		close(r.gaveUp)
	}
	return nil
}

// warnings lists the Warn records as "message key=value", with the given attributes.
func (r *records) warnings(attrs ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.logs {
		if rec.Level != slog.LevelWarn {
			continue
		}
		line := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			if slices.Contains(attrs, a.Key) {
				line += " " + a.Key + "=" + a.Value.String()
			}
			return true
		})
		out = append(out, line)
	}
	return out
}

// fastQueue retries at once, so a test sees every attempt without waiting out
// client-go's back-off.
func fastQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Microsecond, time.Microsecond))
}

func TestRetriesAreWarnedWithTheAttemptAndEnd(t *testing.T) {
	logs := &records{gaveUp: make(chan struct{})}
	var calls atomic.Int32
	l := Loop{Name: "test", Queue: fastQueue(), Log: slog.New(logs),
		Sync: func(context.Context, string) error {
			calls.Add(1)
			return errors.New("boom")
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, 1)
	}()
	l.Queue.Add("default/a")
	select {
	case <-logs.gaveUp:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop never gave up on a key that always fails")
	}
	cancel()
	<-done

	var want []string
	for i := 1; i <= maxRetries; i++ {
		want = append(want, "sync failed, retrying attempt="+strconv.Itoa(i))
	}
	want = append(want, "sync failed, giving up until the object changes attempts="+strconv.Itoa(maxRetries+1))
	if got := logs.warnings("attempt", "attempts"); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", got, want)
	}
	if n := calls.Load(); n != maxRetries+1 {
		t.Errorf("%d syncs, want %d", n, maxRetries+1)
	}
	if n := l.Queue.NumRequeues("default/a"); n != 0 {
		t.Errorf("a key given up on still counts %d requeues", n)
	}
}

func TestSuccessForgetsFailures(t *testing.T) {
	logs := &records{gaveUp: make(chan struct{})}
	synced := make(chan struct{})
	var calls atomic.Int32
	l := Loop{Name: "test", Queue: fastQueue(), Log: slog.New(logs),
		Sync: func(context.Context, string) error {
			if calls.Add(1) < 3 {
				return errors.New("not yet")
			}
			close(synced)
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, 1)
	}()
	l.Queue.Add("k")
	<-synced
	cancel()
	<-done
	if got, want := logs.warnings("attempt"), []string{"sync failed, retrying attempt=1", "sync failed, retrying attempt=2"}; !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	if n := l.Queue.NumRequeues("k"); n != 0 {
		t.Errorf("after a success the key still counts %d requeues", n)
	}
}

// Run returns only once every worker has returned from its sync.
func TestRunJoinsItsWorkers(t *testing.T) {
	var running atomic.Int32
	started := make(chan struct{}, 3)
	l := Loop{Name: "test", Queue: fastQueue(), Log: slog.New(&records{gaveUp: make(chan struct{})}),
		Sync: func(ctx context.Context, _ string) error {
			running.Add(1)
			defer running.Add(-1)
			started <- struct{}{}
			<-ctx.Done()
			// A sync that takes a moment to wind down must still be waited for.
			time.Sleep(10 * time.Millisecond)
			return ctx.Err()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, 3)
	}()
	for _, k := range []string{"a", "b", "c"} {
		l.Queue.Add(k)
	}
	for range 3 {
		<-started
	}
	cancel()
	<-done
	if n := running.Load(); n != 0 {
		t.Errorf("Run returned with %d syncs still running", n)
	}
}
