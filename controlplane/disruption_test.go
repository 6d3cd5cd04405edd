package controlplane_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const webBudget = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
`

// TestDisruptionBudget: a budget's status says how many pods may go; of two
// evictions racing for its one allowed disruption exactly one wins and the other
// gets 429 with the budget's reason; once the replacement is Ready there is room
// again, and kubectl drain honours the budget.
func TestDisruptionBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	cs := clients(t, c)
	client := cs[0]
	startFakeKubelet(t, client, "w1", "w2", "w3")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	k.eventually(20*time.Second, `(?m)^default\s+Active`, "get", "ns")
	k.must("apply", "-f", writeManifest(t, "web", deploymentManifest("web", 3, "")), "-f", writeManifest(t, "pdb", webBudget))
	k.eventually(30*time.Second, `(?m)^web\s+3/3\s`, "get", "deploy", "web")
	out := k.eventually(20*time.Second, `(?m)^web\s+2\s+N/A\s+1\s`, "get", "pdb", "web")
	matches(t, "get pdb", out, `^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\n`)

	ctx := context.Background()
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods of web: %v (%v)", pods, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not the fake kubelet's client: its rate limit is spent on leases.
			errs[i] = cs[1+i].PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{
				ObjectMeta: metav1.ObjectMeta{Name: pods.Items[i].Name, Namespace: "default"}})
		}()
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case apierrors.IsTooManyRequests(err):
			refused++
			if !apierrors.HasStatusCause(err, "DisruptionBudget") {
				t.Errorf("refusal without the budget's cause: %v", err)
			}
		default:
			t.Errorf("eviction: %v", err)
		}
	}
	if refused != 1 {
		t.Fatalf("two evictions against one allowed disruption: %d refused, want 1 (%v)", refused, errs)
	}

	// The replacement comes up; the budget has room again; drain evicts one at a time.
	k.eventually(30*time.Second, `(?m)^web\s+2\s+N/A\s+1\s`, "get", "pdb", "web")
	node := k.must("get", "pod", pods.Items[2].Name, "-o", "jsonpath={.spec.nodeName}")
	k.must("drain", node, "--timeout=60s")
	k.eventually(30*time.Second, `(?m)^web\s+3/3\s`, "get", "deploy", "web")
	out = k.must("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}")
	if strings.Contains(out, node) {
		t.Errorf("pods still on drained node %s: %s", node, out)
	}
}
