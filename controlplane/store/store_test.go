package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestCompareAndSwap runs the conditional writes through the leader and through a
// follower (which forwards them): the FSM decides, the error says why and carries the
// current revision.
func TestCompareAndSwap(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	roles := map[string]int{"leader": leader, "follower": c.followers(leader)[0]}
	for role, i := range roles {
		t.Run(role, func(t *testing.T) {
			s := c.stores[i]
			ctx := testCtx(t, 20*time.Second)
			key := "/v1/pods/default/" + role

			created, err := s.Create(ctx, key, []byte("one"))
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.Rev == 0 || created.CreateRev != created.Rev || string(created.Value) != "one" {
				t.Fatalf("create returned %+v", created)
			}
			updated, err := s.Update(ctx, key, []byte("two"), created.Rev)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if updated.Rev <= created.Rev || updated.CreateRev != created.Rev {
				t.Fatalf("update returned %+v after %+v", updated, created)
			}

			tests := []struct {
				name    string
				do      func() (Entry, error)
				want    error
				wantRev uint64 // for conflicts: the current revision reported
			}{
				{"create existing", func() (Entry, error) { return s.Create(ctx, key, []byte("x")) }, ErrExists, updated.Rev},
				{"update stale rev", func() (Entry, error) { return s.Update(ctx, key, []byte("x"), created.Rev) }, ErrConflict, updated.Rev},
				{"delete stale rev", func() (Entry, error) { return s.Delete(ctx, key, created.Rev) }, ErrConflict, updated.Rev},
				{"update missing", func() (Entry, error) { return s.Update(ctx, key+"-missing", []byte("x"), 0) }, ErrNotFound, 0},
				{"delete missing", func() (Entry, error) { return s.Delete(ctx, key+"-missing", 0) }, ErrNotFound, 0},
				{"get missing", func() (Entry, error) { return s.Get(ctx, key+"-missing", true) }, ErrNotFound, 0},
			}
			for _, tt := range tests {
				_, err := tt.do()
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
					continue
				}
				if tt.wantRev != 0 {
					var ce *ConflictError
					if !errors.As(err, &ce) || ce.Rev != tt.wantRev || ce.Key != key {
						t.Errorf("%s: got %#v, want a ConflictError for %s at rev %d", tt.name, err, key, tt.wantRev)
					}
				}
			}

			// The refused writes changed nothing.
			got, err := s.Get(ctx, key, true)
			if err != nil || got.Rev != updated.Rev || string(got.Value) != "two" {
				t.Fatalf("after refused writes: %+v, %v; want rev %d value two", got, err, updated.Rev)
			}
			// Unconditional update, then conditional delete.
			again, err := s.Update(ctx, key, []byte("three"), 0)
			if err != nil {
				t.Fatalf("unconditional update: %v", err)
			}
			deleted, err := s.Delete(ctx, key, again.Rev)
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			if deleted.Rev <= again.Rev || string(deleted.Value) != "three" || deleted.CreateRev != created.Rev {
				t.Fatalf("delete returned %+v", deleted)
			}
			if _, err := s.Get(ctx, key, false); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get after delete: %v", err)
			}
			// The key can be created again, with a new CreateRev.
			recreated, err := s.Create(ctx, key, []byte("four"))
			if err != nil || recreated.CreateRev <= deleted.Rev {
				t.Fatalf("recreate: %+v, %v", recreated, err)
			}
		})
	}
}

// TestConcurrentCreateOneWins races creates of the same key from every member: exactly
// one succeeds, all others see ErrExists.
func TestConcurrentCreateOneWins(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader(10 * time.Second)
	ctx := testCtx(t, 20*time.Second)
	for round := range 10 {
		key := fmt.Sprintf("/v1/configmaps/default/race-%d", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, exists := 0, 0
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.stores[w%3].Create(ctx, key, []byte{byte(w)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrExists):
					exists++
				default:
					t.Errorf("create: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || exists != 5 {
			t.Fatalf("round %d: %d creates won, %d saw ErrExists; want 1 and 5", round, wins, exists)
		}
	}
}

// TestReadYourWritesOnFollowers: a write acknowledged by a follower is in that
// follower's local state at once, without a consistent read.
func TestReadYourWritesOnFollowers(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 20*time.Second)
	for n := range 100 {
		s := c.stores[c.followers(leader)[n%2]]
		key := fmt.Sprintf("/v1/secrets/default/ryw-%d", n)
		e, err := s.Create(ctx, key, []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, key, false)
		if err != nil || got.Rev != e.Rev {
			t.Fatalf("local read after create on follower: %+v, %v; want rev %d", got, err, e.Rev)
		}
		if s.Rev() < e.Rev {
			t.Fatalf("Rev() = %d after a write at %d", s.Rev(), e.Rev)
		}
		e2, err := s.Update(ctx, key, []byte("w"), e.Rev)
		if err != nil {
			t.Fatal(err)
		}
		entries, rev, err := s.List(ctx, key, false)
		if err != nil || len(entries) != 1 || entries[0].Rev != e2.Rev || rev < e2.Rev {
			t.Fatalf("local list after update on follower: %+v at %d, %v; want rev %d", entries, rev, err, e2.Rev)
		}
	}
}

// TestLinearizableReadOnFollower: after a write acknowledged by one member, a
// consistent read on another follower sees it. Without the read index the follower
// would often still lag (its commit index travels on the next AppendEntries).
func TestLinearizableReadOnFollower(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	f := c.followers(leader)
	ctx := testCtx(t, 30*time.Second)
	pairs := [][2]int{{leader, f[0]}, {f[0], f[1]}, {f[1], f[0]}, {leader, f[1]}}
	for n := range 200 {
		w, r := c.stores[pairs[n%4][0]], c.stores[pairs[n%4][1]]
		key := fmt.Sprintf("/v1/pods/default/lin-%d", n%7)
		val := []byte(fmt.Sprint(n))
		e, err := w.Update(ctx, key, val, 0)
		if errors.Is(err, ErrNotFound) {
			e, err = w.Create(ctx, key, val)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Get(ctx, key, true)
		if err != nil || got.Rev < e.Rev || !bytes.Equal(got.Value, val) {
			t.Fatalf("write %d: consistent read on another member got %+v, %v; want rev %d", n, got, err, e.Rev)
		}
		list, rev, err := r.List(ctx, "/v1/pods/default/", true)
		if err != nil || rev < e.Rev || len(list) == 0 {
			t.Fatalf("write %d: consistent list at rev %d (%v), want at least %d", n, rev, err, e.Rev)
		}
	}
}

func TestListSortedByKeyWithPrefix(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader(10 * time.Second)
	ctx := testCtx(t, 20*time.Second)
	s := c.stores[0]
	keys := []string{"/v1/pods/b/x", "/v1/pods/a/z", "/v1/pods/a/y", "/v1/podsx/a/q", "/v1/nodes/n1"}
	var last uint64
	for _, k := range keys {
		e, err := s.Create(ctx, k, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		last = e.Rev
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/v1/pods/", []string{"/v1/pods/a/y", "/v1/pods/a/z", "/v1/pods/b/x"}},
		{"/v1/pods/a/", []string{"/v1/pods/a/y", "/v1/pods/a/z"}},
		{"/v1/pods", []string{"/v1/pods/a/y", "/v1/pods/a/z", "/v1/pods/b/x", "/v1/podsx/a/q"}},
		{"/v1/none/", nil},
	}
	for _, tt := range tests {
		for _, m := range c.stores {
			got, rev, err := m.List(ctx, tt.prefix, true)
			if err != nil || rev < last {
				t.Fatalf("list %s: rev %d, %v", tt.prefix, rev, err)
			}
			var gotKeys []string
			for _, e := range got {
				gotKeys = append(gotKeys, e.Key)
				if string(e.Value) != e.Key {
					t.Errorf("list %s: %s has value %q", tt.prefix, e.Key, e.Value)
				}
			}
			if fmt.Sprint(gotKeys) != fmt.Sprint(tt.want) {
				t.Errorf("list %s = %v, want %v", tt.prefix, gotKeys, tt.want)
			}
		}
	}
}

func TestClosedStore(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader(10 * time.Second)
	ctx := testCtx(t, 10*time.Second)
	s := c.stores[0]
	c.stop(0)
	if _, err := s.Create(ctx, "/k", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("create on closed store: %v", err)
	}
	if _, err := s.Get(ctx, "/k", false); !errors.Is(err, ErrClosed) {
		t.Errorf("get on closed store: %v", err)
	}
	if _, err := s.Watch(ctx, "/", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("watch on closed store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestNoLeaderFailsInTime: with a majority down, a write waits up to LeaderWait and
// then fails with ErrNoLeader.
func TestNoLeaderFailsInTime(t *testing.T) {
	c := newTestCluster(t, 3, withConfig(func(cfg *Config) { cfg.LeaderWait = time.Second }))
	leader := c.leader(10 * time.Second)
	for _, i := range c.followers(leader) {
		c.stop(i)
	}
	ctx := testCtx(t, 10*time.Second)
	start := time.Now()
	_, err := c.stores[leader].Create(ctx, "/v1/pods/default/lonely", nil)
	took := time.Since(start)
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("create without a majority: %v, want ErrNoLeader", err)
	}
	if took > 5*time.Second {
		t.Fatalf("create without a majority took %s", took)
	}
	if _, err := c.stores[leader].Get(ctx, "/v1/pods/default/lonely", true); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("consistent get without a majority: %v, want ErrNoLeader", err)
	}
	if _, err := c.stores[leader].Get(ctx, "/v1/pods/default/lonely", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("local get without a majority: %v, want ErrNotFound", err)
	}
}

// TestJoinAndRemove adds a fourth member through a follower, checks that it catches up
// and counts as a voter, then removes it again.
func TestJoinAndRemove(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(10 * time.Second)
	ctx := testCtx(t, 30*time.Second)
	e, err := c.stores[leader].Create(ctx, "/v1/namespaces/before-join", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	newcomer, err := Open(Config{ID: "m3", DataDir: t.TempDir(), Bind: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer newcomer.Close()
	follower := c.stores[c.followers(leader)[0]]
	if err := follower.Join(ctx, "m3", newcomer.self); err != nil {
		t.Fatalf("join through a follower: %v", err)
	}
	if err := follower.Join(ctx, "m3", newcomer.self); err != nil {
		t.Fatalf("joining again: %v", err)
	}
	if err := newcomer.WaitForRev(ctx, e.Rev); err != nil {
		t.Fatal(err)
	}
	if got, err := newcomer.Get(ctx, "/v1/namespaces/before-join", true); err != nil || got.Rev != e.Rev {
		t.Fatalf("consistent read on the new member: %+v, %v", got, err)
	}
	if _, err := newcomer.Create(ctx, "/v1/namespaces/from-newcomer", nil); err != nil {
		t.Fatalf("write through the new member: %v", err)
	}
	st := c.stores[leader].Status()
	voters := 0
	for _, m := range st.Members {
		if m.Voter {
			voters++
		}
	}
	if voters != 4 || st.State != "Leader" || st.LeaderID != c.peers[leader].ID || st.Rev == 0 || st.CommitIndex < st.Rev {
		t.Fatalf("status after join: %+v", st)
	}
	if err := follower.Remove(ctx, "m3"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := follower.Remove(ctx, "m3"); err != nil {
		t.Fatalf("removing again: %v", err)
	}
	if n := len(c.stores[leader].Status().Members); n != 3 {
		t.Fatalf("%d members after remove", n)
	}
}

func TestConfigErrors(t *testing.T) {
	peers := []Peer{{ID: "a", Addr: "127.0.0.1:1"}, {ID: "b", Addr: "127.0.0.1:2"}}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no ID", Config{DataDir: "d", Bind: "127.0.0.1:0"}},
		{"no data dir", Config{ID: "a", Bind: "127.0.0.1:0"}},
		{"no bind", Config{ID: "a", DataDir: "d"}},
		{"not in peers", Config{ID: "c", DataDir: "d", Bind: "127.0.0.1:0", Peers: peers}},
		{"duplicate peer", Config{ID: "a", DataDir: "d", Bind: "127.0.0.1:0", Peers: append(peers, peers[0])}},
		{"advertise differs from peer entry", Config{ID: "a", DataDir: "d", Bind: "127.0.0.1:0", Advertise: "127.0.0.1:9", Peers: peers}},
		{"negative history", Config{ID: "a", DataDir: "d", Bind: "127.0.0.1:0", WatchHistory: -1}},
	}
	for _, tt := range tests {
		if err := tt.cfg.setDefaults(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	good := Config{ID: "a", DataDir: "d", Bind: "127.0.0.1:0", Peers: peers}
	if err := good.setDefaults(); err != nil || good.Advertise != "127.0.0.1:1" || good.WatchHistory != DefaultWatchHistory {
		t.Errorf("good config: %v, %+v", err, good)
	}
	// A wildcard listener needs an address peers can dial.
	if _, err := Open(Config{ID: "a", DataDir: t.TempDir(), Bind: "0.0.0.0:0", Logger: testLogger()}); err == nil {
		t.Error("Open on a wildcard address without Advertise succeeded")
	}
}
