package store

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testCluster is n real stores in this process, on loopback listeners allocated
// before any of them opens so that every member knows the full peer list.
type testCluster struct {
	t      testing.TB
	peers  []Peer
	dirs   []string
	tls    []*tls.Config // per member; nil entries mean plain TCP
	tune   func(*Config)
	stores []*Store // nil while a member is stopped
}

type clusterOption func(*testCluster)

// withConfig adjusts every member's Config before it opens.
func withConfig(f func(*Config)) clusterOption { return func(c *testCluster) { c.tune = f } }

func withTLS(confs []*tls.Config) clusterOption { return func(c *testCluster) { c.tls = confs } }

func newTestCluster(t testing.TB, n int, opts ...clusterOption) *testCluster {
	t.Helper()
	checkNoLeaks(t)
	c := &testCluster{t: t, stores: make([]*Store, n)}
	for _, o := range opts {
		o(c)
	}
	listeners := make([]net.Listener, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[i] = ln
		c.peers = append(c.peers, Peer{ID: fmt.Sprintf("m%d", i), Addr: ln.Addr().String()})
		c.dirs = append(c.dirs, t.TempDir())
	}
	t.Cleanup(c.closeAll)
	for i := range n {
		cfg := c.config(i)
		cfg.Listener = listeners[i]
		s, err := Open(cfg)
		if err != nil {
			t.Fatalf("open member %d: %v", i, err)
		}
		c.stores[i] = s
	}
	return c
}

func (c *testCluster) config(i int) Config {
	cfg := Config{
		ID:      c.peers[i].ID,
		DataDir: c.dirs[i],
		Bind:    c.peers[i].Addr,
		Peers:   c.peers,
		Logger:  testLogger(),
	}
	if c.tls != nil {
		cfg.TLS = c.tls[i]
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

// stop closes member i, as a crash would end it (no leadership hand-off).
func (c *testCluster) stop(i int) {
	c.t.Helper()
	if err := c.stores[i].Close(); err != nil {
		c.t.Errorf("close member %d: %v", i, err)
	}
	c.stores[i] = nil
}

// start reopens member i on its data dir and address.
func (c *testCluster) start(i int) {
	c.t.Helper()
	var err error
	// The port was ours a moment ago; on a loaded machine rebinding can race with
	// the kernel releasing it, so retry briefly.
	for try := 0; try < 50; try++ {
		if c.stores[i], err = Open(c.config(i)); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("reopen member %d: %v", i, err)
}

func (c *testCluster) closeAll() {
	for i, s := range c.stores {
		if s != nil {
			if err := s.Close(); err != nil {
				c.t.Errorf("close member %d: %v", i, err)
			}
			c.stores[i] = nil
		}
	}
}

// leader waits for a member to lead and returns its index.
func (c *testCluster) leader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, s := range c.stores {
			if s != nil && s.IsLeader() {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %s", timeout)
	return -1
}

// followers returns the running members other than the leader.
func (c *testCluster) followers(leader int) []int {
	var out []int
	for i, s := range c.stores {
		if s != nil && i != leader {
			out = append(out, i)
		}
	}
	return out
}

func (c *testCluster) running() []int { return c.followers(-1) }

func testLogger() *slog.Logger {
	if os.Getenv("STORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkNoLeaks fails the test if goroutines of the store or of raft are still running
// once the test's cleanups (which close every store) are done. Raft's transport lets a
// few connection goroutines finish on their own after their sockets close, so allow
// them a moment.
func checkNoLeaks(t testing.TB) {
	t.Cleanup(func() {
		var stacks string
		for try := 0; try < 100; try++ {
			stacks = leakedStacks()
			if stacks == "" {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("goroutines left running after Close:\n%s", stacks)
	})
}

func leakedStacks() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*B)") ||
			strings.Contains(g, "leakedStacks") {
			continue
		}
		if strings.Contains(g, "hashicorp/raft") || strings.Contains(g, "kindlike/controlplane/store.") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}
