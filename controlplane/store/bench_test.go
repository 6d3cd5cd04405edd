package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks against a three-member store in this process, with fsync on (the log is
// durable on a majority before a write is acknowledged). Run them with
//
//	go test ./controlplane/store -run '^$' -bench . -benchtime 3s
//	go test ./controlplane/store -run '^$' -bench LeaderFailover -benchtime 50x
//
// They also give meaningful figures under -benchtime 1x, as make bench runs them:
// each measures for at least benchMinDuration, the failover one at least minKills.
//
// Clients spread over the three members, as the API load balancer spreads requests,
// so two thirds of writes are forwarded by a follower.

// benchValue is about the size of a small Pod as the API stores it.
var benchValue = bytes.Repeat([]byte("x"), 1024)

// BenchmarkCreate reports creates/s and p50/p99 latency at 1, 8 and 64 concurrent
// clients. Client i talks to member (leader+i)%3, so the single client talks to the
// leader; via=follower shows the single client on a follower, which waits for its own
// FSM to apply each write.
func BenchmarkCreate(b *testing.B) {
	c := newTestCluster(b, 3)
	leader := c.leader(10 * time.Second)
	var run atomic.Int64
	bench := func(clients, first int) func(*testing.B) {
		return func(b *testing.B) {
			prefix := fmt.Sprintf("/v1/pods/bench-%d/", run.Add(1))
			benchClients(b, clients, func(client, n int) error {
				s := c.stores[(first+client)%3]
				_, err := s.Create(context.Background(), fmt.Sprintf("%sc%d-%d", prefix, client, n), benchValue)
				return err
			})
		}
	}
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), bench(clients, leader))
	}
	b.Run("clients=1/via=follower", bench(1, leader+1))
}

// BenchmarkGet reports reads on a follower: linearizable (a read index from the
// leader) and local.
func BenchmarkGet(b *testing.B) {
	c := newTestCluster(b, 3)
	leader := c.leader(10 * time.Second)
	f := c.stores[c.followers(leader)[0]]
	if _, err := f.Create(context.Background(), "/v1/pods/default/read", benchValue); err != nil {
		b.Fatal(err)
	}
	// A write on the leader, then a linearizable read of it on a follower: the
	// follower must learn the write is committed before it can answer.
	b.Run("consistent=true/after-a-write-on-the-leader", func(b *testing.B) {
		benchClients(b, 1, func(_, n int) error {
			key := fmt.Sprintf("/v1/pods/default/written-%d", n)
			if _, err := c.stores[leader].Create(context.Background(), key, benchValue); err != nil {
				return err
			}
			_, err := f.Get(context.Background(), key, true)
			return err
		})
	})
	for _, consistent := range []bool{true, false} {
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("consistent=%t/clients=%d", consistent, clients), func(b *testing.B) {
				benchClients(b, clients, func(int, int) error {
					_, err := f.Get(context.Background(), "/v1/pods/default/read", consistent)
					return err
				})
			})
		}
	}
}

// benchMinDuration keeps a benchmark measuring for a while even when b.N is tiny
// (make bench runs everything with -benchtime 1x); ns/op is reported for the
// operations actually run.
const benchMinDuration = 2 * time.Second

// maxSamples bounds the latencies kept per client; fast local reads would otherwise
// collect millions.
const maxSamples = 200_000

// benchClients runs at least b.N calls of op, and for at least benchMinDuration,
// spread over clients goroutines, and reports the rate and latency percentiles.
func benchClients(b *testing.B, clients int, op func(client, n int) error) {
	var next, done atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1))
				if n > b.N && time.Since(start) >= benchMinDuration {
					return
				}
				t0 := time.Now()
				if err := op(cl, n); err != nil {
					b.Error(err)
					return
				}
				if len(lat[cl]) < maxSamples {
					lat[cl] = append(lat[cl], time.Since(t0))
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	ops := float64(done.Load())
	b.ReportMetric(float64(elapsed.Nanoseconds())/ops, "ns/op")
	b.ReportMetric(ops/elapsed.Seconds(), "ops/s")
	b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
}

// minKills is the least number of leader kills BenchmarkLeaderFailover measures,
// whatever b.N, so that its percentiles mean something under -benchtime 1x.
const minKills = 10

// BenchmarkLeaderFailover kills the leader (Close, no hand-off) b.N times (at least
// minKills) while a client keeps writing through a survivor, and reports the time
// from the kill to the first acknowledged write. The killed member is restarted and
// caught up between kills, untimed.
func BenchmarkLeaderFailover(b *testing.B) {
	c := newTestCluster(b, 3)
	c.leader(10 * time.Second)
	var took []time.Duration
	kills := max(b.N, minKills)
	for i := 0; i < kills; i++ {
		b.StopTimer()
		leader := c.leader(10 * time.Second)
		survivor := c.stores[c.followers(leader)[0]]
		// Make sure the survivor is caught up and writes flow before the kill.
		if _, err := survivor.Create(context.Background(), fmt.Sprintf("/v1/pods/failover/warm-%d", i), nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		killed := time.Now()
		c.stop(leader)
		for n := 0; ; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := survivor.Create(ctx, fmt.Sprintf("/v1/pods/failover/k%d-%d", i, n), benchValue)
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNoLeader) && !errors.Is(err, context.DeadlineExceeded) {
				b.Fatal(err)
			}
			if time.Since(killed) > 30*time.Second {
				b.Fatalf("no write succeeded within 30s of the kill: %v", err)
			}
		}
		took = append(took, time.Since(killed))
		b.StopTimer()
		c.start(leader)
		if err := c.stores[leader].WaitForRev(context.Background(), survivor.Rev()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	slices.Sort(took)
	var total time.Duration
	for _, d := range took {
		total += d
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(len(took)), "ns/op")
	b.ReportMetric(ms(percentile(took, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(took, 99)), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
