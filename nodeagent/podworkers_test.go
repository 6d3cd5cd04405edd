package nodeagent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPodWorkers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	syncs := map[string]int{}
	var concurrent, maxConcurrent atomic.Int32
	release := make(chan struct{})
	w := newPodWorkers(ctx, func(_ context.Context, uid string) (time.Duration, bool, error) {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			m := maxConcurrent.Load()
			if n <= m || maxConcurrent.CompareAndSwap(m, n) {
				break
			}
		}
		mu.Lock()
		syncs[uid]++
		count := syncs[uid]
		mu.Unlock()
		switch uid {
		case "slow":
			if count == 1 {
				<-release
			}
		case "panics":
			if count == 1 {
				panic("boom")
			}
			return 0, true, nil
		case "again":
			if count < 3 {
				return 10 * time.Millisecond, false, nil
			}
			return 0, true, nil
		}
		return 0, false, nil
	}, slog.New(slog.DiscardHandler))
	w.enqueue("slow")
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	if len(syncs) != 0 {
		t.Errorf("synced before begin: %v", syncs)
	}
	mu.Unlock()
	w.begin()
	time.Sleep(20 * time.Millisecond)
	// A slow pod delays no other; its own wake-ups coalesce while it syncs.
	for i := 0; i < 5; i++ {
		w.enqueue("slow")
		w.enqueue("fast")
	}
	w.enqueue("panics")
	w.enqueue("again")
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		ok := syncs["fast"] >= 1 && syncs["panics"] == 2 && syncs["again"] == 3
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("syncs: %v", syncs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	// Its second sync takes the one wake-up left: none may be pending after it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := syncs["slow"]
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	w.mu.Lock()
	pending := len(w.workers["slow"].wake)
	w.mu.Unlock()
	mu.Lock()
	if syncs["slow"] != 2 || pending != 0 {
		t.Errorf("slow pod synced %d times with %d wake-ups pending, want 2 and none (woken during its first sync)", syncs["slow"], pending)
	}
	mu.Unlock()
	if maxConcurrent.Load() < 2 {
		t.Error("pods were not synced concurrently")
	}
	cancel()
	w.wait()
}
