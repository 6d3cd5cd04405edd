package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// loadResult is what e2e/loadclient prints for a load run.
type loadResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	PerSec   float64 `json:"perSec"`
	P50ms    float64 `json:"p50ms"`
	P99ms    float64 `json:"p99ms"`
	// LastSeen is when each backend pod last answered (Unix ns), with -hosts.
	LastSeen map[string]int64 `json:"lastSeen"`
}

// BenchmarkServices measures the figures of issue 9 on a cluster of one control plane
// and two workers, from inside a pod's network namespace (e2e/loadclient, run in the
// client pod's sandbox): HTTP requests/s and p99 to one backend through its pod IP,
// its ClusterIP and a NodePort (the same run, so the ratios compare like with like);
// Service created → first connection through its ClusterIP; DNS queries/s and p99
// against kube-dns.
func BenchmarkServices(b *testing.B) {
	buildImage(b)
	name, kubeconfig := benchCluster(b)
	if out, err := runKindlike(kubeconfig, "create", "cluster", "--name", name, "--kubeconfig", kubeconfig, "--nodes", "2", "--wait", "4m"); err != nil {
		b.Fatalf("create: %v\n%s", err, out)
	}
	client := b.TempDir() + "/loadclient"
	if out, err := exec.Command("go", "build", "-o", client, "./loadclient").CombinedOutput(); err != nil {
		b.Fatalf("build loadclient: %v\n%s", err, out)
	}
	cs := clientFor(b, kubeconfig)
	ctx := context.Background()
	one := int32(1)
	labels := map[string]string{"app": "bench-backend"}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, backendDeployment(labels, one), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-backend"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(9876)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-client", Labels: map[string]string{"bench": "client"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.31", Command: []string{"sleep", "3600"}}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	backend := waitPodRunning(b, cs, "app=bench-backend")
	clientPod := waitPodRunning(b, cs, "bench=client")
	sandbox := sandboxOf(b, name, clientPod.Name)
	run := func(args ...string) string {
		b.Helper()
		full := append([]string{"run", "--rm", "--network", "container:" + sandbox,
			"-v", client + ":/loadclient:ro", "--label", "kindlike.cluster=" + name,
			"--entrypoint", "/loadclient", "busybox:1.31"}, args...)
		var out, stderr bytes.Buffer
		cmd := exec.Command("docker", full...)
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("loadclient %q: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(out.String())
	}
	measure := func(url string) loadResult {
		var r loadResult
		if err := json.Unmarshal([]byte(run("http", url, "-c", "8", "-d", "5s")), &r); err != nil {
			b.Fatal(err)
		}
		if r.Requests == 0 || r.Errors > r.Requests/100 {
			b.Fatalf("%s: %+v", url, r)
		}
		return r
	}
	nodePort := svc.Spec.Ports[0].NodePort
	direct := measure(fmt.Sprintf("http://%s/info", net.JoinHostPort(backend.Status.PodIP, "9876")))
	viaCluster := measure(fmt.Sprintf("http://%s/info", net.JoinHostPort(svc.Spec.ClusterIP, "80")))
	viaNode := measure(fmt.Sprintf("http://%s/info", net.JoinHostPort(clientPod.Status.HostIP, strconv.Itoa(int(nodePort)))))
	b.ReportMetric(direct.PerSec, "podIP-req/s")
	b.ReportMetric(direct.P99ms, "podIP-p99-ms")
	b.ReportMetric(viaCluster.PerSec, "clusterIP-req/s")
	b.ReportMetric(viaCluster.P99ms, "clusterIP-p99-ms")
	b.ReportMetric(viaCluster.PerSec/direct.PerSec, "clusterIP/podIP")
	b.ReportMetric(viaNode.PerSec, "nodePort-req/s")
	b.ReportMetric(viaNode.P99ms, "nodePort-p99-ms")
	b.ReportMetric(viaNode.PerSec/direct.PerSec, "nodePort/podIP")

	// Service created → first connection through its ClusterIP. The address is
	// requested, so the client polls it before the Service exists.
	var firsts []time.Duration
	for i := range 10 {
		ip := fmt.Sprintf("10.100.7.%d", 10+i)
		done := make(chan string, 1)
		go func() { done <- run("connect", ip+":80", "-timeout", "30s") }()
		time.Sleep(1500 * time.Millisecond)
		start := time.Now()
		if _, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-first-%d", i)},
			Spec: corev1.ServiceSpec{ClusterIP: ip, Selector: labels,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(9876)}}},
		}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		ns, err := strconv.ParseInt(<-done, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		firsts = append(firsts, time.Unix(0, ns).Sub(start))
	}
	slices.Sort(firsts)
	b.ReportMetric(float64(firsts[len(firsts)/2].Milliseconds()), "svc-first-conn-p50-ms")
	b.ReportMetric(float64(firsts[len(firsts)-1].Milliseconds()), "svc-first-conn-max-ms")

	// Endpoint change: a backend deleted under load gets no more traffic once its
	// endpoint is gone from every node's rules.
	two := int32(2)
	scale, err := cs.AppsV1().Deployments("default").GetScale(ctx, "bench-backend", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	scale.Spec.Replicas = two
	if _, err := cs.AppsV1().Deployments("default").UpdateScale(ctx, "bench-backend", scale, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitReadyCount(b, cs, "app=bench-backend", 2)
	loaded := make(chan string, 1)
	go func() {
		loaded <- run("http", fmt.Sprintf("http://%s/info", net.JoinHostPort(svc.Spec.ClusterIP, "80")), "-c", "4", "-d", "6s", "-rate", "400", "-hosts")
	}()
	time.Sleep(2500 * time.Millisecond)
	deleted := time.Now()
	if err := cs.CoreV1().Pods("default").Delete(ctx, backend.Name, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	var under loadResult
	if err := json.Unmarshal([]byte(<-loaded), &under); err != nil {
		b.Fatal(err)
	}
	last, ok := under.LastSeen[backend.Name]
	if !ok || len(under.LastSeen) < 2 {
		b.Fatalf("load while deleting %s: %+v", backend.Name, under)
	}
	b.ReportMetric(float64(time.Unix(0, last).Sub(deleted).Milliseconds()), "pod-deleted-to-last-request-ms")
	b.ReportMetric(float64(under.Errors), "errors-while-deleting")

	var d loadResult
	if err := json.Unmarshal([]byte(run("dns", "10.96.0.10", "bench-backend.default.svc.cluster.local", "-c", "16", "-d", "5s")), &d); err != nil {
		b.Fatal(err)
	}
	if d.Requests == 0 || d.Errors > d.Requests/100 {
		b.Fatalf("dns: %+v", d)
	}
	b.ReportMetric(d.PerSec, "dns-q/s")
	b.ReportMetric(d.P99ms, "dns-p99-ms-saturated")
	// The target's latency is at the target's rate, not at saturation.
	if err := json.Unmarshal([]byte(run("dns", "10.96.0.10", "bench-backend.default.svc.cluster.local", "-c", "16", "-d", "5s", "-rate", "5000")), &d); err != nil {
		b.Fatal(err)
	}
	if d.Errors > d.Requests/100 {
		b.Fatalf("dns at 5,000/s: %+v", d)
	}
	b.ReportMetric(d.PerSec, "dns-q/s-paced")
	b.ReportMetric(d.P50ms, "dns-p50-ms-at-5000/s")
	b.ReportMetric(d.P99ms, "dns-p99-ms-at-5000/s")
}

// backendDeployment runs simple-service, the backend of the load runs.
func backendDeployment(labels map[string]string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-backend"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "kindlike/simple-service:0.5.0",
					Ports: []corev1.ContainerPort{{ContainerPort: 9876}},
				}}},
			},
		},
	}
}

// waitPodRunning waits for the first Running pod matching selector.
func waitPodRunning(b *testing.B, cs kubernetes.Interface, selector string) corev1.Pod {
	b.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && podReady(p) && p.Status.PodIP != "" {
					return p
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.Fatalf("no Running pod for %s", selector)
	return corev1.Pod{}
}

// waitReadyCount waits until n pods matching selector are Ready.
func waitReadyCount(b *testing.B, cs kubernetes.Interface, selector string, n int) {
	b.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			ready := 0
			for _, p := range list.Items {
				if podReady(p) && p.DeletionTimestamp == nil {
					ready++
				}
			}
			if ready == n {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.Fatalf("not %d Ready pods for %s", n, selector)
}

// sandboxOf is the pause container of a pod in the default namespace.
func sandboxOf(b *testing.B, clusterName, pod string) string {
	b.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=kindlike.cluster="+clusterName,
		"--filter", "label=io.kubernetes.pod.name="+pod, "--filter", "label=io.kubernetes.docker.type=podsandbox").Output()
	if err != nil || len(strings.Fields(string(out))) != 1 {
		b.Fatalf("sandbox of %s: %v %q", pod, err, out)
	}
	return strings.TrimSpace(string(out))
}
