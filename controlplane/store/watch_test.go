package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// next reads one event or fails the test after a while.
func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return Event{}
}

func TestWatchOrderPrefixAndResume(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	w := c.stores[leader]
	r := c.stores[c.followers(leader)[0]] // watch on a follower: its own history

	podsCh, err := r.Watch(ctx, "/v1/pods/", 0)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		typ  EventType
		key  string
		val  string
		prev string
	}
	var wants []want
	var revs []uint64
	record := func(e Entry, err error, typ EventType, prev string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Rev)
		if len(e.Key) > 9 && e.Key[:9] == "/v1/pods/" {
			wants = append(wants, want{typ, e.Key, string(e.Value), prev})
		}
	}
	e, err := w.Create(ctx, "/v1/pods/default/a", []byte("a1"))
	record(e, err, Added, "")
	e, err = w.Create(ctx, "/v1/nodes/n1", []byte("n1"))
	record(e, err, Added, "")
	if _, err := w.Update(ctx, "/v1/pods/default/a", []byte("no"), e.Rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("update with the node's rev: %v", err) // refused: no event
	}
	e, err = w.Update(ctx, "/v1/pods/default/a", []byte("a2"), revs[0])
	record(e, err, Modified, "a1")
	e, err = w.Create(ctx, "/v1/pods/kube-system/b", []byte("b1"))
	record(e, err, Added, "")
	e, err = w.Delete(ctx, "/v1/pods/default/a", 0)
	record(e, err, Deleted, "a2")

	var last uint64
	for i, wt := range wants {
		ev := next(t, podsCh)
		if ev.Err != nil {
			t.Fatalf("event %d: %v", i, ev.Err)
		}
		if ev.Type != wt.typ || ev.Entry.Key != wt.key || string(ev.Entry.Value) != wt.val || string(ev.Prev) != wt.prev {
			t.Fatalf("event %d = %s %s %q prev %q, want %+v", i, ev.Type, ev.Entry.Key, ev.Entry.Value, ev.Prev, wt)
		}
		if ev.Entry.Rev <= last {
			t.Fatalf("event %d rev %d after %d: out of order", i, ev.Entry.Rev, last)
		}
		last = ev.Entry.Rev
	}
	// Nothing else: the next event is a pod written after all the others.
	marker, err := w.Create(ctx, "/v1/pods/default/marker", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, podsCh); ev.Entry.Key != marker.Key {
		t.Fatalf("unexpected event %s %s at %d", ev.Type, ev.Entry.Key, ev.Entry.Rev)
	}
	last = marker.Rev

	// Resume from the rev of the first write: everything after it, nothing before.
	resumed, err := r.Watch(ctx, "/v1/", revs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range revs[1:] {
		ev := next(t, resumed)
		if ev.Entry.Rev != rev {
			t.Fatalf("resumed watch: event at %d, want %d", ev.Entry.Rev, rev)
		}
	}

	// A watch from a future revision starts when the store gets there.
	future, err := r.Watch(ctx, "/v1/", last+1)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := w.Create(ctx, "/v1/pods/default/f1", nil) // at last+1 or later
	w2, _ := w.Create(ctx, "/v1/pods/default/f2", nil)
	ev := next(t, future)
	if w1.Rev > last+1 && ev.Entry.Key != w1.Key || w1.Rev == last+1 && ev.Entry.Key != w2.Key {
		t.Fatalf("future watch from %d got %s at %d (writes at %d, %d)", last+1, ev.Entry.Key, ev.Entry.Rev, w1.Rev, w2.Rev)
	}

	// Cancelling the ctx closes the channel.
	wctx, cancel := context.WithCancel(ctx)
	ch, err := r.Watch(wctx, "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}

// TestWatchCompacted: a watch older than the history fails at once, and a watcher
// that stops reading gets an ErrCompacted event once the ring overtakes it; writes
// never wait for it.
func TestWatchCompacted(t *testing.T) {
	const history = 50
	c := newTestCluster(t, 3, withConfig(func(cfg *Config) { cfg.WatchHistory = history }))
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	s := c.stores[leader]

	first, err := s.Create(ctx, "/v1/pods/default/p0", nil)
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := s.Watch(ctx, "/v1/pods/", first.Rev-1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < history+watchBuffer+10; i++ {
		if _, err := s.Create(ctx, fmt.Sprintf("/v1/pods/default/p%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Watch(ctx, "/v1/pods/", first.Rev); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v, want ErrCompacted", err)
	}
	if _, err := s.Watch(ctx, "/v1/pods/", s.Rev()-5); err != nil {
		t.Fatalf("watch from a recent revision: %v", err)
	}

	// The stalled watcher got its buffer's worth, then the error, then the close.
	var n int
	var last Event
	for ev := range stalled {
		last = ev
		if ev.Err == nil {
			n++
		}
	}
	if !errors.Is(last.Err, ErrCompacted) || last.Type != 0 {
		t.Fatalf("stalled watcher ended with %+v after %d events, want an ErrCompacted event", last, n)
	}
	if n == 0 || n > watchBuffer+watchBatch {
		t.Fatalf("stalled watcher got %d events before the error", n)
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(4)
	for rev := uint64(10); rev <= 16; rev += 2 { // 10 12 14 16
		h.append(Event{Entry: Entry{Rev: rev}})
	}
	if h.floor != 0 || h.first != 0 || h.end() != 4 {
		t.Fatalf("full ring: floor %d first %d end %d", h.floor, h.first, h.end())
	}
	h.append(Event{Entry: Entry{Rev: 18}}) // drops 10
	h.append(Event{Entry: Entry{Rev: 20}}) // drops 12
	if h.floor != 12 || h.first != 2 || h.end() != 6 {
		t.Fatalf("after wrap: floor %d first %d end %d", h.floor, h.first, h.end())
	}
	tests := []struct {
		rev  uint64
		want uint64 // seq of the first event above rev
	}{{12, 2}, {13, 2}, {14, 3}, {19, 5}, {20, 6}, {99, 6}}
	for _, tt := range tests {
		if got := h.seqAfter(tt.rev); got != tt.want {
			t.Errorf("seqAfter(%d) = %d, want %d", tt.rev, got, tt.want)
		}
		if s := h.seqAfter(tt.rev); s < h.end() && h.at(s).Entry.Rev <= tt.rev {
			t.Errorf("seqAfter(%d) points at rev %d", tt.rev, h.at(s).Entry.Rev)
		}
	}
	epoch := h.epoch
	h.reset(30)
	if h.floor != 30 || h.end() != h.first || h.epoch == epoch {
		t.Fatalf("after reset: %+v", h)
	}
}
