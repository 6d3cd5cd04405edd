package controlplane_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// podNames lists the names of pods matching selector in namespace (-n "": default).
func podNames(k kubectl, namespace, selector string) []string {
	args := []string{"get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	return strings.Fields(k.must(args...))
}

// TestReplicationControllers applies the tutorial's RCs: pods are created up to the
// desired count, a deleted pod is replaced, `kubectl scale rc` works, and the pods of
// a node that stops are replaced on the other once they are evicted.
func TestReplicationControllers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	fk := startFakeKubelet(t, clients(t, c)[0], "w1", "w2")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	dir := scenarios(t)
	k.must("apply", "-f", filepath.Join(dir, "06-mysql-rc-svc.yaml"), "-f", filepath.Join(dir, "07-myweb-rc-nodeport.yaml"))

	out := k.eventually(30*time.Second, `(?m)^myweb\s+5\s+5\s+5\s`, "get", "rc")
	matches(t, "get rc", out, `(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$`, `(?m)^mysql\s+1\s+1\s+1\s+\d+s$`)
	pods := podNames(k, "", "app=myweb")
	if len(pods) != 5 {
		t.Fatalf("myweb pods = %v, want 5", pods)
	}
	if got := k.must("get", "pod", pods[0], "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}"); got != "ReplicationController/myweb/true" {
		t.Errorf("pod owner = %q", got)
	}

	t.Run("deleted pod is replaced", func(t *testing.T) {
		k.must("delete", "pod", pods[0])
		k.eventually(30*time.Second, `(?m)^myweb\s+5\s+5\s+5\s`, "get", "rc", "myweb")
		now := podNames(k, "", "app=myweb")
		if len(now) != 5 || strings.Contains(strings.Join(now, " "), pods[0]) {
			t.Errorf("pods after delete = %v, want 5 without %s", now, pods[0])
		}
		matches(t, "describe rc", k.must("describe", "rc", "myweb"),
			`Normal\s+SuccessfulCreate\s+.*replication-controller\s+Created pod: myweb-[a-z0-9]{5}`)
	})

	t.Run("scale", func(t *testing.T) {
		contains(t, "scale rc", k.must("scale", "rc", "myweb", "--replicas=2"), "replicationcontroller/myweb scaled")
		k.eventually(30*time.Second, `(?m)^myweb\s+2\s+2\s+2\s`, "get", "rc", "myweb")
		k.eventually(30*time.Second, `^\S+ \S+$`, "get", "pods", "-l", "app=myweb", "-o", "jsonpath={.items[*].metadata.name}")
		matches(t, "describe rc", k.must("describe", "rc", "myweb"), `Normal\s+SuccessfulDelete\s+.*Deleted pod: myweb-`)
		if got := k.must("get", "rc", "myweb", "-o", "jsonpath={.status.observedGeneration} {.metadata.generation}"); got != "2 2" {
			t.Errorf("observedGeneration generation = %q, want \"2 2\"", got)
		}
	})

	t.Run("pods of a lost node are replaced", func(t *testing.T) {
		node := k.must("get", "pods", "-l", "app=mysql", "-o", "jsonpath={.items[0].spec.nodeName}")
		other := map[string]string{"w1": "w2", "w2": "w1"}[node]
		lost := k.must("get", "pods", "-l", "app=mysql", "-o", "jsonpath={.items[0].metadata.name}")
		fk.Stop(node)
		// Grace (10 s) and eviction (20 s), then the pod is evicted and replaced.
		out := k.eventually(60*time.Second, `(?m)^mysql-\S+\s+1/1\s+Running\s.*\s`+other+`\s`, "get", "pods", "-l", "app=mysql", "-o", "wide")
		// Terminating on an unreachable node, which kubectl shows as Unknown.
		matches(t, "old pod", out, `(?m)^`+regexp.QuoteMeta(lost)+`\s+\S+\s+Unknown\s`)
		if ts := k.must("get", "pod", lost, "-o", "jsonpath={.metadata.deletionTimestamp}"); ts == "" {
			t.Errorf("pod %s of the lost node has no deletionTimestamp", lost)
		}
		k.eventually(10*time.Second, `(?m)^mysql\s+1\s+1\s+1\s`, "get", "rc", "mysql")
	})
}
