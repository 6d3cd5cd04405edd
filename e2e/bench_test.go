package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/docker"
	"github.com/kindlike/kindlike/config"
)

// benchCluster makes a cluster for a benchmark, removed when it ends.
func benchCluster(b *testing.B) (name, kubeconfig string) {
	b.Helper()
	name, kubeconfig = clusterName(), b.TempDir()+"/kubeconfig"
	b.Cleanup(func() {
		if out, err := runKindlike(kubeconfig, "delete", "cluster", "--name", name, "--kubeconfig", kubeconfig); err != nil {
			b.Errorf("delete cluster: %v\n%s", err, out)
		}
	})
	return name, kubeconfig
}

// buildImage builds the node image first, so creates are timed with it cached.
func buildImage(b *testing.B) {
	b.Helper()
	if out, err := exec.Command(bin, "build", "node-image").CombinedOutput(); err != nil {
		b.Fatalf("build node-image: %v\n%s", err, out)
	}
}

func clientFor(b *testing.B, kubeconfig string) *kubernetes.Clientset {
	b.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Timeout = 2 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// BenchmarkCluster measures the figures of issue 3 on a 3 control plane + 3 worker
// cluster: create time with the node image cached, each container's memory at rest
// (as docker stats shows it), leader kill to the next acknowledged write, and worker
// kill to NotReady.
func BenchmarkCluster(b *testing.B) {
	buildImage(b)
	ctx := context.Background()
	for range b.N {
		name, kc := benchCluster(b)
		start := time.Now()
		if out, err := runKindlike(kc, "create", "cluster", "--name", name, "--kubeconfig", kc, "--control-planes", "3", "--nodes", "3", "--wait", "3m"); err != nil {
			b.Fatalf("create: %v\n%s", err, out)
		}
		created := time.Since(start)
		b.ReportMetric(created.Seconds(), "create-s")

		// Memory at rest: after the start-up work has settled.
		time.Sleep(15 * time.Second)
		p, err := docker.New()
		if err != nil {
			b.Fatal(err)
		}
		nodes, err := cluster.Nodes(ctx, p, name)
		if err != nil {
			b.Fatal(err)
		}
		rss := map[string][]float64{}
		var lines []string
		for _, n := range nodes {
			m, err := p.MemoryUsage(ctx, n.Name)
			if err != nil {
				b.Fatal(err)
			}
			mib := float64(m) / (1 << 20)
			rss[n.Role] = append(rss[n.Role], mib)
			lines = append(lines, fmt.Sprintf("  %-40s %-24s %6.1f MiB", n.Name, n.Role, mib))
		}
		p.Close()
		b.ReportMetric(slices.Max(rss[config.RoleControlPlane]), "cp-max-MiB")
		b.ReportMetric(slices.Max(rss[config.RoleWorker]), "worker-max-MiB")
		b.ReportMetric(slices.Max(rss[cluster.RoleLoadBalancer]), "lb-MiB")

		cs := clientFor(b, kc)
		write := func(name string) error {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := cs.CoreV1().ConfigMaps("default").Create(wctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			return err
		}
		if err := write("warm-up"); err != nil {
			b.Fatal(err)
		}
		st, err := statusOf(kc, name)
		if err != nil {
			b.Fatal(err)
		}
		leader, _, ok := st.Leader()
		if !ok {
			b.Fatalf("no leader: %+v", st)
		}
		if err := dockerCLI.ContainerKill(ctx, leader, "SIGKILL"); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		for i := 0; write("after-kill-"+strconv.Itoa(i)) != nil; i++ {
			if time.Since(killed) > time.Minute {
				b.Fatal("no write succeeded within a minute of the leader's death")
			}
		}
		failover := time.Since(killed)
		b.ReportMetric(failover.Seconds(), "failover-write-s")

		worker := name + "-worker"
		if err := dockerCLI.ContainerKill(ctx, worker, "SIGKILL"); err != nil {
			b.Fatal(err)
		}
		killed = time.Now()
		var notReady time.Duration
		for notReady == 0 {
			if time.Since(killed) > 2*time.Minute {
				b.Fatal("the killed worker did not go NotReady within 2 minutes")
			}
			n, err := cs.CoreV1().Nodes().Get(ctx, worker, metav1.GetOptions{})
			if err == nil && readyCondition(*n).Status != corev1.ConditionTrue {
				notReady = time.Since(killed)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportMetric(notReady.Seconds(), "worker-notready-s")

		fmt.Printf("\nkindlike cluster figures (3 control planes + 3 workers)\n")
		fmt.Printf("  create, node image cached:          %6.2f s   (target < 10 s)\n", created.Seconds())
		fmt.Printf("  leader kill -> next write:          %6.2f s   (target < 3 s)\n", failover.Seconds())
		fmt.Printf("  worker kill -> NotReady:            %6.2f s   (grace period %s)\n", notReady.Seconds(), config.DemoTiming().NodeMonitorGracePeriod)
		fmt.Printf("  memory at rest (docker stats):\n%s\n", strings.Join(lines, "\n"))
	}
}

// BenchmarkManyWorkers creates the largest cluster of issue 3's target (3 control
// planes + KINDLIKE_BENCH_WORKERS workers, default 50) and reports how long until
// every node is Ready.
func BenchmarkManyWorkers(b *testing.B) {
	workers := 50
	if s := os.Getenv("KINDLIKE_BENCH_WORKERS"); s != "" {
		var err error
		if workers, err = strconv.Atoi(s); err != nil {
			b.Fatalf("KINDLIKE_BENCH_WORKERS=%q: %v", s, err)
		}
	}
	buildImage(b)
	for range b.N {
		name, kc := benchCluster(b)
		start := time.Now()
		if out, err := runKindlike(kc, "create", "cluster", "--name", name, "--kubeconfig", kc, "--control-planes", "3", "--nodes", strconv.Itoa(workers), "--wait", "10m"); err != nil {
			b.Fatalf("create with %d workers: %v\n%s", workers, err, out)
		}
		took := time.Since(start)
		b.ReportMetric(took.Seconds(), "create-s")
		b.ReportMetric(float64(workers+3), "nodes-Ready")
		fmt.Printf("\nkindlike: 3 control planes + %d workers, all Ready, created in %.1f s\n", workers, took.Seconds())
	}
}

func statusOf(kubeconfig, name string) (*cluster.Status, error) {
	c := &testCluster{name: name, kubeconfig: kubeconfig}
	return c.status()
}
