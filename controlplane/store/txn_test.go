package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestTxnAllOrNothing: a transaction's writes are applied together at one revision, or,
// when any one is refused, none is, and the error names the refused write.
func TestTxnAllOrNothing(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 20*time.Second)
	for _, i := range []int{leader, c.followers(leader)[0]} {
		s := c.stores[i]
		svc := fmt.Sprintf("/v1/services/default/web-%d", i)
		ip := fmt.Sprintf("/kindlike/allocations/serviceips/10.96.0.%d", 20+i)
		port := fmt.Sprintf("/kindlike/allocations/servicenodeports/%d", 30100+i)
		_, rev, err := s.List(ctx, "/none/", true)
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Watch(ctx, "/", rev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Txn(ctx, CreateOp(svc, []byte("svc")), CreateOp(ip, []byte(svc)), CreateOp(port, []byte(svc)))
		if err != nil {
			t.Fatalf("member %d: txn: %v", i, err)
		}
		if len(got) != 3 || got[0].Key != svc || got[1].Key != ip || got[2].Key != port ||
			got[0].Rev != got[1].Rev || got[1].Rev != got[2].Rev || got[0].CreateRev != got[0].Rev {
			t.Fatalf("member %d: txn returned %+v", i, got)
		}
		// Read-your-writes, on followers too.
		for _, k := range []string{svc, ip, port} {
			if e, err := s.Get(ctx, k, false); err != nil || e.Rev != got[0].Rev {
				t.Fatalf("member %d: get %s after txn: %+v, %v", i, k, e, err)
			}
		}
		for n, k := range []string{svc, ip, port} {
			ev := <-w
			if ev.Type != Added || ev.Entry.Key != k || ev.Entry.Rev != got[0].Rev {
				t.Fatalf("member %d: watch event %d: %v %s@%d, want ADDED %s@%d", i, n, ev.Type, ev.Entry.Key, ev.Entry.Rev, k, got[0].Rev)
			}
		}

		// A second Service claiming the same port: refused as a whole.
		other := fmt.Sprintf("/v1/services/default/other-%d", i)
		freeIP := fmt.Sprintf("/kindlike/allocations/serviceips/10.96.1.%d", i)
		_, err = s.Txn(ctx, CreateOp(other, []byte("svc")), CreateOp(freeIP, []byte(other)), CreateOp(port, []byte(other)))
		var te *TxnError
		var ce *ConflictError
		if !errors.As(err, &te) || te.Index != 2 || te.Key != port || !errors.Is(err, ErrExists) || !errors.As(err, &ce) || ce.Rev != got[2].Rev {
			t.Fatalf("member %d: txn claiming a taken key: %v, want a TxnError at write 2 wrapping ErrExists at rev %d", i, err, got[2].Rev)
		}
		for _, k := range []string{other, freeIP} {
			if _, err := s.Get(ctx, k, true); !errors.Is(err, ErrNotFound) {
				t.Fatalf("member %d: %s written by a refused transaction: %v", i, k, err)
			}
		}

		// Update with a stale revision plus a delete: refused; then with the right one.
		_, err = s.Txn(ctx, UpdateOp(svc, []byte("svc2"), got[0].Rev-1), DeleteOp(port, got[2].Rev))
		if !errors.As(err, &te) || te.Index != 0 || !errors.Is(err, ErrConflict) {
			t.Fatalf("member %d: stale update: %v, want ErrConflict at write 0", i, err)
		}
		if _, err := s.Get(ctx, port, true); err != nil {
			t.Fatalf("member %d: port released by a refused transaction: %v", i, err)
		}
		_, err = s.Txn(ctx, UpdateOp(svc, []byte("svc2"), got[0].Rev), DeleteOp(port, got[2].Rev), DeleteOp("/nothing/here", 0))
		if !errors.As(err, &te) || te.Index != 2 || !errors.Is(err, ErrNotFound) {
			t.Fatalf("member %d: delete of a missing key: %v, want ErrNotFound at write 2", i, err)
		}
		done, err := s.Txn(ctx, UpdateOp(svc, []byte("svc2"), got[0].Rev), DeleteOp(port, got[2].Rev))
		if err != nil || string(done[0].Value) != "svc2" || string(done[1].Value) != svc || done[1].Rev != done[0].Rev {
			t.Fatalf("member %d: update and release: %+v, %v", i, done, err)
		}
		if _, err := s.Get(ctx, port, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("member %d: released key still there: %v", i, err)
		}
	}
	if _, err := c.stores[0].Txn(ctx, CreateOp("/a", nil), DeleteOp("/a", 0)); err == nil {
		t.Fatal("a transaction writing one key twice was accepted")
	}
	// A transaction of one write is that write, refusals included.
	one, err := c.stores[1].Txn(ctx, CreateOp("/single", []byte("v")))
	if err != nil || len(one) != 1 || string(one[0].Value) != "v" {
		t.Fatalf("one-write transaction: %+v, %v", one, err)
	}
	_, err = c.stores[1].Txn(ctx, CreateOp("/single", []byte("w")))
	var te *TxnError
	if !errors.As(err, &te) || te.Index != 0 || te.Key != "/single" || !errors.Is(err, ErrExists) {
		t.Fatalf("one-write transaction on a taken key: %v, want a TxnError wrapping ErrExists", err)
	}
}

// TestConcurrentTxnClaimsOneWins: Services created at once through every member, each
// claiming one of a few addresses in the same transaction as itself, never share one:
// the FSM decides the claims in log order.
func TestConcurrentTxnClaimsOneWins(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	const writers, addrs = 30, 5
	owner := make(map[string]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := fmt.Sprintf("/v1/services/default/s%d", w)
			claim := fmt.Sprintf("/kindlike/allocations/serviceips/10.96.0.%d", w%addrs)
			_, err := c.stores[w%3].Txn(ctx, CreateOp(svc, nil), CreateOp(claim, []byte(svc)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if prev, ok := owner[claim]; ok {
					t.Errorf("%s claimed by %s and %s", claim, prev, svc)
				}
				owner[claim] = svc
			case errors.Is(err, ErrExists):
			default:
				t.Errorf("txn: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(owner) != addrs {
		t.Fatalf("%d addresses claimed, want %d: %v", len(owner), addrs, owner)
	}
	services, _, err := c.stores[1].List(ctx, "/v1/services/", true)
	if err != nil || len(services) != addrs {
		t.Fatalf("%d services stored, want %d (one per claim): %v", len(services), addrs, err)
	}
	for claim, svc := range owner {
		e, err := c.stores[2].Get(ctx, claim, true)
		if err != nil || string(e.Value) != svc {
			t.Errorf("%s: %q, %v; want owner %s", claim, e.Value, err, svc)
		}
	}
}

// TestTxnSurvivesRestart: transactions are in the log and in snapshots like any write.
func TestTxnSurvivesRestart(t *testing.T) {
	c := newTestCluster(t, 3, withConfig(func(cfg *Config) { cfg.TrailingLogs = 5 }))
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 40*time.Second)
	var last []Entry
	for n := range 30 {
		var err error
		last, err = c.stores[n%3].Txn(ctx,
			CreateOp(fmt.Sprintf("/v1/services/default/s%d", n), []byte("svc")),
			CreateOp(fmt.Sprintf("/kindlike/allocations/servicenodeports/%d", 30000+n), []byte("owner")))
		if err != nil {
			t.Fatal(err)
		}
	}
	// A snapshot holds the transactions' writes; the log after it replays the rest.
	if err := c.stores[leader].raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for _, i := range c.followers(leader) {
		c.stop(i)
	}
	c.stop(leader)
	for i := range c.stores {
		c.start(i)
	}
	c.leader(10 * time.Second)
	for i, s := range c.stores {
		ports, _, err := s.List(ctx, "/kindlike/allocations/servicenodeports/", true)
		if err != nil || len(ports) != 30 {
			t.Fatalf("member %d: %d claims after restart, want 30: %v", i, len(ports), err)
		}
		e, err := s.Get(ctx, last[0].Key, true)
		if err != nil || e.Rev != last[0].Rev {
			t.Fatalf("member %d: %s after restart: %+v, %v; want rev %d", i, last[0].Key, e, err, last[0].Rev)
		}
	}
}
