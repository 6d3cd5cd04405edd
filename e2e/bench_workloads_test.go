package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// BenchmarkWorkloads measures the figures of issue 5 on one control plane and three
// workers: a Deployment scaled from 0 to 50 Ready replicas, a rolling update of 20,
// and a worker's death to its replicas restored, split into detection (node
// NotReady), eviction (its pods marked for deletion) and restart (all Ready again
// on the other workers).
func BenchmarkWorkloads(b *testing.B) {
	buildImage(b)
	ctx := context.Background()
	for range b.N {
		name, kc := benchCluster(b)
		if out, err := runKindlike(kc, "create", "cluster", "--name", name, "--kubeconfig", kc, "--control-planes", "1", "--nodes", "3", "--wait", "3m"); err != nil {
			b.Fatalf("create: %v\n%s", err, out)
		}
		cs := clientFor(b, kc)
		replicas := func(n int32) *int32 { return &n }
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "bench"},
			Spec: appsv1.DeploymentSpec{
				Replicas: replicas(0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
				},
			},
		}
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}

		start := time.Now()
		scale(b, cs, 50)
		waitDeployment(b, cs, 50, 5*time.Minute)
		scaleUp := time.Since(start)

		scale(b, cs, 20)
		waitDeployment(b, cs, 20, 3*time.Minute)
		start = time.Now()
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.19"}]}}}}`
		if _, err := cs.AppsV1().Deployments("default").Patch(ctx, "bench", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		waitDeployment(b, cs, 20, 5*time.Minute)
		rollout := time.Since(start)

		// The old ReplicaSet's pods stop gracefully; they are gone before the kill so
		// that only the lost node's own pods count as evicted.
		for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
			if err == nil && len(pods.Items) == 20 {
				break
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatal("pods of the old ReplicaSet still there 2 minutes after the rollout")
			}
		}
		worker := name + "-worker2"
		if err := dockerCLI.ContainerKill(ctx, worker, "SIGKILL"); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		var detected, evicted, restored time.Duration
		for restored == 0 {
			if time.Since(killed) > 5*time.Minute {
				b.Fatalf("replicas not restored within 5 minutes (detected %s, evicted %s)", detected, evicted)
			}
			time.Sleep(100 * time.Millisecond)
			if detected == 0 {
				if n, err := cs.CoreV1().Nodes().Get(ctx, worker, metav1.GetOptions{}); err == nil && readyCondition(*n).Status != corev1.ConditionTrue {
					detected = time.Since(killed)
				}
				continue
			}
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bench"})
			if err != nil {
				continue
			}
			ready := 0
			for _, p := range pods.Items {
				if evicted == 0 && p.Spec.NodeName == worker && p.DeletionTimestamp != nil {
					evicted = time.Since(killed)
				}
				if p.DeletionTimestamp == nil && p.Spec.NodeName != worker && podReady(p) {
					ready++
				}
			}
			if evicted != 0 && ready == 20 {
				restored = time.Since(killed)
			}
		}
		b.ReportMetric(scaleUp.Seconds(), "scale0to50-s")
		b.ReportMetric(rollout.Seconds(), "rollout20-s")
		b.ReportMetric(restored.Seconds(), "worker-kill-restored-s")
		fmt.Printf("\nkindlike workload figures (1 control plane + 3 workers)\n")
		fmt.Printf("  Deployment 0 -> 50 Ready:             %6.1f s\n", scaleUp.Seconds())
		fmt.Printf("  rolling update of 20 replicas:        %6.1f s\n", rollout.Seconds())
		fmt.Printf("  worker kill -> 20 replicas Ready:     %6.1f s\n", restored.Seconds())
		fmt.Printf("    detection (node NotReady):          %6.1f s\n", detected.Seconds())
		fmt.Printf("    eviction (pods marked for deletion): %5.1f s\n", (evicted - detected).Seconds())
		fmt.Printf("    restart (replacements Ready):       %6.1f s\n", (restored - evicted).Seconds())
	}
}

func scale(b *testing.B, cs kubernetes.Interface, n int32) {
	b.Helper()
	// The controller's status writes move the resourceVersion the Scale carries.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := cs.AppsV1().Deployments("default").GetScale(context.Background(), "bench", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = n
		_, err = cs.AppsV1().Deployments("default").UpdateScale(context.Background(), "bench", s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// waitDeployment waits until the bench Deployment's rollout is complete with n
// replicas, all updated and available.
func waitDeployment(b *testing.B, cs kubernetes.Interface, n int32, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := cs.AppsV1().Deployments("default").Get(context.Background(), "bench", metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == n &&
			d.Status.Replicas == n && d.Status.AvailableReplicas == n && d.Status.ReadyReplicas == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("deployment not complete with %d replicas within %s: %+v (err %v)", n, timeout, d.Status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
