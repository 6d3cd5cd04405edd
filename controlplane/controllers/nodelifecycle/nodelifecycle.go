// Package nodelifecycle is the node lifecycle controller: it notices nodes whose agent
// stopped renewing its Lease, marks them Ready=Unknown and taints them unreachable,
// marks their pods NodeLost, and evicts pods once their toleration of the taint runs
// out. Its clocks live in memory on the leader and start fresh with each leadership,
// so a failover never makes a healthy node look lost.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// The taints and reasons Kubernetes uses for unhealthy nodes and their pods.
const (
	TaintUnreachable = corev1.TaintNodeUnreachable
	TaintNotReady    = corev1.TaintNodeNotReady
	ReasonNodeLost   = "NodeLost"
	reasonUnknown    = "NodeStatusUnknown"
	messageUnknown   = "Kubelet stopped posting node status."
	byNode           = podcontrol.NodeIndex
)

// health is what the controller observed of one node, on its own clock.
type health struct {
	// probe is when the controller last saw the node's heartbeat move (lease renewed,
	// or status posted), by the controller's clock.
	probe time.Time
	// renew and heartbeat are the last heartbeats seen, to notice when they move.
	renew     time.Time
	heartbeat time.Time
}

// Controller watches node heartbeats.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordlisters.LeaseLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	timing   config.Timing
	clock    clock.WithTicker
	// started is when this controller (this leadership) began: no clock of its runs
	// from earlier, so a toleration that began under another leader starts again.
	started time.Time
	log     *slog.Logger

	mu     sync.Mutex
	health map[string]*health
}

// New makes the controller. Its clocks start now: every node gets a full grace period,
// and every pod on a tainted node its full toleration.
func New(client kubernetes.Interface, nodes coreinformers.NodeInformer, leases coordinformers.LeaseInformer, pods coreinformers.PodInformer,
	recorder record.EventRecorder, timing config.Timing, log *slog.Logger) (*Controller, error) {
	return newController(client, nodes, leases, pods, recorder, timing, clock.RealClock{}, log)
}

// newController is New on clk, which tests set.
func newController(client kubernetes.Interface, nodes coreinformers.NodeInformer, leases coordinformers.LeaseInformer, pods coreinformers.PodInformer,
	recorder record.EventRecorder, timing config.Timing, clk clock.WithTicker, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, nodes: nodes.Lister(), leases: leases.Lister(), pods: pods.Informer().GetIndexer(),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		queue:    reconcile.NewQueueWithClock("nodelifecycle", clk),
		recorder: recorder, timing: timing, clock: clk, started: clk.Now(), log: log,
		health: map[string]*health{},
	}
	if err := podcontrol.IndexByNode(pods.Informer()); err != nil {
		return nil, fmt.Errorf("index pods by node: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add node event handler: %w", err)
	}
	if _, err := leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if l, ok := obj.(*coordinationv1.Lease); ok && l.Namespace == corev1.NamespaceNodeLease {
				c.queue.Add(l.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("add lease event handler: %w", err)
	}
	return c, nil
}

// Run checks every node each monitor period until ctx ends, and returns when its
// workers and its ticker have stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := c.clock.NewTicker(c.timing.NodeMonitorPeriod.Duration)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
				nodes, _ := c.nodes.List(labels.Everything())
				for _, n := range nodes {
					c.queue.Add(n.Name)
				}
			}
		}
	}()
	loop := reconcile.Loop{Name: "nodelifecycle", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
	wg.Wait()
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	now := c.clock.Now()
	if c.lost(node, now) && readyStatus(node) != corev1.ConditionUnknown {
		if node, err = c.markUnknown(ctx, node, now); err != nil {
			return err
		}
	}
	if err := c.reconcileTaints(ctx, node, now); err != nil {
		return err
	}
	if readyStatus(node) == corev1.ConditionUnknown {
		if err := c.markPodsLost(ctx, node); err != nil {
			return err
		}
	}
	return c.evict(ctx, node, now)
}

// lost records the node's heartbeats and reports whether none moved within the grace
// period, by the controller's own clock.
func (c *Controller) lost(node *corev1.Node, now time.Time) bool {
	var renew time.Time
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	var heartbeat time.Time
	if cond := readyCondition(node); cond != nil && cond.Status != corev1.ConditionUnknown {
		heartbeat = cond.LastHeartbeatTime.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.health[node.Name]
	if !ok {
		c.health[node.Name] = &health{probe: now, renew: renew, heartbeat: heartbeat}
		return false
	}
	if !renew.Equal(h.renew) || !heartbeat.Equal(h.heartbeat) {
		h.probe, h.renew, h.heartbeat = now, renew, heartbeat
	}
	return now.Sub(h.probe) > c.timing.NodeMonitorGracePeriod.Duration
}

// markUnknown sets every condition of a silent node to Unknown, as Kubernetes does.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	node = node.DeepCopy()
	ts := metav1.NewTime(now)
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		found := false
		for i := range node.Status.Conditions {
			cond := &node.Status.Conditions[i]
			if cond.Type != t {
				continue
			}
			found = true
			if cond.Status != corev1.ConditionUnknown {
				cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = corev1.ConditionUnknown, reasonUnknown, messageUnknown, ts
			}
		}
		if !found {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: ts, LastTransitionTime: ts,
			})
		}
	}
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	c.log.Info("node stopped posting status", "node", node.Name, "grace", c.timing.NodeMonitorGracePeriod.Duration)
	c.recorder.Eventf(nodeRef(updated), corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return updated, nil
}

// reconcileTaints gives a node the taints its Ready condition calls for: unreachable
// when Unknown, not-ready when False, none when True.
func (c *Controller) reconcileTaints(ctx context.Context, node *corev1.Node, now time.Time) error {
	var want string
	switch readyStatus(node) {
	case corev1.ConditionUnknown:
		want = TaintUnreachable
	case corev1.ConditionFalse:
		want = TaintNotReady
	}
	var kept []corev1.Taint
	have := map[corev1.TaintEffect]bool{}
	changed := false
	for _, t := range node.Spec.Taints {
		if t.Key == TaintUnreachable || t.Key == TaintNotReady {
			if t.Key != want {
				changed = true
				continue
			}
			have[t.Effect] = true
		}
		kept = append(kept, t)
	}
	if want != "" {
		ts := metav1.NewTime(now)
		for _, effect := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			if !have[effect] {
				t := corev1.Taint{Key: want, Effect: effect}
				if effect == corev1.TaintEffectNoExecute {
					t.TimeAdded = &ts
				}
				kept = append(kept, t)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	wasLost := hasTaintKey(node.Spec.Taints, TaintUnreachable) || hasTaintKey(node.Spec.Taints, TaintNotReady)
	node = node.DeepCopy()
	node.Spec.Taints = kept
	if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("taint node %s: %w", node.Name, err)
	}
	if want == "" && wasLost {
		c.log.Info("node is back", "node", node.Name)
		c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", node.Name)
	}
	return nil
}

// markPodsLost marks the pods of a lost node not ready, with reason NodeLost.
func (c *Controller) markPodsLost(ctx context.Context, node *corev1.Node) error {
	objs, err := c.pods.ByIndex(byNode, node.Name)
	if err != nil {
		return err
	}
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.Status.Reason == ReasonNodeLost || podcontrol.IsTerminal(pod) {
			continue
		}
		pod = pod.DeepCopy()
		pod.Status.Reason = ReasonNodeLost
		pod.Status.Message = fmt.Sprintf("Node %s which was running pod %s is unresponsive", node.Name, pod.Name)
		now := metav1.NewTime(c.clock.Now())
		for i := range pod.Status.Conditions {
			cond := &pod.Status.Conditions[i]
			if (cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady) && cond.Status != corev1.ConditionFalse {
				cond.Status, cond.Reason, cond.LastTransitionTime = corev1.ConditionFalse, ReasonNodeLost, now
			}
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mark pod %s/%s lost: %w", pod.Namespace, pod.Name, err)
		}
		c.recorder.Eventf(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return nil
}

// evict deletes the pods of a node with NoExecute taints once their tolerations run
// out, and asks to be called again when the next one will.
func (c *Controller) evict(ctx context.Context, node *corev1.Node, now time.Time) error {
	var taints []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			taints = append(taints, t)
		}
	}
	if len(taints) == 0 {
		return nil
	}
	objs, err := c.pods.ByIndex(byNode, node.Name)
	if err != nil {
		return err
	}
	var next time.Duration
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := evictionTime(pod, taints, c.started)
		if !ok {
			continue
		}
		if wait := at.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &pod.UID},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		c.log.Info("evicted pod from tainted node", "pod", pod.Namespace+"/"+pod.Name, "node", node.Name)
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	}
	if next > 0 {
		c.queue.AddAfter(node.Name, next)
	}
	return nil
}

// evictionTime is when a pod must leave a node with the given NoExecute taints: now for
// a taint it does not tolerate, the shortest toleration otherwise; false when it
// tolerates them all forever. A toleration runs from when the taint was added, or
// from since, when this controller started, if that is later: as kube-controller-
// manager's taint eviction, a new leader times every toleration afresh.
func evictionTime(pod *corev1.Pod, taints []corev1.Taint, since time.Time) (time.Time, bool) {
	var at time.Time
	found := false
	for _, taint := range taints {
		added := since
		if taint.TimeAdded != nil && taint.TimeAdded.After(since) {
			added = taint.TimeAdded.Time
		}
		tolerated, forever := false, false
		var seconds int64
		for _, tol := range pod.Spec.Tolerations {
			if !tol.ToleratesTaint(&taint) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				forever = true
				break
			}
			if *tol.TolerationSeconds > seconds {
				seconds = *tol.TolerationSeconds
			}
		}
		if forever {
			continue
		}
		t := added
		if tolerated {
			t = added.Add(time.Duration(seconds) * time.Second)
		}
		if !found || t.Before(at) {
			at, found = t, true
		}
	}
	return at, found
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := readyCondition(node); c != nil {
		return c.Status
	}
	return corev1.ConditionUnknown
}

func hasTaintKey(taints []corev1.Taint, key string) bool {
	for _, t := range taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// nodeRef is how events about a node name it: kubectl describe node finds them by
// involvedObject name and uid "" as kubelet writes them.
func nodeRef(node *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: node.Name, UID: node.UID, APIVersion: "v1"}
}
