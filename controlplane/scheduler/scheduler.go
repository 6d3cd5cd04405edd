// Package scheduler is kindlike's scheduler: it runs on the Raft leader, picks a node
// for each pending pod by filtering the nodes that can run it and scoring the rest,
// and binds the pod through the pods/binding subresource, as kube-scheduler does.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the scheduler name pods ask for (spec.schedulerName).
const Name = corev1.DefaultSchedulerName

// byNode indexes pods by the node they are bound to.
const byNode = podcontrol.NodeIndex

// assumeFor is how long a binding the informer has not shown yet still counts on its
// node, so two pods scheduled in quick succession do not both take the last room.
const assumeFor = 30 * time.Second

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	podIndex cache.Indexer
	nodes    corelisters.NodeLister
	// claims and classes are set by UseClaims.
	claims   corelisters.PersistentVolumeClaimLister
	classes  storagelisters.StorageClassLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	// cycle makes scheduling decisions one at a time, though workers bind in parallel.
	cycle sync.Mutex

	mu sync.Mutex
	// assumed are pods bound by us that the informer does not show bound yet.
	assumed map[string]assumption
	// unschedulable are pods that fit nowhere; any change to nodes or pods retries them.
	unschedulable map[string]bool
	// requests remembers what each pod version asks for, until the pod is deleted.
	requests map[types.UID]podRequests
}

type podRequests struct {
	version string
	list    corev1.ResourceList
}

type assumption struct {
	pod  *corev1.Pod
	node string
	at   time.Time
}

// New makes the scheduler.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, nodes coreinformers.NodeInformer, recorder record.EventRecorder, log *slog.Logger) (*Scheduler, error) {
	s := &Scheduler{
		client: client, pods: pods.Lister(), podIndex: pods.Informer().GetIndexer(), nodes: nodes.Lister(),
		synced:   []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:    reconcile.NewQueue("scheduler"),
		recorder: recorder, log: log, now: time.Now,
		assumed: map[string]assumption{}, unschedulable: map[string]bool{}, requests: map[types.UID]podRequests{},
	}
	if err := podcontrol.IndexByNode(pods.Informer()); err != nil {
		return nil, fmt.Errorf("index pods by node: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.podChanged(obj) },
		UpdateFunc: func(old, obj any) {
			s.podChanged(obj)
			if p, ok := old.(*corev1.Pod); ok && p.Spec.NodeName != "" && terminal(obj) {
				s.retryUnschedulable()
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.forget(p)
				s.mu.Lock()
				delete(s.requests, p.UID)
				s.mu.Unlock()
				if p.Spec.NodeName != "" {
					// Room freed on a node.
					s.retryUnschedulable()
				}
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.retryUnschedulable() },
		UpdateFunc: func(any, any) { s.retryUnschedulable() },
	}); err != nil {
		return nil, fmt.Errorf("add node event handler: %w", err)
	}
	return s, nil
}

func terminal(obj any) bool {
	p, ok := obj.(*corev1.Pod)
	return ok && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

// Run schedules until ctx ends. Decisions are made one pod at a time against a
// consistent view of every node, as kube-scheduler's cycle is; a pod counts on its
// node from the moment it is chosen, so decisions need not wait for binds. workers is
// how many pods may be binding at once: each bind waits for a Raft commit, and
// overlapping them lets the store commit many in one round, as kube-scheduler's
// binding cycles overlap its scheduling cycle.
func (s *Scheduler) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "scheduler", Queue: s.queue, Sync: s.sync, Log: s.log}
	loop.Run(ctx, workers, s.synced...)
}

func (s *Scheduler) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if p.Spec.NodeName != "" {
		s.forget(p)
		return
	}
	if responsible(p) {
		reconcile.Enqueue(s.queue, p)
	}
}

// responsible reports whether the pod is this scheduler's to place.
func responsible(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil &&
		(p.Spec.SchedulerName == "" || p.Spec.SchedulerName == Name) &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
		len(p.Spec.SchedulingGates) == 0
}

func (s *Scheduler) forget(p *corev1.Pod) {
	key, _ := cache.MetaNamespaceKeyFunc(p)
	s.mu.Lock()
	delete(s.unschedulable, key)
	if a, ok := s.assumed[key]; ok && (p.Spec.NodeName != "" || a.pod.UID != p.UID) {
		delete(s.assumed, key)
	}
	s.mu.Unlock()
}

func (s *Scheduler) retryUnschedulable() {
	s.mu.Lock()
	keys := make([]string, 0, len(s.unschedulable))
	for k := range s.unschedulable {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.queue.Add(k)
	}
}

func (s *Scheduler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s.cycle.Lock()
	pod, node, diagnosis, err := s.choose(key, ns, name)
	s.cycle.Unlock()
	switch {
	case err != nil:
		return err
	case pod == nil:
		return nil
	case node == "":
		return s.reportUnschedulable(ctx, pod, diagnosis)
	}
	return s.bind(ctx, key, pod, node)
}

// choose is one scheduling cycle: it chooses a node for the pod named by key and
// assumes the pod there, or marks it unschedulable. A nil pod means nothing to do.
func (s *Scheduler) choose(key, ns, name string) (*corev1.Pod, string, diagnosis, error) {
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, "", diagnosis{}, nil
	}
	if err != nil {
		return nil, "", diagnosis{}, err
	}
	if !responsible(pod) || s.isAssumed(key, pod) {
		return nil, "", diagnosis{}, nil
	}
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return nil, "", diagnosis{}, err
	}
	why, err := s.claimsReady(pod)
	if err != nil {
		return nil, "", diagnosis{}, err
	}
	if why != "" {
		s.mu.Lock()
		s.unschedulable[key] = true
		s.mu.Unlock()
		return pod, "", diagnosis{nodes: len(nodes), preFilter: why}, nil
	}
	node, d := s.place(pod, nodes)
	s.mu.Lock()
	if node == "" {
		s.unschedulable[key] = true
	} else {
		bound := pod.DeepCopy()
		bound.Spec.NodeName = node
		s.assumed[key] = assumption{pod: bound, node: node, at: s.now()}
	}
	s.mu.Unlock()
	return pod, node, d, nil
}

func (s *Scheduler) isAssumed(key string, pod *corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.assumed[key]
	return ok && a.pod.UID == pod.UID && s.now().Sub(a.at) < assumeFor
}

// place filters and scores the nodes for pod, returning the chosen node or why none fits.
func (s *Scheduler) place(pod *corev1.Pod, nodes []*corev1.Node) (string, diagnosis) {
	return decide(pod, s.nodeInfos(nodes))
}

// decide filters nodes for pod and picks the best of those left, or says why none fits.
func decide(pod *corev1.Pod, nodes []*nodeInfo) (string, diagnosis) {
	d := diagnosis{nodes: len(nodes), reasons: map[string]int{}}
	all := &snapshot{nodes: nodes}
	var feasible []*nodeInfo
	for _, n := range nodes {
		if reason := filter(pod, n, all); reason != "" {
			d.reasons[reason]++
			if isResourceReason(reason) {
				d.resources++
			}
			continue
		}
		feasible = append(feasible, n)
	}
	if len(feasible) == 0 {
		return "", d
	}
	return best(pod, feasible, all).node.Name, d
}

// nodeInfos collects each node and the pods that take room on it, bound or assumed.
func (s *Scheduler) nodeInfos(nodes []*corev1.Node) []*nodeInfo {
	now := s.now()
	assumed := map[string][]*corev1.Pod{}
	s.mu.Lock()
	for key, a := range s.assumed {
		if now.Sub(a.at) > assumeFor {
			delete(s.assumed, key)
			continue
		}
		assumed[a.node] = append(assumed[a.node], a.pod)
	}
	s.mu.Unlock()
	infos := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		info := &nodeInfo{node: n}
		objs, _ := s.podIndex.ByIndex(byNode, n.Name)
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			info.pods = append(info.pods, p)
		}
		if extra := assumed[n.Name]; len(extra) > 0 {
			// A pod the informer shows running here already counts once, as the
			// informer has it.
			seen := make(map[types.UID]bool, len(info.pods))
			for _, p := range info.pods {
				seen[p.UID] = true
			}
			for _, p := range extra {
				if !seen[p.UID] {
					info.pods = append(info.pods, p)
				}
			}
		}
		info.requested = s.requested(info.pods)
		infos = append(infos, info)
	}
	return infos
}

// requested sums what the pods ask for, remembering each pod version's requests:
// working them out is most of the cost of a decision with many pods placed.
func (s *Scheduler) requested(pods []*corev1.Pod) corev1.ResourceList {
	total := corev1.ResourceList{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pods {
		c, ok := s.requests[p.UID]
		if !ok || c.version != p.ResourceVersion {
			c = podRequests{version: p.ResourceVersion, list: requests(p)}
			s.requests[p.UID] = c
		}
		addRequests(total, c.list)
	}
	return total
}

// bind binds the pod to the node it is assumed on; if that fails, the pod no longer
// counts there.
func (s *Scheduler) bind(ctx context.Context, key string, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	if err != nil {
		s.mu.Lock()
		if a, ok := s.assumed[key]; ok && a.pod.UID == pod.UID {
			delete(s.assumed, key)
		}
		s.mu.Unlock()
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Deleted, or bound by someone else meanwhile: nothing left to do.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind %s to %s: %w", key, node, err)
	}
	s.mu.Lock()
	delete(s.unschedulable, key)
	s.mu.Unlock()
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	s.log.Debug("pod scheduled", "pod", key, "node", node)
	return nil
}

// reportUnschedulable records why the pod fits nowhere, on its PodScheduled condition
// and as a FailedScheduling event, once per change of reason.
func (s *Scheduler) reportUnschedulable(ctx context.Context, pod *corev1.Pod, d diagnosis) error {
	msg := d.message()
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	pod = pod.DeepCopy()
	cond := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.NewTime(s.now()),
	}
	replaced := false
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			pod.Status.Conditions[i] = cond
			replaced = true
		}
	}
	if !replaced {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
