package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeaderKilledDuringWrites kills the leader while 8 clients create keys through
// every member. A new leader must be elected within 3 s, every acknowledged create
// must be on every surviving member (and on the killed one once it is back), and
// writes must go on.
func TestLeaderKilledDuringWrites(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 60*time.Second)

	members := append([]*Store(nil), c.stores...)
	var down atomic.Int32
	down.Store(-1)
	type ack struct {
		key string
		rev uint64
	}
	var (
		mu       sync.Mutex
		acked    []ack
		killedAt time.Time
		afterN   int // acknowledged writes submitted after the kill
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := w % 3
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if int(down.Load()) == target {
					target = (target + 1) % 3
				}
				key := fmt.Sprintf("/v1/pods/w%d/p%d", w, n)
				started := time.Now()
				e, err := members[target].Create(ctx, key, []byte(key))
				switch {
				case err == nil:
					mu.Lock()
					acked = append(acked, ack{key, e.Rev})
					if !killedAt.IsZero() && started.After(killedAt) {
						afterN++
					}
					mu.Unlock()
				case errors.Is(err, ErrClosed), errors.Is(err, ErrNoLeader):
					// The member died under us, or leadership moved mid-write (the
					// create may or may not exist: not acknowledged, not checked).
					target = (target + 1) % 3
				default:
					t.Errorf("writer %d: create %s: %v", w, key, err)
					return
				}
			}
		}()
	}

	time.Sleep(time.Second)
	mu.Lock()
	before := len(acked)
	killedAt = time.Now()
	mu.Unlock()
	down.Store(int32(leader))
	c.stop(leader)
	newLeader := c.leader(3 * time.Second)
	elected := time.Since(killedAt)
	if newLeader == leader {
		t.Fatal("killed member still leads")
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d creates before the kill, %d in total, %d submitted after it; new leader after %s",
		before, len(acked), afterN, elected.Round(time.Millisecond))
	if before < 50 {
		t.Errorf("only %d creates in the second before the kill", before)
	}
	if afterN < 50 {
		t.Errorf("only %d creates acknowledged after the kill: writes did not continue", afterN)
	}

	var maxRev uint64
	for _, a := range acked {
		maxRev = max(maxRev, a.rev)
	}
	check := func(i int) {
		t.Helper()
		s := c.stores[i]
		if err := s.WaitForRev(ctx, maxRev); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		missing := 0
		for _, a := range acked {
			e, err := s.Get(ctx, a.key, false)
			if err != nil || e.Rev != a.rev {
				if missing++; missing <= 5 {
					t.Errorf("member %d: acknowledged %s at %d: got %+v, %v", i, a.key, a.rev, e, err)
				}
			}
		}
		if missing > 0 {
			t.Errorf("member %d lost %d of %d acknowledged creates", i, missing, len(acked))
		}
	}
	for _, i := range c.running() {
		check(i)
	}
	c.start(leader)
	check(leader)
}

// TestRestartAllKeepsEverything stops every member and starts them again on the same
// data dirs: every object comes back with its revision, nothing is bootstrapped over
// it, and revisions keep growing.
func TestRestartAllKeepsEverything(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 40*time.Second)
	want := map[string]Entry{}
	for n := range 150 {
		s := c.stores[n%3]
		key := fmt.Sprintf("/v1/configmaps/ns%d/cm%d", n%4, n)
		e, err := s.Create(ctx, key, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		want[key] = e
		switch n % 5 {
		case 1:
			if e, err = s.Update(ctx, key, []byte("updated"), e.Rev); err != nil {
				t.Fatal(err)
			}
			want[key] = e
		case 2:
			if _, err = s.Delete(ctx, key, e.Rev); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
		}
	}
	lastRev := c.stores[leader].Rev()

	// Stop the leader last, so the others have every committed entry as well.
	for _, i := range c.followers(leader) {
		c.stop(i)
	}
	c.stop(leader)
	for i := range c.stores {
		c.start(i)
	}
	c.leader(10 * time.Second)
	for i, s := range c.stores {
		got, rev, err := s.List(ctx, "/v1/configmaps/", true)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if rev < lastRev {
			t.Errorf("member %d: rev %d after restart, was %d", i, rev, lastRev)
		}
		if len(got) != len(want) {
			t.Errorf("member %d: %d objects after restart, want %d", i, len(got), len(want))
		}
		for _, e := range got {
			w, ok := want[e.Key]
			if !ok || w.Rev != e.Rev || w.CreateRev != e.CreateRev || string(w.Value) != string(e.Value) {
				t.Errorf("member %d: %+v after restart, want %+v", i, e, w)
			}
		}
	}
	e, err := c.stores[0].Create(ctx, "/v1/configmaps/ns0/after-restart", nil)
	if err != nil || e.Rev <= lastRev {
		t.Fatalf("create after restart: %+v, %v (last rev before: %d)", e, err, lastRev)
	}
}

// TestSnapshotCompactsAndRestores forces snapshots: the log stays bounded, a member
// that missed more than the log keeps catches up from a snapshot (and its watchers
// learn their history is gone), and a full restart recovers from snapshot plus log.
func TestSnapshotCompactsAndRestores(t *testing.T) {
	const threshold, trailing = 64, 32
	c := newTestCluster(t, 3, withConfig(func(cfg *Config) {
		cfg.SnapshotThreshold = threshold
		cfg.TrailingLogs = trailing
		cfg.SnapshotInterval = 50 * time.Millisecond
	}))
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 40*time.Second)
	write := func(from, to int) {
		t.Helper()
		for n := from; n < to; n++ {
			key := fmt.Sprintf("/v1/pods/default/p%04d", n)
			if _, err := c.stores[c.leader(5*time.Second)].Update(ctx, key, []byte(key+"-v2"), 0); err == nil {
				continue
			}
			if _, err := c.stores[c.leader(5*time.Second)].Create(ctx, key, []byte(key)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// logBounded waits until member i compacted its log to a bounded length.
	logBounded := func(i int) {
		t.Helper()
		s := c.stores[i]
		deadline := time.Now().Add(10 * time.Second)
		for {
			first, _ := s.bolt.FirstIndex()
			last, _ := s.bolt.LastIndex()
			if first > 1 && last-first+1 <= threshold+trailing+16 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d: log holds %d..%d after writes stopped", i, first, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write(0, 600)
	for i := range c.stores {
		logBounded(i)
	}

	lagging := c.followers(leader)[0]
	lagLast, _ := c.stores[lagging].bolt.LastIndex()
	c.stop(lagging)
	write(400, 900) // updates and creates the lagging member never saw in its log
	now := c.leader(5 * time.Second)
	logBounded(now)
	if first, _ := c.stores[now].bolt.FirstIndex(); first <= lagLast+1 {
		t.Fatalf("leader's log starts at %d, the lagging member stopped at %d: no snapshot needed", first, lagLast)
	}
	c.start(lagging)
	lagger := c.stores[lagging]
	leaderRev := c.stores[c.leader(5*time.Second)].Rev()
	if err := lagger.WaitForRev(ctx, leaderRev); err != nil {
		t.Fatal(err)
	}
	// It came back through a snapshot: its history starts there.
	if _, err := lagger.Watch(ctx, "/", 1); !errors.Is(err, ErrCompacted) {
		t.Errorf("watch from rev 1 on the restored member: %v, want ErrCompacted", err)
	}
	wantList, _, err := c.stores[c.leader(5*time.Second)].List(ctx, "/v1/pods/", true)
	if err != nil || len(wantList) != 900 {
		t.Fatalf("leader list: %d objects, %v", len(wantList), err)
	}
	sameList := func(i int) {
		t.Helper()
		got, _, err := c.stores[i].List(ctx, "/v1/pods/", true)
		if err != nil || len(got) != len(wantList) {
			t.Fatalf("member %d: %d objects, %v; want %d", i, len(got), err, len(wantList))
		}
		for j := range got {
			if got[j].Key != wantList[j].Key || got[j].Rev != wantList[j].Rev || string(got[j].Value) != string(wantList[j].Value) {
				t.Fatalf("member %d: %+v, want %+v", i, got[j], wantList[j])
			}
		}
	}
	sameList(lagging)

	c.closeAll()
	for i := range c.stores {
		c.start(i)
	}
	c.leader(10 * time.Second)
	for i := range c.stores {
		sameList(i)
	}
}

// TestRunAsLeader: the leader function runs on exactly one member, after the barrier,
// and moves to the new leader when the old one dies.
func TestRunAsLeader(t *testing.T) {
	c := newTestCluster(t, 3)
	var running, overlaps atomic.Int32
	started := make(chan int, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range c.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.RunAsLeader(ctx, func(lctx context.Context) {
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer running.Add(-1)
				if !s.IsLeader() {
					t.Errorf("member %d runs leader work but does not lead", i)
				}
				started <- i
				<-lctx.Done()
			})
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	first := waitStarted(t, started, 10*time.Second)
	if l := c.leader(time.Second); l != first {
		t.Fatalf("leader work started on member %d, leader is %d", first, l)
	}
	select {
	case i := <-started:
		t.Fatalf("leader work started on member %d as well", i)
	case <-time.After(time.Second):
	}
	killed := time.Now()
	c.stop(first)
	second := waitStarted(t, started, 3*time.Second)
	t.Logf("leader work moved from member %d to %d in %s", first, second, time.Since(killed).Round(time.Millisecond))
	if second == first {
		t.Fatalf("leader work restarted on the killed member %d", first)
	}
	if overlaps.Load() != 0 {
		t.Fatalf("leader work ran on two members at once %d times", overlaps.Load())
	}

	// Cancelling RunAsLeader's ctx stops the work and returns.
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunAsLeader did not return after its ctx ended")
	}
	if running.Load() != 0 {
		t.Fatal("leader work still running")
	}
}

func waitStarted(t *testing.T, started <-chan int, d time.Duration) int {
	t.Helper()
	select {
	case i := <-started:
		return i
	case <-time.After(d):
		t.Fatalf("leader work did not start within %s", d)
	}
	return -1
}
