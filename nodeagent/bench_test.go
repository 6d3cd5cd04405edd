package nodeagent_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkPodStartup measures pod startup latency (create to Running, image
// present) for 30 pods over 3 workers, each agent a process of its own, against the
// floor of bare Docker doing the same work in the same run: creating and starting a
// pause container, then a busybox container joined to it. Pods are created paced (one
// every 500 ms, as the Kubernetes startup SLO is measured) and in one burst (when
// Docker's throughput, not the agent, sets the pace; the floor then is 30 such pairs
// at once). Last, the CPU and memory of one agent running 30 idle pods.
func BenchmarkPodStartup(b *testing.B) {
	e := newEnv(b)
	e.childAgents = true
	var nodes []string
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, e.addNode(fmt.Sprintf("worker%d", i)))
	}
	report := func(name, unit string, lat, floor []time.Duration) {
		p50, p99, f50, f99 := percentile(lat, 0.5), percentile(lat, 0.99), percentile(floor, 0.5), percentile(floor, 0.99)
		b.ReportMetric(float64(p50.Milliseconds()), unit+"-p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), unit+"-p99-ms")
		b.ReportMetric(float64(f99.Milliseconds()), unit+"-floor-p99-ms")
		fmt.Printf("pod startup, 30 pods over 3 workers, %s: p50 %s, p99 %s; floor p50 %s, p99 %s; p99 / floor p99 = %.2f\n", name,
			p50.Round(time.Millisecond), p99.Round(time.Millisecond), f50.Round(time.Millisecond), f99.Round(time.Millisecond), float64(p99)/float64(f99))
	}
	floor := dockerRunFloor(b, e, nodes, 30, 1)
	report("paced 2/s", "paced", startPods(b, e, 30, "", 500*time.Millisecond), floor)
	deleteAllPods(b, e)
	floor = dockerRunFloor(b, e, nodes, 30, 30)
	report("burst", "burst", startPods(b, e, 30, "", 0), floor)
	deleteAllPods(b, e)

	startPods(b, e, 30, nodes[0], 0)
	time.Sleep(5 * time.Second)
	pid := e.nodes["worker1"].child.Process.Pid
	cpu0, t0 := cpuTicks(b, pid), time.Now()
	time.Sleep(30 * time.Second)
	cpu := float64(cpuTicks(b, pid)-cpu0) / 100 / time.Since(t0).Seconds()
	rss := rssKiB(b, pid)
	b.ReportMetric(cpu*100, "idle-cpu-%")
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	fmt.Printf("agent with 30 idle pods: CPU %.2f%% of a core over 30s, RSS %.1f MiB\n", cpu*100, float64(rss)/1024)
}

// startPods creates n pods, every interval or at once (on node, or wherever the
// scheduler puts them), and returns each one's time from its create call to the
// watch showing it Running.
func startPods(b *testing.B, e *env, n int, node string, interval time.Duration) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := e.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	bound := map[string]time.Duration{}
	allRunning := make(chan struct{})
	// The watch is read from the start, so each pod's Running is seen when it happens.
	go func() {
		for ev := range w.ResultChan() {
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			mu.Lock()
			if t, ok := created[p.Name]; ok && p.Spec.NodeName != "" {
				if _, done := bound[p.Name]; !done {
					bound[p.Name] = time.Since(t)
				}
			}
			mu.Unlock()
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			if t, ok := created[p.Name]; ok {
				if _, done := running[p.Name]; !done {
					running[p.Name] = time.Since(t)
					if len(running) == n {
						close(allRunning)
					}
				}
			}
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i > 0 && interval > 0 {
			time.Sleep(interval)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("p%s-%d", node[max(0, len(node)-1):], i)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
				NodeName:   node,
				Containers: []corev1.Container{{Name: "main", Image: "busybox:1.31", Command: []string{"sleep", "3600"}}},
			}}
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if _, err := e.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-allRunning:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("only %d of %d pods running", len(running), n)
	}
	mu.Lock()
	defer mu.Unlock()
	var binds []time.Duration
	for _, d := range bound {
		binds = append(binds, d)
	}
	if node == "" {
		fmt.Printf("  of which create to bound (scheduler): p50 %s, p99 %s\n", percentile(binds, 0.5).Round(time.Millisecond), percentile(binds, 0.99).Round(time.Millisecond))
	}
	out := make([]time.Duration, 0, n)
	for _, d := range running {
		out = append(out, d)
	}
	return out
}

func deleteAllPods(b *testing.B, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	zero := int64(0)
	if err := e.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	for {
		list, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 0 {
			return
		}
		if ctx.Err() != nil {
			b.Fatal("pods not deleted")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dockerRunFloor times what a pod start cannot beat: creating and starting a pause
// container on the cluster network in a node's PID namespace, then a busybox
// container joined to it, as `docker run` does; n times over the nodes, conc at once.
func dockerRunFloor(b *testing.B, e *env, nodes []string, n, conc int) []time.Duration {
	d := dockerClient(b)
	ctx := context.Background()
	labels := map[string]string{"kindlike.cluster": e.cluster}
	pair := func(i int) (time.Duration, []string) {
		node := nodes[i%len(nodes)]
		start := time.Now()
		p, err := d.ContainerCreate(ctx, &container.Config{Image: e.images.pause, Labels: labels},
			&container.HostConfig{NetworkMode: container.NetworkMode(e.network), IpcMode: "shareable", PidMode: container.PidMode("container:" + node)},
			&network.NetworkingConfig{}, nil, fmt.Sprintf("kindlike-agenttest-%s-floor-pause-%d-%d", e.id, conc, i))
		if err != nil {
			b.Fatal(err)
		}
		if err := d.ContainerStart(ctx, p.ID, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
		c, err := d.ContainerCreate(ctx, &container.Config{Image: "busybox:1.31", Cmd: []string{"sleep", "3600"}, Labels: labels},
			&container.HostConfig{NetworkMode: container.NetworkMode("container:" + p.ID), IpcMode: container.IpcMode("container:" + p.ID), PidMode: container.PidMode("container:" + node)},
			nil, nil, fmt.Sprintf("kindlike-agenttest-%s-floor-main-%d-%d", e.id, conc, i))
		if err != nil {
			b.Fatal(err)
		}
		if err := d.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), []string{c.ID, p.ID}
	}
	var out []time.Duration
	var ids []string
	var mu sync.Mutex
	for i := 0; i < n; i += conc {
		var wg sync.WaitGroup
		for j := i; j < min(n, i+conc); j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				took, created := pair(j)
				mu.Lock()
				out, ids = append(out, took), append(ids, created...)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	for _, id := range ids {
		_ = d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// cpuTicks is a process's user and system CPU time in clock ticks (1/100 s).
func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

func rssKiB(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
