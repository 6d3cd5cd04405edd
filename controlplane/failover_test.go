package controlplane_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlike/kindlike/internal/testcluster"
)

func clients(t *testing.T, c *testcluster.Cluster) []kubernetes.Interface {
	t.Helper()
	var out []kubernetes.Interface
	for i := range c.Members {
		cfg := c.RestConfig(i)
		cfg.Timeout = 5 * time.Second
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cs)
	}
	return out
}

// TestLeaderKillLosesNothing kills -9 the Raft leader while eight clients create
// objects: a new leader is elected within 3 s, writes continue, and every create that
// was acknowledged is on every member afterwards.
func TestLeaderKillLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	cs := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		acked     []string
		killedAt  atomic.Int64
		firstPost atomic.Int64
		afterKill atomic.Int64
	)
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			member := w % len(cs)
			for n := 0; load.Err() == nil; n++ {
				name := fmt.Sprintf("w%d-%d", w, n)
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"n": name}}
				_, err := cs[member].CoreV1().ConfigMaps("default").Create(load, cm, metav1.CreateOptions{})
				if err != nil {
					// The member may be the dead one, or the group between leaders:
					// try another member; this name may or may not exist, it was not acknowledged.
					member = (member + 1) % len(cs)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
				if k := killedAt.Load(); k != 0 {
					afterKill.Add(1)
					firstPost.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	killedAt.Store(time.Now().UnixNano())
	c.Members[leader].Kill()
	killTime := time.Now()
	newLeader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	elected := time.Since(killTime)
	if newLeader == leader {
		t.Fatalf("leader %s still reported after being killed", c.Members[leader].Name)
	}
	if elected > 3*time.Second {
		t.Errorf("new leader after %v, want within 3s", elected)
	}
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()

	if afterKill.Load() == 0 {
		t.Fatal("no write succeeded after the leader was killed")
	}
	t.Logf("killed %s; %s elected after %v; first write after the kill after %v; %d acknowledged creates, %d after the kill",
		c.Members[leader].Name, c.Members[newLeader].Name, elected.Round(time.Millisecond),
		time.Duration(firstPost.Load()-killedAt.Load()).Round(time.Millisecond), len(acked), afterKill.Load())

	// The killed member comes back and catches up too.
	if err := c.Members[leader].Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for i, client := range cs {
		assertPresent(ctx, t, c.Members[i].Name, client, acked)
	}
}

// assertPresent checks every name is a ConfigMap in default, as member sees it both
// with a linearizable read and from its own state (resourceVersion=0), once caught up.
func assertPresent(ctx context.Context, t *testing.T, member string, client kubernetes.Interface, names []string) {
	t.Helper()
	list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("%s: list: %v", member, err)
	}
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	missing := 0
	for _, n := range names {
		if !have[n] {
			missing++
			if missing <= 5 {
				t.Errorf("%s: acknowledged ConfigMap %s is missing", member, n)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d acknowledged creates missing", member, missing, len(names))
	}
	local, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatalf("%s: local list: %v", member, err)
	}
	if len(local.Items) < len(names) {
		t.Errorf("%s: local state has %d ConfigMaps, want at least %d after a linearizable read", member, len(local.Items), len(names))
	}
}

// TestRestartAllKeepsEverything kills every member and starts them again on their
// data: every object is still there, unchanged.
func TestRestartAllKeepsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	cs := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := map[string]string{}
	for i := range 60 {
		name := fmt.Sprintf("keep-%d", i)
		cm, err := cs[i%3].CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[name] = string(cm.UID) + "/" + cm.ResourceVersion
	}
	for _, m := range c.Members {
		m.Kill()
	}
	for _, m := range c.Members {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for i, client := range cs {
		list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.Members[i].Name, err)
		}
		got := map[string]string{}
		for _, cm := range list.Items {
			got[cm.Name] = string(cm.UID) + "/" + cm.ResourceVersion
		}
		for name, id := range want {
			if got[name] != id {
				t.Errorf("%s: %s is %q after restart, want %q", c.Members[i].Name, name, got[name], id)
			}
		}
	}
	// And the restarted cluster still takes writes.
	if _, err := cs[0].CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restart"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("write after restart: %v", err)
	}
}
