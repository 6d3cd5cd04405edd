package controlplane_test

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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlike/kindlike/internal/testcluster"
)

// benchClients are one client per member, without the tests' 5 s request timeout: a
// benchmark profiles the leader for longer than that.
func benchClients(b *testing.B, c *testcluster.Cluster) []kubernetes.Interface {
	var out []kubernetes.Interface
	for i := range c.Members {
		cs, err := kubernetes.NewForConfig(c.RestConfig(i))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, cs)
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkAPICreates measures ConfigMap creates per second through the whole HTTPS API
// of a three-member control plane, clients spread over the members.
func BenchmarkAPICreates(b *testing.B) {
	c := startCluster(b)
	cs := benchClients(b, c)
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			const total = 3000
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			start := time.Now()
			for w := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := w; n < total; n += clients {
						cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d-%d-%d", clients, b.N, n)}, Data: map[string]string{"k": "v"}}
						t0 := time.Now()
						if _, err := cs[w%len(cs)].CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(t0))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "creates/s")
			b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkLeaderKillToWrite kills -9 the leader process 20 times and measures the
// time from the kill to the first successful write through a surviving member.
func BenchmarkLeaderKillToWrite(b *testing.B) {
	c := startCluster(b)
	cs := benchClients(b, c)
	ctx := context.Background()
	var took []time.Duration
	for kill := range 20 {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		leader, err := c.Leader(lctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		survivor := (leader + 1) % len(c.Members)
		c.Members[leader].Kill()
		t0 := time.Now()
		for {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: fmt.Sprintf("kill%d-", kill)}}
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := cs[survivor].CoreV1().ConfigMaps("default").Create(wctx, cm, metav1.CreateOptions{})
			cancel()
			if err == nil {
				break
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("no write within 30s of killing the leader: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(t0))
		if err := c.Members[leader].Start(); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := c.WaitReady(wctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	b.ReportMetric(float64(percentile(took, 0.50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(took, 0.99).Milliseconds()), "p99-ms")
}

// BenchmarkRSS10kPods creates 10,000 pods and reports each member's resident memory.
func BenchmarkRSS10kPods(b *testing.B) {
	c := startCluster(b)
	cs := benchClients(b, c)
	const pods = 10000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; n < pods; n += 16 {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", n), Labels: map[string]string{"app": "bench", "n": strconv.Itoa(n % 10)}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "sise", Image: "quay.io/openshiftlabs/simple-service:0.5.0", Ports: []corev1.ContainerPort{{ContainerPort: 9876}}},
						{Name: "shell", Image: "centos:7", Command: []string{"bin/bash", "-c", "sleep 10000"}},
					}},
				}
				if _, err := cs[w%len(cs)].CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	for _, m := range c.Members {
		rss, err := rssMiB(m.PID())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rss, m.Name+"-RSS-MiB")
	}
}

func rssMiB(pid int) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
