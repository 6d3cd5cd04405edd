package controlplane_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kindlike/kindlike/internal/testcluster"
)

const (
	benchNodes = 50
	benchPods  = 1000
)

// steadyRates are the creation rates of the steady variant, pods per second: half and
// all of the 100 pods/s the scheduler must keep up with.
var steadyRates = []int{50, 100}

// BenchmarkScheduler measures the scheduler of a three-member control plane with 50
// Ready nodes (leases renewed, pods left pending: only the scheduler writes to pods).
//
// backlog: 1,000 pods are created while no node exists, so all are pending and
// marked Unschedulable; then the 50 nodes register and the clock runs until every pod
// is bound. pods/s is 1,000 over that time (node registration included).
//
// steady: with the 50 nodes up, 1,000 pods are created at a steady rate; each pod's
// latency runs from its create request to a watcher seeing it bound. pods/s is the
// rate achieved, to the last bind.
func BenchmarkScheduler(b *testing.B) {
	b.Run(fmt.Sprintf("backlog/pods=%d/nodes=%d", benchPods, benchNodes), benchBacklog)

	for _, rate := range steadyRates {
		b.Run(fmt.Sprintf("steady/rate=%d/pods=%d/nodes=%d", rate, benchPods, benchNodes), func(b *testing.B) {
			benchSteady(b, rate)
		})
	}
}

// benchBacklog binds pods that were all pending before the nodes registered.
func benchBacklog(b *testing.B) {
	c := startCluster(b)
	cs := benchClients(b, c)
	binds := watchBinds(b, cs[0])
	if err := createBenchPods(cs, benchPods, 16, 0, nil); err != nil {
		b.Fatal(err)
	}
	// Start from a quiet cluster: every pod marked Unschedulable, and the
	// FailedScheduling events written.
	binds.wait(b, 2*time.Minute, "all pods unschedulable", func() bool { return binds.unschedulable == benchPods })
	waitEvents(b, cs[0], "FailedScheduling", benchPods)

	k := startFakeKubelet(b, cs[0])
	k.LeavePodsPending()
	profiled := profileLeader(b, c, cs)
	start := time.Now()
	k.AddNodes(benchNodeNames()...)
	registered := time.Since(start)
	binds.wait(b, 5*time.Minute, "all pods bound", func() bool { return len(binds.bound) == benchPods })
	profiled()
	elapsed := binds.last().Sub(start)
	b.ReportMetric(benchPods/elapsed.Seconds(), "pods/s")
	b.ReportMetric(elapsed.Seconds(), "s-all-bound")
	b.ReportMetric(float64(registered.Milliseconds()), "ms-nodes-registered")
	binds.checkSpread(b)
	// Every bind is told as an event, even in a burst.
	waitEvents(b, cs[0], "Scheduled", benchPods)
}

// benchSteady creates the pods at rate per second with the nodes up.
func benchSteady(b *testing.B, rate int) {
	c := startCluster(b)
	cs := benchClients(b, c)
	k := startFakeKubelet(b, cs[0])
	k.LeavePodsPending()
	k.AddNodes(benchNodeNames()...)
	binds := watchBinds(b, cs[0])
	created := make([]time.Time, benchPods)
	start := time.Now()
	if err := createBenchPods(cs, benchPods, 32, rate, created); err != nil {
		b.Fatal(err)
	}
	binds.wait(b, 5*time.Minute, "all pods bound", func() bool { return len(binds.bound) == benchPods })
	var lat []time.Duration
	binds.mu.Lock()
	for i, t0 := range created {
		lat = append(lat, binds.bound[benchPodName(i)].Sub(t0))
	}
	binds.mu.Unlock()
	b.ReportMetric(benchPods/binds.last().Sub(start).Seconds(), "pods/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	binds.checkSpread(b)
}

// profileLeader, when $KINDLIKE_BENCH_CPUPROFILE names a file, writes there a CPU
// profile of the Raft leader's process (which runs the scheduler) over the next
// $KINDLIKE_BENCH_PROFILE_SECONDS (default 5). The returned func waits for it.
func profileLeader(b *testing.B, c *testcluster.Cluster, cs []kubernetes.Interface) func() {
	b.Helper()
	path := os.Getenv("KINDLIKE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	seconds := cmp.Or(os.Getenv("KINDLIKE_BENCH_PROFILE_SECONDS"), "5")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	leader, err := c.Leader(ctx)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		raw, err := cs[leader].CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", seconds).
			Timeout(5 * time.Minute).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, raw, 0o644)
		}
		done <- err
	}()
	return func() {
		if err := <-done; err != nil {
			b.Errorf("CPU profile of the leader: %v", err)
		}
	}
}

func benchNodeNames() []string {
	names := make([]string, benchNodes)
	for i := range names {
		names[i] = fmt.Sprintf("w%02d", i+1)
	}
	return names
}

func benchPodName(i int) string { return fmt.Sprintf("sched-%04d", i) }

// createBenchPods creates n small pods in default with the given number of concurrent
// clients, spread over the members; rate > 0 paces the creates at rate per second.
// created, when given, receives each pod's time of create request.
func createBenchPods(cs []kubernetes.Interface, n, workers, rate int, created []time.Time) error {
	errs := make(chan error, n)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: benchPodName(i), Labels: map[string]string{"app": "sched-bench"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "nginx:1.27",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
					}},
				}}},
			}
			if created != nil {
				created[i] = time.Now()
			}
			if _, err := cs[i%len(cs)].CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
				errs <- fmt.Errorf("create pod %s: %w", pod.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// bindWatch follows the pods from the benchmark's side, as a user's watch would, and
// records when each is first seen bound.
type bindWatch struct {
	mu            sync.Mutex
	bound         map[string]time.Time
	nodes         map[string]int // node → pods bound to it
	unschedulable int
	seen          map[string]bool // pods seen Unschedulable
	changed       chan struct{}
}

func watchBinds(b *testing.B, client kubernetes.Interface) *bindWatch {
	b.Helper()
	w := &bindWatch{bound: map[string]time.Time{}, nodes: map[string]int{}, seen: map[string]bool{}, changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	observe := func(obj any) {
		now := time.Now()
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, done := w.bound[p.Name]; !done && p.Spec.NodeName != "" {
			w.bound[p.Name] = now
			w.nodes[p.Spec.NodeName]++
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable && !w.seen[p.Name] {
				w.seen[p.Name] = true
				w.unschedulable++
			}
		}
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: observe, UpdateFunc: func(_, o any) { observe(o) }})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		b.Fatal("pod informer did not sync")
	}
	return w
}

// wait returns once done (called with w.mu held) holds, or fails the benchmark.
func (w *bindWatch) wait(b *testing.B, timeout time.Duration, what string, done func() bool) {
	b.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok := done()
		bound, unsched := len(w.bound), w.unschedulable
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second):
		case <-deadline:
			b.Fatalf("%s: not within %s (bound %d, unschedulable %d)", what, timeout, bound, unsched)
		}
	}
}

// last is when the last bind was seen.
func (w *bindWatch) last() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, t := range w.bound {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// checkSpread fails the benchmark if the pods did not land on every node within the
// pod limit: a fast scheduler that piles pods up is not the one we ship.
func (w *bindWatch) checkSpread(b *testing.B) {
	b.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.nodes) != benchNodes {
		b.Errorf("pods landed on %d nodes, want %d: %v", len(w.nodes), benchNodes, w.nodes)
	}
	for n, count := range w.nodes {
		if count > 110 {
			b.Errorf("node %s got %d pods, over its 110", n, count)
		}
	}
}

// waitEvents waits until at least n events with the reason exist in default.
func waitEvents(b *testing.B, client kubernetes.Interface, reason string, n int) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for _, e := range list.Items {
			if e.Reason == reason {
				count++
			}
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d %s events after 2m, want %d", count, reason, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
