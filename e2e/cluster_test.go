package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"

	"github.com/kindlike/kindlike/cluster"
)

// status runs `kindlike status -o json`.
func (c *testCluster) status() (*cluster.Status, error) {
	out, err := runKindlikeStdout(c.kubeconfig, "status", "--name", c.name, "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("status: %w: %s", err, out)
	}
	var st cluster.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("status: %w: %s", err, out)
	}
	return &st, nil
}

func runKindlikeStdout(kubeconfig string, args ...string) (string, error) {
	out, err := runKindlike(kubeconfig, args...)
	if err != nil {
		return out, err
	}
	// Progress and notices go to stderr, which CombinedOutput mixes in; JSON starts
	// at the first brace.
	if i := strings.Index(out, "{"); i > 0 {
		out = out[i:]
	}
	return out, nil
}

// nodes returns the cluster's Node objects.
func (c *testCluster) nodes() ([]corev1.Node, error) {
	out, err := c.kubectl("get", "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list corev1.NodeList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// readyCondition returns a node's Ready condition.
func readyCondition(n corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// allReady fails unless exactly want nodes exist and all are Ready.
func (c *testCluster) allReady(want int) error {
	nodes, err := c.nodes()
	if err != nil {
		return err
	}
	var notReady []string
	for _, n := range nodes {
		if readyCondition(n).Status != corev1.ConditionTrue {
			notReady = append(notReady, n.Name)
		}
	}
	if len(nodes) != want || len(notReady) > 0 {
		return fmt.Errorf("%d nodes, want %d; not Ready: %q", len(nodes), want, notReady)
	}
	return nil
}

// dockerDo applies f to every named container at once, as a reboot would.
func dockerDo(t *testing.T, what string, names []string, f func(ctx context.Context, name string) error) {
	t.Helper()
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() {
			if err := f(context.Background(), n); err != nil {
				errs <- fmt.Errorf("docker %s %s: %w", what, n, err)
				return
			}
			errs <- nil
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func kill(ctx context.Context, name string) error {
	return dockerCLI.ContainerKill(ctx, name, "SIGKILL")
}
func start(ctx context.Context, name string) error {
	return dockerCLI.ContainerStart(ctx, name, container.StartOptions{})
}
func restart(ctx context.Context, name string) error {
	return dockerCLI.ContainerRestart(ctx, name, container.StopOptions{})
}

// TestSingleControlPlane: the smallest cluster, its kubeconfig, the get commands,
// adding and removing a worker, and a delete that leaves nothing behind.
func TestSingleControlPlane(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	out := c.create("--control-planes", "1", "--nodes", "1", "--wait", "2m")
	for _, want := range []string{"✓ starting control plane 1/1", "✓ waiting for nodes Ready (2/2)", "kubectl cluster-info --context kindlike-" + c.name} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "load balancer") {
		t.Errorf("a single control plane got a load balancer:\n%s", out)
	}
	if err := c.allReady(2); err != nil {
		t.Fatal(err)
	}
	if ns := c.mustKubectl("get", "ns", "-o", "name"); !strings.Contains(ns, "namespace/kube-node-lease") {
		t.Errorf("namespaces: %s", ns)
	}
	if ctx := strings.TrimSpace(c.mustKubectl("config", "current-context")); ctx != "kindlike-"+c.name {
		t.Errorf("current context %q", ctx)
	}

	if out, err := c.run("get", "clusters"); err != nil || !strings.Contains(out, c.name) {
		t.Errorf("get clusters: %v\n%s", err, out)
	}
	out, err := c.run("get", "nodes", "--name", c.name)
	if err != nil || !strings.Contains(out, c.name+"-control-plane   control-plane") || !strings.Contains(out, "running") {
		t.Errorf("get nodes: %v\n%s", err, out)
	}
	out, err = c.run("get", "kubeconfig", "--name", c.name, "--internal")
	if err != nil || !strings.Contains(out, "server: https://"+c.name+"-control-plane:6443") {
		t.Errorf("get kubeconfig --internal: %v\n%s", err, out)
	}
	st, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 1 || !st.Members[0].Leader || len(st.Nodes) != 2 || st.Nodes[1].Ready != "True" || st.Nodes[1].LeaseAge < 0 {
		t.Errorf("status: %+v", st)
	}

	out, err = c.run("add", "node", "--name", c.name, "--wait", "1m")
	if err != nil || !strings.Contains(out, c.name+"-worker2") {
		t.Fatalf("add node: %v\n%s", err, out)
	}
	if err := c.allReady(3); err != nil {
		t.Fatal(err)
	}
	if out, err := c.run("remove", "node", c.name+"-worker2", "--name", c.name); err != nil {
		t.Fatalf("remove node: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "the removed node's Node object is gone", func() error { return c.allReady(2) })
	cs, vs, _ := labelled(t, c.name)
	if slices.Contains(cs, c.name+"-worker2") || slices.Contains(vs, c.name+"-worker2") {
		t.Errorf("remove node left containers %q volumes %q", cs, vs)
	}

	if out, err := c.run("delete", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig); err != nil {
		t.Fatalf("delete cluster: %v\n%s", err, out)
	}
	assertNothingLabelled(t, c.name)
	if ctxs := c.mustKubectl("config", "get-contexts", "-o", "name"); strings.Contains(ctxs, c.name) {
		t.Errorf("kubeconfig still has the context: %s", ctxs)
	}
}

// TestHighAvailability: three control planes behind the load balancer survive the
// leader's death, a stop and start of the cluster, and a restart of every container,
// losing nothing.
func TestHighAvailability(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	out := c.create("--control-planes", "3", "--nodes", "2", "--wait", "3m")
	for _, want := range []string{"✓ starting control plane 3/3", "✓ starting load balancer", "✓ waiting for nodes Ready (5/5)"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	c.mustKubectl("get", "ns")
	c.mustKubectl("create", "configmap", "before-failover", "--from-literal=k=v")

	st, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	leader, term, ok := st.Leader()
	if !ok || len(st.Members) != 3 {
		t.Fatalf("status before failover: %+v", st)
	}
	before, err := c.nodes()
	if err != nil {
		t.Fatal(err)
	}

	// A Service on the workers, to show that losing a control plane only affects
	// that node's own pods: the workers' kube-proxy rules keep answering.
	c.mustKubectl("create", "deployment", "hello", "--image=kindlike/simple-service:0.5.0", "--replicas=2", "--port=9876")
	c.mustKubectl("expose", "deployment", "hello", "--type=NodePort", "--port=80", "--target-port=9876")
	c.waitFor(2*time.Minute, `(?m)^hello\s+2/2\s`, "get", "deploy", "hello")
	workerIP := c.mustKubectl("get", "node", c.name+"-worker", "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)
	helloURL := "http://" + net.JoinHostPort(workerIP, c.mustKubectl("get", "svc", "hello", "-o", "jsonpath={.spec.ports[0].nodePort}")) + "/info"
	eventually(t, 30*time.Second, "hello answers at "+helloURL, func() error { _, err := infoHost(helloURL); return err })

	t.Run("leader killed", func(t *testing.T) {
		dockerDo(t, "kill", []string{leader}, kill)
		for range 20 {
			if _, err := infoHost(helloURL); err != nil {
				t.Errorf("with the leader %s dead, a Service on the workers failed: %v", leader, err)
				break
			}
		}
		took := eventually(t, 20*time.Second, "a write through the same kubeconfig after the leader's death", func() error {
			_, err := c.kubectl("create", "configmap", "after-failover", "--request-timeout=3s")
			return err
		})
		t.Logf("leader %s killed: next write succeeded after %.2fs", leader, took.Seconds())
		if took > 10*time.Second {
			t.Errorf("failover took %s", took)
		}
		st, err := c.status()
		if err != nil {
			t.Fatal(err)
		}
		newLeader, newTerm, ok := st.Leader()
		if !ok || newLeader == leader || newTerm <= term {
			t.Fatalf("after killing %s (term %d): leader %q term %d\n%+v", leader, term, newLeader, newTerm, st)
		}
		// A failover must not make healthy nodes look lost.
		after, err := c.nodes()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range after {
			for _, b := range before {
				if a.Name == b.Name && a.Name != leader && !readyCondition(a).LastTransitionTime.Time.Equal(readyCondition(b).LastTransitionTime.Time) {
					t.Errorf("node %s's Ready condition changed during the failover: %+v", a.Name, readyCondition(a))
				}
			}
		}
		dockerDo(t, "start", []string{leader}, start)
		eventually(t, time.Minute, leader+" back in the Raft group", func() error {
			st, err := c.status()
			if err != nil {
				return err
			}
			for _, m := range st.Members {
				if m.Name == leader && m.Reachable && m.State == "Follower" {
					return nil
				}
			}
			return fmt.Errorf("members %+v", st.Members)
		})
		eventually(t, time.Minute, "all nodes Ready", func() error { return c.allReady(5) })
	})

	t.Run("stop and start", func(t *testing.T) {
		if out, err := c.run("stop", "cluster", "--name", c.name); err != nil {
			t.Fatalf("stop cluster: %v\n%s", err, out)
		}
		out, err := c.run("get", "nodes", "--name", c.name)
		if err != nil || strings.Contains(out, "running") {
			t.Fatalf("after stop: %v\n%s", err, out)
		}
		if out, err := c.run("start", "cluster", "--name", c.name, "--wait", "2m"); err != nil {
			t.Fatalf("start cluster: %v\n%s", err, out)
		}
		if err := c.allReady(5); err != nil {
			t.Fatal(err)
		}
		c.mustKubectl("get", "configmap", "before-failover", "after-failover")
	})

	t.Run("docker restart of every container", func(t *testing.T) {
		// What a daemon restart brings back: the nodes and the load balancer (their
		// restart policy), not the pods' containers, which their agents replace.
		dockerDo(t, "restart", nodeContainers(t, c.name), restart)
		eventually(t, time.Minute, "API back", func() error {
			_, err := c.kubectl("get", "configmap", "before-failover", "after-failover")
			return err
		})
		eventually(t, time.Minute, "all nodes Ready", func() error { return c.allReady(5) })
	})

	t.Run("control plane added and removed", func(t *testing.T) {
		out, err := c.run("add", "node", "--control-plane", "--name", c.name, "--wait", "1m")
		if err != nil {
			t.Fatalf("add node --control-plane: %v\n%s", err, out)
		}
		added := c.name + "-control-plane4"
		st, err := c.status()
		if err != nil || len(st.Members) != 4 {
			t.Fatalf("after adding %s: %v %+v", added, err, st)
		}
		if out, err := c.run("remove", "node", added, "--name", c.name); err != nil {
			t.Fatalf("remove node: %v\n%s", err, out)
		}
		eventually(t, 20*time.Second, "3 members again", func() error {
			st, err := c.status()
			if err != nil {
				return err
			}
			if len(st.Members) != 3 {
				return fmt.Errorf("members %+v", st.Members)
			}
			return nil
		})
		c.mustKubectl("get", "configmap", "before-failover")
	})

	if out, err := c.run("delete", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig); err != nil {
		t.Fatalf("delete cluster: %v\n%s", err, out)
	}
	assertNothingLabelled(t, c.name)
}
