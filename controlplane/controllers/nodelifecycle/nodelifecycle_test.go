package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

var (
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// timing is Kubernetes' own: a 40 s grace period, checked every 5 s.
	timing = config.KubernetesTiming()
	grace  = timing.NodeMonitorGracePeriod.Duration
)

func newNode(name string, ready corev1.ConditionStatus, heartbeat time.Time, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(heartbeat)}}}}
}

func newLease(node string, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), RenewTime: &metav1.MicroTime{Time: renewed}}}
}

// newPod makes a running, ready pod on node that tolerates an unreachable or
// not-ready node for seconds (nil: forever; negative: not at all).
func newPod(name, node string, seconds *int64) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}}}
	if seconds == nil || *seconds >= 0 {
		for _, key := range []string{TaintUnreachable, TaintNotReady} {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds})
		}
	}
	return p
}

func unreachable(added time.Time) []corev1.Taint {
	return []corev1.Taint{{Key: TaintUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: TaintUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}}
}

// cluster is an API (the fake clientset) and its node lifecycle controller on a fake
// clock. The informers' stores are filled from the API around every sync, as their
// watches would, so each step of a test sees what the last one wrote.
type cluster struct {
	t       *testing.T
	client  *fake.Clientset
	clock   *clocktesting.FakeClock
	events  *record.FakeRecorder
	factory informers.SharedInformerFactory
	c       *Controller
}

func newCluster(t *testing.T, objs ...runtime.Object) *cluster {
	h := &cluster{t: t, client: fake.NewSimpleClientset(objs...), clock: clocktesting.NewFakeClock(t0), events: record.NewFakeRecorder(100)}
	h.lead()
	return h
}

// lead starts a new controller, as a new leader does.
func (h *cluster) lead() {
	h.t.Helper()
	h.factory = informers.NewSharedInformerFactory(h.client, 0)
	c, err := newController(h.client, h.factory.Core().V1().Nodes(), h.factory.Coordination().V1().Leases(), h.factory.Core().V1().Pods(),
		h.events, timing, h.clock, slog.New(slog.DiscardHandler))
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
}

func (h *cluster) refresh() {
	h.t.Helper()
	ctx := context.Background()
	nodes, err := h.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	leases, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	pods, err := h.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	replace := func(store cache.Store, items []any) {
		if err := store.Replace(items, ""); err != nil {
			h.t.Fatal(err)
		}
	}
	var items []any
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	replace(h.factory.Core().V1().Nodes().Informer().GetStore(), items)
	items = nil
	for i := range leases.Items {
		items = append(items, &leases.Items[i])
	}
	replace(h.factory.Coordination().V1().Leases().Informer().GetStore(), items)
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	replace(h.factory.Core().V1().Pods().Informer().GetStore(), items)
}

// sync makes the controller look at node now.
func (h *cluster) sync(node string) {
	h.t.Helper()
	h.refresh()
	if err := h.c.sync(context.Background(), node); err != nil {
		h.t.Fatalf("sync %s at %s: %v", node, h.clock.Now().Sub(t0), err)
	}
	h.refresh()
}

func (h *cluster) node(name string) *corev1.Node {
	h.t.Helper()
	n, err := h.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// taints lists a node's taints as key:effect.
func (h *cluster) taints(name string) []string {
	var out []string
	for _, t := range h.node(name).Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

// pods lists the names of the pods left.
func (h *cluster) pods() []string {
	h.t.Helper()
	list, err := h.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func (h *cluster) pod(name string) *corev1.Pod {
	h.t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// renew renews a node's lease now, as its agent does.
func (h *cluster) renew(node string) {
	h.t.Helper()
	ctx := context.Background()
	l, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: h.clock.Now()}
	if _, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// post posts a node's Ready condition now, as its agent does.
func (h *cluster) post(node string, ready corev1.ConditionStatus) {
	h.t.Helper()
	n := h.node(node)
	now := metav1.NewTime(h.clock.Now())
	for i := range n.Status.Conditions {
		if c := &n.Status.Conditions[i]; c.Type == corev1.NodeReady {
			if c.Status != ready {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason, c.Message, c.LastHeartbeatTime = ready, "KubeletReady", "", now
		}
	}
	if _, err := h.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// drainEvents returns the events recorded since the last call.
func (h *cluster) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestGracePeriod(t *testing.T) {
	h := newCluster(t, newNode("worker", corev1.ConditionTrue, t0), newLease("worker", t0),
		newPod("web", "worker", ptr.To[int64](300)), newPod("agent", "worker", nil), newPod("elsewhere", "other", nil))
	done := newPod("done", "worker", nil)
	done.Status.Phase = corev1.PodSucceeded
	if _, err := h.client.CoreV1().Pods("default").Create(context.Background(), done, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	h.sync("worker")
	h.clock.Step(30 * time.Second)
	h.renew("worker")
	h.sync("worker")
	// A full grace period since the renewal the controller saw: still fine.
	h.clock.Step(grace)
	h.sync("worker")
	if got := readyStatus(h.node("worker")); got != corev1.ConditionTrue || len(h.taints("worker")) != 0 {
		t.Fatalf("within the grace period: Ready=%s, taints %v", got, h.taints("worker"))
	}
	if ev := h.drainEvents(); len(ev) != 0 {
		t.Errorf("events within the grace period: %q", ev)
	}

	h.clock.Step(time.Second)
	h.sync("worker")
	node := h.node("worker")
	for _, c := range node.Status.Conditions {
		if c.Status != corev1.ConditionUnknown {
			t.Errorf("condition %s is %s, want Unknown", c.Type, c.Status)
		}
	}
	ready := readyCondition(node)
	if ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." || !ready.LastTransitionTime.Time.Equal(h.clock.Now()) {
		t.Errorf("Ready condition %+v", ready)
	}
	if got, want := h.taints("worker"), []string{TaintUnreachable + ":NoSchedule", TaintUnreachable + ":NoExecute"}; !slices.Equal(got, want) {
		t.Errorf("taints %v, want %v", got, want)
	}
	for _, name := range []string{"web", "agent"} {
		p := h.pod(name)
		if p.Status.Reason != ReasonNodeLost || p.Status.Message != fmt.Sprintf("Node worker which was running pod %s is unresponsive", name) {
			t.Errorf("pod %s: reason %q message %q", name, p.Status.Reason, p.Status.Message)
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionFalse || c.Reason != ReasonNodeLost {
				t.Errorf("pod %s condition %s: %s %s", name, c.Type, c.Status, c.Reason)
			}
		}
	}
	for _, name := range []string{"done", "elsewhere"} {
		if p := h.pod(name); p.Status.Reason != "" {
			t.Errorf("pod %s marked %s", name, p.Status.Reason)
		}
	}
	if got, want := h.drainEvents(), []string{
		"Normal NodeNotReady Node worker status is now: NodeNotReady",
		"Warning NodeNotReady Node is not ready",
		"Warning NodeNotReady Node is not ready",
	}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}

	// The lost node stays as it is while nothing changes.
	h.clock.Step(timing.NodeMonitorPeriod.Duration)
	h.sync("worker")
	if ev := h.drainEvents(); len(ev) != 0 {
		t.Errorf("events on a second look at a lost node: %q", ev)
	}
}

// Pods go when their toleration of the taint runs out, each on time, and the
// controller comes back for the next one by itself.
func TestEvictionTiming(t *testing.T) {
	h := newCluster(t, newNode("worker", corev1.ConditionUnknown, t0.Add(-time.Minute)), newLease("worker", t0.Add(-time.Minute)),
		newPod("bare", "worker", ptr.To[int64](-1)), newPod("web", "worker", ptr.To[int64](30)),
		newPod("slow", "worker", ptr.To[int64](60)), newPod("agent", "worker", nil))
	h.sync("worker") // taints the node
	h.sync("worker") // evicts
	if got, want := h.pods(), []string{"agent", "slow", "web"}; !slices.Equal(got, want) {
		t.Fatalf("pods right after the taint: %v, want %v", got, want)
	}
	for _, step := range []struct {
		after time.Duration
		// callback says the controller asked to look again at this moment.
		callback bool
		want     []string
	}{
		{29 * time.Second, false, []string{"agent", "slow", "web"}},
		{30 * time.Second, true, []string{"agent", "slow"}},
		{59 * time.Second, false, []string{"agent", "slow"}},
		{60 * time.Second, true, []string{"agent"}},
		{time.Hour, false, []string{"agent"}},
	} {
		next := t0.Add(step.after)
		if step.callback {
			h.clock.SetTime(next.Add(-time.Millisecond))
			if n := h.c.queue.Len(); n != 0 {
				t.Fatalf("node queued before %s", step.after)
			}
			h.clock.SetTime(next)
			controllertest.Eventually(t, fmt.Sprintf("the node queued again at %s", step.after), func() bool { return h.c.queue.Len() == 1 })
			key, _ := h.c.queue.Get()
			h.c.queue.Done(key)
		}
		h.clock.SetTime(next)
		h.sync("worker")
		if got := h.pods(); !slices.Equal(got, step.want) {
			t.Fatalf("pods %s after the taint: %v, want %v", step.after, got, step.want)
		}
	}
	var evicted []string
	for _, e := range h.drainEvents() {
		if e != "Warning NodeNotReady Node is not ready" {
			evicted = append(evicted, e)
		}
	}
	if want := []string{
		"Normal TaintManagerEviction Marking for deletion Pod default/bare",
		"Normal TaintManagerEviction Marking for deletion Pod default/web",
		"Normal TaintManagerEviction Marking for deletion Pod default/slow",
	}; !slices.Equal(evicted, want) {
		t.Errorf("events %q, want %q", evicted, want)
	}
}

// A node whose agent says NotReady is tainted not-ready (its pods are not lost: the
// agent is there), and untainted when it is Ready again.
func TestNotReady(t *testing.T) {
	h := newCluster(t, newNode("worker", corev1.ConditionFalse, t0), newLease("worker", t0),
		newPod("bare", "worker", ptr.To[int64](-1)), newPod("web", "worker", ptr.To[int64](30)))
	h.sync("worker")
	if got, want := h.taints("worker"), []string{TaintNotReady + ":NoSchedule", TaintNotReady + ":NoExecute"}; !slices.Equal(got, want) {
		t.Errorf("taints %v, want %v", got, want)
	}
	h.sync("worker")
	if got, want := h.pods(), []string{"web"}; !slices.Equal(got, want) {
		t.Errorf("pods on a NotReady node: %v, want %v", got, want)
	}
	if p := h.pod("web"); p.Status.Reason != "" {
		t.Errorf("a pod of a NotReady node marked %s", p.Status.Reason)
	}

	h.clock.Step(10 * time.Second)
	h.renew("worker")
	h.post("worker", corev1.ConditionTrue)
	h.sync("worker")
	if got := h.taints("worker"); len(got) != 0 {
		t.Errorf("taints of a Ready node: %v", got)
	}
	h.clock.Step(30 * time.Second)
	h.renew("worker")
	h.sync("worker")
	if got, want := h.pods(), []string{"web"}; !slices.Equal(got, want) {
		t.Errorf("pods once the node is Ready again: %v, want %v", got, want)
	}
	if got := h.drainEvents(); !slices.Contains(got, "Normal NodeReady Node worker status is now: NodeReady") {
		t.Errorf("events %q, want NodeReady", got)
	}
}

// A lost node whose agent comes back loses its taints, and its pods stay.
func TestNodeComesBack(t *testing.T) {
	lostAt := t0.Add(-10 * time.Second)
	h := newCluster(t, newNode("worker", corev1.ConditionUnknown, lostAt.Add(-grace), unreachable(lostAt)...),
		newLease("worker", lostAt.Add(-grace)), newPod("web", "worker", ptr.To[int64](30)))
	h.sync("worker")
	h.drainEvents()
	h.clock.Step(10 * time.Second)
	h.renew("worker")
	h.post("worker", corev1.ConditionTrue)
	h.sync("worker")
	if got := h.taints("worker"); len(got) != 0 {
		t.Errorf("taints of a node that came back: %v", got)
	}
	if got := readyStatus(h.node("worker")); got != corev1.ConditionTrue {
		t.Errorf("Ready=%s", got)
	}
	h.clock.Step(time.Minute)
	h.renew("worker")
	h.sync("worker")
	if got, want := h.pods(), []string{"web"}; !slices.Equal(got, want) {
		t.Errorf("pods of a node that came back: %v, want %v", got, want)
	}
	if got := h.drainEvents(); !slices.Equal(got, []string{"Normal NodeReady Node worker status is now: NodeReady"}) {
		t.Errorf("events %q", got)
	}
}

// A new leader starts every clock fresh: a node gets a full grace period from the
// moment the new leader first sees it, and a pod a full toleration, however long ago
// the last heartbeat or the taint was. Failover alone never loses a node or evicts.
func TestNewLeaderStartsFresh(t *testing.T) {
	t.Run("grace", func(t *testing.T) {
		h := newCluster(t, newNode("worker", corev1.ConditionTrue, t0), newLease("worker", t0))
		h.sync("worker")
		h.clock.Step(30 * time.Second)
		h.sync("worker")
		// Leadership moves; the agent has not renewed since t0. The new leader looks
		// at every node at once, as its informers list them.
		h.lead()
		h.sync("worker")
		// Past the grace period the old leader was counting.
		h.clock.Step(15 * time.Second)
		h.sync("worker")
		h.clock.Step(grace - 15*time.Second)
		h.sync("worker")
		if got := readyStatus(h.node("worker")); got != corev1.ConditionTrue {
			t.Fatalf("a full grace period after the new leader first saw the node: Ready=%s", got)
		}
		h.clock.Step(time.Second)
		h.sync("worker")
		if got := readyStatus(h.node("worker")); got != corev1.ConditionUnknown {
			t.Fatalf("past the new leader's grace period: Ready=%s", got)
		}
	})
	t.Run("toleration", func(t *testing.T) {
		taintedAt := t0.Add(-10 * time.Minute)
		h := newCluster(t, newNode("worker", corev1.ConditionUnknown, taintedAt, unreachable(taintedAt)...),
			newLease("worker", taintedAt), newPod("web", "worker", ptr.To[int64](30)))
		h.sync("worker")
		h.clock.Step(29 * time.Second)
		h.sync("worker")
		if got, want := h.pods(), []string{"web"}; !slices.Equal(got, want) {
			t.Fatalf("pods within the new leader's toleration: %v, want %v", got, want)
		}
		h.clock.Step(time.Second)
		h.sync("worker")
		if got := h.pods(); len(got) != 0 {
			t.Fatalf("pods after the new leader's toleration: %v", got)
		}
	})
}

// Run looks at every node each monitor period of its clock, and stops its ticker
// and workers before it returns.
func TestRunWatchesOnItsClock(t *testing.T) {
	client := fake.NewSimpleClientset(newNode("worker", corev1.ConditionTrue, t0), newLease("worker", t0))
	clk := &countingClock{FakeClock: clocktesting.NewFakeClock(t0)}
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := newController(client, factory.Core().V1().Nodes(), factory.Coordination().V1().Leases(), factory.Core().V1().Pods(),
		record.NewFakeRecorder(100), timing, clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, client, factory, func(ctx context.Context) {
		clk.slowStop.Store(true)
		c.Run(ctx, 1)
		if n := clk.running.Load(); n != 0 {
			t.Errorf("Run returned with %d tickers still running", n)
		}
	})
	controllertest.Eventually(t, "the node seen", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.health["worker"] != nil
	})
	// No event comes after the first look: only the ticker makes the controller look again.
	clk.Step(grace + time.Second)
	controllertest.Eventually(t, "the node Ready=Unknown", func() bool {
		n, err := client.CoreV1().Nodes().Get(context.Background(), "worker", metav1.GetOptions{})
		return err == nil && readyStatus(n) == corev1.ConditionUnknown
	})
}

// countingClock is a fake clock that counts its tickers not yet stopped.
type countingClock struct {
	*clocktesting.FakeClock
	running atomic.Int32
	// slowStop makes the tickers made from now on take a moment to stop, as a
	// goroutine winding down may: whoever started one must wait for it.
	slowStop atomic.Bool
}

func (c *countingClock) NewTicker(d time.Duration) clock.Ticker {
	c.running.Add(1)
	return &countedTicker{Ticker: c.FakeClock.NewTicker(d), clock: c, slow: c.slowStop.Load()}
}

type countedTicker struct {
	clock.Ticker
	clock *countingClock
	slow  bool
}

func (t *countedTicker) Stop() {
	if t.slow {
		time.Sleep(20 * time.Millisecond)
	}
	t.Ticker.Stop()
	t.clock.running.Add(-1)
}
