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
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the scheduler name pods ask for (spec.schedulerName).
const Name = corev1.DefaultSchedulerName

// byNode indexes pods by the node they are bound to.
const byNode = "spec.nodeName"

// assumeFor is how long a binding the informer has not shown yet still counts on its
// node, so two pods scheduled in quick succession do not both take the last room.
const assumeFor = 30 * time.Second

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	podIndex cache.Indexer
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time

	mu sync.Mutex
	// assumed are pods bound by us that the informer does not show bound yet.
	assumed map[string]assumption
	// unschedulable are pods that fit nowhere; any change to nodes or pods retries them.
	unschedulable map[string]bool
}

type assumption struct {
	pod  *corev1.Pod
	node string
	at   time.Time
}

// New makes the scheduler.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, nodes coreinformers.NodeInformer, recorder record.EventRecorder, log *slog.Logger) *Scheduler {
	s := &Scheduler{
		client: client, pods: pods.Lister(), podIndex: pods.Informer().GetIndexer(), nodes: nodes.Lister(),
		synced:   []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:    reconcile.NewQueue("scheduler"),
		recorder: recorder, log: log, now: time.Now,
		assumed: map[string]assumption{}, unschedulable: map[string]bool{},
	}
	_ = pods.Informer().AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
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
				if p.Spec.NodeName != "" {
					// Room freed on a node.
					s.retryUnschedulable()
				}
			}
		},
	})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.retryUnschedulable() },
		UpdateFunc: func(any, any) { s.retryUnschedulable() },
	})
	return s
}

func terminal(obj any) bool {
	p, ok := obj.(*corev1.Pod)
	return ok && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

// Run schedules until ctx ends. One worker: decisions are made one pod at a time
// against a consistent view of every node, as kube-scheduler's cycle is.
func (s *Scheduler) Run(ctx context.Context) {
	loop := reconcile.Loop{Name: "scheduler", Queue: s.queue, Sync: s.sync, Log: s.log}
	loop.Run(ctx, 1, s.synced...)
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
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !responsible(pod) || s.isAssumed(key, pod) {
		return nil
	}
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	node, diagnosis := s.place(pod, nodes)
	if node == "" {
		s.mu.Lock()
		s.unschedulable[key] = true
		s.mu.Unlock()
		return s.reportUnschedulable(ctx, pod, diagnosis)
	}
	return s.bind(ctx, key, pod, node)
}

func (s *Scheduler) isAssumed(key string, pod *corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.assumed[key]
	return ok && a.pod.UID == pod.UID && s.now().Sub(a.at) < assumeFor
}

// place filters and scores the nodes for pod, returning the chosen node or why none fits.
func (s *Scheduler) place(pod *corev1.Pod, nodes []*corev1.Node) (string, diagnosis) {
	infos := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, s.nodeInfo(n))
	}
	return decide(pod, infos)
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

// nodeInfo collects a node and the pods that take room on it, bound or assumed.
func (s *Scheduler) nodeInfo(n *corev1.Node) *nodeInfo {
	info := &nodeInfo{node: n}
	objs, _ := s.podIndex.ByIndex(byNode, n.Name)
	seen := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		seen[string(p.UID)] = true
		info.pods = append(info.pods, p)
	}
	s.mu.Lock()
	for key, a := range s.assumed {
		if s.now().Sub(a.at) > assumeFor {
			delete(s.assumed, key)
			continue
		}
		if a.node == n.Name && !seen[string(a.pod.UID)] {
			info.pods = append(info.pods, a.pod)
		}
	}
	s.mu.Unlock()
	return info
}

func (s *Scheduler) bind(ctx context.Context, key string, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Deleted, or bound by someone else meanwhile: nothing left to do.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind %s to %s: %w", key, node, err)
	}
	bound := pod.DeepCopy()
	bound.Spec.NodeName = node
	s.mu.Lock()
	s.assumed[key] = assumption{pod: bound, node: node, at: s.now()}
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
