package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestWorkloads runs the tutorials' workload lessons unmodified on a cluster of
// three control planes and three workers, then the failure lessons: a killed
// worker's replicas come back on the others without any command, and a rolling
// update survives the death of the Raft leader.
func TestWorkloads(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.create("--control-planes", "3", "--nodes", "3", "--wait", "3m")
	client := c.client()
	ctx := context.Background()

	// ReplicationControllers: replaced pods and scaling.
	c.mustKubectl("apply", "-f", scenario(t, "06-mysql-rc-svc.yaml"), "-f", scenario(t, "07-myweb-rc-nodeport.yaml"))
	c.waitFor(2*time.Minute, `(?m)^myweb\s+5\s+5\s+5\s`, "get", "rc")
	out := c.waitFor(time.Minute, `(?m)^mysql\s+1\s+1\s+1\s`, "get", "rc")
	matches(t, "get rc", out, `^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n`)
	victim := strings.Fields(c.mustKubectl("get", "pods", "-l", "app=myweb", "-o", "jsonpath={.items[0].metadata.name}"))[0]
	c.mustKubectl("delete", "pod", victim)
	c.waitFor(time.Minute, `(?m)^myweb\s+5\s+5\s+5\s`, "get", "rc")
	if names := c.mustKubectl("get", "pods", "-l", "app=myweb", "-o", "name"); strings.Contains(names, victim+"\n") {
		t.Errorf("deleted pod %s still listed:\n%s", victim, names)
	}
	c.mustKubectl("scale", "rc", "myweb", "--replicas=2")
	c.waitFor(time.Minute, `(?m)^myweb\s+2\s+2\s+2\s`, "get", "rc")
	eventually(t, time.Minute, "myweb scaled down to 2 pods", func() error {
		if n := len(c.podNames("default", "app=myweb")); n != 2 {
			return fmt.Errorf("%d pods", n)
		}
		return nil
	})

	// A Deployment: set image makes a second ReplicaSet, undo returns to the first.
	c.mustKubectl("create", "ns", "demo")
	c.mustKubectl("apply", "-f", scenario(t, "08-nginx-deployment.yaml"))
	c.waitFor(2*time.Minute, `(?m)^nginx-deployment-demo\s+3/3\s+3\s+3\s`, "get", "deploy", "-n", "demo")
	first := strings.Fields(c.waitFor(10*time.Second, `(?m)^nginx-deployment-demo-\S+\s+3\s+3\s+3\s`, "get", "rs", "-n", "demo", "--no-headers"))[0]
	if n := len(c.podNames("demo", "app=nginx,version=v1")); n != 3 {
		t.Errorf("pods with app=nginx,version=v1: %d, want 3", n)
	}
	c.mustKubectl("set", "image", "deploy/nginx-deployment-demo", "nginx=nginx:1.19", "-n", "demo")
	c.mustKubectl("rollout", "status", "deploy/nginx-deployment-demo", "-n", "demo", "--timeout=3m")
	rs := c.mustKubectl("get", "rs", "-n", "demo", "--no-headers")
	matches(t, "get rs after set image", rs, `(?m)^`+first+`\s+0\s+0\s+0\s`, `(?m)^nginx-deployment-demo-\S+\s+3\s+3\s+3\s`)
	matches(t, "rollout history", c.mustKubectl("rollout", "history", "deploy/nginx-deployment-demo", "-n", "demo"), `(?m)^1\s`, `(?m)^2\s`)
	c.mustKubectl("rollout", "undo", "deploy/nginx-deployment-demo", "-n", "demo")
	c.mustKubectl("rollout", "status", "deploy/nginx-deployment-demo", "-n", "demo", "--timeout=3m")
	c.waitFor(time.Minute, `(?m)^`+first+`\s+3\s+3\s+3\s`, "get", "rs", "-n", "demo", "--no-headers")
	if images := c.mustKubectl("get", "deploy", "nginx-deployment-demo", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); images != "nginx:1.14.2" {
		t.Errorf("image after undo: %q", images)
	}
	if _, err := c.kubectl("rollout", "undo", "deploy/nginx-deployment-demo", "-n", "demo", "--to-revision=99"); err == nil || !strings.Contains(err.Error(), "unable to find specified revision 99 in history") {
		t.Errorf("undo --to-revision=99: %v", err)
	}

	// A StatefulSet starts its pods in order, each once the one before is Ready,
	// with one claim per pod.
	c.mustKubectl("apply", "-f", scenario(t, "09-web-statefulset.yaml"))
	c.waitFor(3*time.Minute, `(?m)^web-demo\s+2/2\s`, "get", "sts", "-n", "demo")
	c.mustKubectl("scale", "sts", "web-demo", "-n", "demo", "--replicas=5")
	c.waitFor(3*time.Minute, `(?m)^web-demo\s+5/5\s`, "get", "sts", "-n", "demo")
	var readyAt, createdAt []time.Time
	for i := range 5 {
		p, err := client.CoreV1().Pods("demo").Get(ctx, fmt.Sprintf("web-demo-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		createdAt = append(createdAt, p.CreationTimestamp.Time)
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				readyAt = append(readyAt, cond.LastTransitionTime.Time)
			}
		}
	}
	for i := 1; i < 5; i++ {
		if createdAt[i].Before(readyAt[i-1]) {
			t.Errorf("web-demo-%d created at %s, before web-demo-%d was Ready at %s", i, createdAt[i], i-1, readyAt[i-1])
		}
	}
	claims := c.waitFor(time.Minute, `(?m)^www-web-demo-4\s+Bound\s`, "get", "pvc", "-n", "demo")
	for i := range 5 {
		matches(t, "get pvc", claims, fmt.Sprintf(`(?m)^www-web-demo-%d\s+Bound\s`, i))
	}

	// A killed worker's replicas return on the others, with no command typed.
	c.mustKubectl("create", "deployment", "resilient", "--image=nginx", "--replicas=6")
	c.waitFor(2*time.Minute, `(?m)^resilient\s+6/6\s`, "get", "deploy")
	perNode := c.podsPerNode("default", "app=resilient")
	t.Logf("resilient pods per node before the kill: %v", perNode)
	if len(perNode) != 3 {
		t.Errorf("6 replicas over 3 workers landed on %d nodes: %v", len(perNode), perNode)
	}
	lost := c.name + "-worker2"
	killed := time.Now()
	dockerDo(t, "kill", []string{lost}, kill)
	notReady := eventually(t, time.Minute, lost+" NotReady", func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if readyCondition(*n).Status == corev1.ConditionTrue {
			return fmt.Errorf("still Ready")
		}
		return nil
	})
	eventually(t, 2*time.Minute, "6 Ready replicas on the surviving workers", func() error {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=resilient"})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != lost && podReady(p) {
				ready++
			}
		}
		if ready != 6 {
			return fmt.Errorf("%d ready replicas away from %s", ready, lost)
		}
		return nil
	})
	t.Logf("worker %s killed: NotReady after %.1fs, 6 replicas Ready elsewhere after %.1fs",
		lost, notReady.Seconds(), time.Since(killed).Seconds())

	// Back again: the node is Ready and the pods replaced elsewhere are cleaned up.
	dockerDo(t, "start", []string{lost}, start)
	eventually(t, 2*time.Minute, lost+" Ready and its replaced pods gone", func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if readyCondition(*n).Status != corev1.ConditionTrue {
			return fmt.Errorf("%s not Ready", lost)
		}
		if names := c.podNames("default", "app=resilient"); len(names) != 6 {
			return fmt.Errorf("%d pods: %v", len(names), names)
		}
		return nil
	})
	if perNode := c.podsPerNode("default", "app=resilient"); perNode[lost] != 0 {
		t.Errorf("after %s's return, pods on it: %v (the replicas live elsewhere now)", lost, perNode)
	}

	// A rolling update of 10 replicas completes although the leader dies midway.
	c.mustKubectl("scale", "deploy", "resilient", "--replicas=10")
	c.waitFor(2*time.Minute, `(?m)^resilient\s+10/10\s`, "get", "deploy")
	c.mustKubectl("set", "image", "deploy/resilient", "nginx=nginx:1.19")
	st, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	leader, _, ok := st.Leader()
	if !ok {
		t.Fatalf("no leader: %+v", st)
	}
	// Kill it in the middle: some pods updated, not all.
	eventually(t, time.Minute, "the rollout under way", func() error {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "resilient", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas == 0 || d.Status.UpdatedReplicas >= 10 {
			return fmt.Errorf("updated %d of 10", d.Status.UpdatedReplicas)
		}
		return nil
	})
	dockerDo(t, "kill", []string{leader}, kill)
	eventually(t, 30*time.Second, "API after the leader's death", func() error {
		_, err := c.kubectl("get", "deploy", "resilient", "--request-timeout=3s")
		return err
	})
	c.mustKubectl("rollout", "status", "deploy/resilient", "--timeout=4m")
	// Pods of the old ReplicaSet may still be terminating, as on any cluster.
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=resilient"})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			images = append(images, p.Spec.Containers[0].Image)
		}
	}
	if len(images) != 10 || slices.ContainsFunc(images, func(s string) bool { return s != "nginx:1.19" }) {
		t.Errorf("after the rollout, images of the pods not terminating: %q", images)
	}
	dockerDo(t, "start", []string{leader}, start)
}

// client is a typed client for the test's cluster.
func (c *testCluster) client() kubernetes.Interface {
	c.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		c.t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return cs
}

// podNames lists the pods matching selector, Terminating ones included.
func (c *testCluster) podNames(ns, selector string) []string {
	c.t.Helper()
	return strings.Fields(c.mustKubectl("get", "pods", "-n", ns, "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"))
}

// podsPerNode counts the pods matching selector on each node.
func (c *testCluster) podsPerNode(ns, selector string) map[string]int {
	c.t.Helper()
	out := map[string]int{}
	for _, n := range strings.Fields(c.mustKubectl("get", "pods", "-n", ns, "-l", selector, "-o", "jsonpath={.items[*].spec.nodeName}")) {
		out[n]++
	}
	return out
}

func podReady(p corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// matches fails t unless out matches every regular expression.
func matches(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s: no match for %q in:\n%s", what, re, out)
		}
	}
}
