// Package daemonset is the DaemonSet controller: one pod per eligible node (by node
// selector, node affinity and taints, with the tolerations Kubernetes gives DaemonSet
// pods), on nodes that join later too, each pinned to its node by a matchFields
// affinity the scheduler honours; rolling updates within maxUnavailable and maxSurge,
// or OnDelete; templates kept as ControllerRevisions.
package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/history"
	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the controller's name, as its events' source.
const Name = "daemonset-controller"

// Event reasons, as Kubernetes' DaemonSet controller records them.
const (
	reasonFailedDaemonPod = "FailedDaemonPod"
	reasonSelectingAll    = "SelectingAll"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps DaemonSets' pods and revisions.
type Controller struct {
	client       kubernetes.Interface
	sets         appslisters.DaemonSetLister
	pods         corelisters.PodLister
	nodes        corelisters.NodeLister
	revisions    appslisters.ControllerRevisionLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	control      podcontrol.Control
	history      history.Control
	expectations *podcontrol.Expectations
	// failedBackoff spaces out replacing a node's failed pod, which a node that keeps
	// rejecting pods would otherwise turn into a hot loop.
	failedBackoff *flowcontrol.Backoff
	now           func() time.Time
	log           *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, sets appsinformers.DaemonSetInformer, pods coreinformers.PodInformer,
	nodes coreinformers.NodeInformer, revisions appsinformers.ControllerRevisionInformer,
	recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, sets: sets.Lister(), pods: pods.Lister(), nodes: nodes.Lister(), revisions: revisions.Lister(),
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, revisions.Informer().HasSynced},
		queue:    reconcile.NewQueue("daemonset"),
		recorder: recorder, control: podcontrol.Control{Client: client, Recorder: recorder},
		history: history.Control{Client: client}, expectations: podcontrol.NewExpectations(),
		failedBackoff: flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		now:           time.Now, log: log,
	}
	if _, err := sets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { reconcile.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expectations.Forget(key)
			}
			reconcile.Enqueue(c.queue, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("add daemonset event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod := obj.(*corev1.Pod)
			if key, ok := c.owner(pod); ok {
				c.expectations.CreationObserved(key)
				if pod.DeletionTimestamp != nil {
					c.expectations.DeletionObserved(key, podcontrol.Key(pod))
				}
				c.queue.Add(key)
				return
			}
			c.enqueueAdopters(pod)
		},
		UpdateFunc: func(oldObj, obj any) {
			old, pod := oldObj.(*corev1.Pod), obj.(*corev1.Pod)
			if key, ok := c.owner(old); ok {
				c.queue.Add(key)
			}
			if key, ok := c.owner(pod); ok {
				if pod.DeletionTimestamp != nil {
					c.expectations.DeletionObserved(key, podcontrol.Key(pod))
				}
				c.queue.Add(key)
				return
			}
			c.enqueueAdopters(pod)
		},
		DeleteFunc: func(obj any) {
			pod, ok := reconcile.Unwrap(obj).(*corev1.Pod)
			if !ok {
				return
			}
			if key, ok := c.owner(pod); ok {
				c.expectations.DeletionObserved(key, podcontrol.Key(pod))
				c.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(oldObj, obj any) {
			old, node := oldObj.(*corev1.Node), obj.(*corev1.Node)
			if !reflect.DeepEqual(old.Labels, node.Labels) || !reflect.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
				old.Spec.Unschedulable != node.Spec.Unschedulable {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, fmt.Errorf("add node event handler: %w", err)
	}
	return c, nil
}

// Run syncs DaemonSets until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "daemonset", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

func (c *Controller) owner(pod *corev1.Pod) (string, bool) {
	return podcontrol.OwnerKey(pod, controllerKind)
}

func (c *Controller) enqueueAdopters(pod *corev1.Pod) {
	if metav1.GetControllerOfNoCopy(pod) != nil || pod.DeletionTimestamp != nil {
		return
	}
	sets, _ := c.sets.DaemonSets(pod.Namespace).List(labels.Everything())
	podcontrol.EnqueueSelecting(c.queue, sets, func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector }, pod.Labels)
}

func (c *Controller) enqueueAll() {
	sets, _ := c.sets.List(labels.Everything())
	for _, ds := range sets {
		c.queue.Add(podcontrol.Key(ds))
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := shared.DeepCopy()
	ds.APIVersion, ds.Kind = controllerKind.GroupVersion().String(), controllerKind.Kind
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil
	}
	if selector.Empty() {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonSelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	collisionCount := ptr.Deref(ds.Status.CollisionCount, 0)
	cur, old, err := c.constructHistory(ctx, ds, selector, &collisionCount)
	if err != nil {
		return err
	}
	hash := cur.Labels[history.HashLabel]
	pods, err := c.claimPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	if c.expectations.Satisfied(key) {
		acted, err := c.manage(ctx, ds, nodes, pods, hash)
		if err != nil {
			return err
		}
		if !acted && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			if err := c.rollingUpdate(ctx, ds, nodes, pods, hash); err != nil {
				return err
			}
		}
		if err := c.cleanupHistory(ctx, ds, pods, old); err != nil {
			return err
		}
	}
	return c.updateStatus(ctx, ds, nodes, pods, hash, collisionCount)
}

// claimPods returns the DaemonSet's pods, adopting orphans that match its selector.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return podcontrol.Claim(ctx, ds, controllerKind, selector, all, podcontrol.PodPatcher(c.client, ds.Namespace))
}

// nodeToPods groups the DaemonSet's pods by their node, leaving out finished pods
// already being deleted.
func nodeToPods(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && podcontrol.IsTerminal(p) {
			continue
		}
		if node, ok := targetNode(p); ok {
			out[node] = append(out[node], p)
		}
	}
	return out
}

// manage creates the pods nodes lack and deletes those that must go (failed ones,
// surplus ones, those on nodes that no longer want them). It reports whether it
// asked for anything.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) (bool, error) {
	byNode := nodeToPods(pods)
	surge := allowsSurge(ds)
	var create, remove []*corev1.Pod
	var createOn []string
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		run, stay := shouldRun(ds, node)
		onNode := byNode[node.Name]
		switch {
		case run && len(onNode) == 0:
			createOn = append(createOn, node.Name)
		case stay:
			var running []*corev1.Pod
			for _, p := range onNode {
				switch {
				case p.DeletionTimestamp != nil:
				case podcontrol.IsTerminal(p):
					backoffKey := string(ds.UID) + "/" + node.Name
					now := c.now()
					if c.failedBackoff.IsInBackOffSinceUpdate(backoffKey, now) {
						c.queue.AddAfter(podcontrol.Key(ds), c.failedBackoff.Get(backoffKey))
						continue
					}
					c.failedBackoff.Next(backoffKey, now)
					if p.Status.Phase == corev1.PodFailed {
						c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonFailedDaemonPod,
							"Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
					}
					remove = append(remove, p)
				default:
					running = append(running, p)
				}
			}
			sortOldestFirst(running)
			switch {
			case !surge && len(running) > 1:
				remove = append(remove, running[1:]...)
			case surge && len(running) == 0 && run:
				createOn = append(createOn, node.Name)
			case surge && len(running) > 1:
				remove = append(remove, c.surplus(ds, running, hash)...)
			}
		case len(onNode) > 0:
			for _, p := range onNode {
				if p.DeletionTimestamp == nil {
					remove = append(remove, p)
				}
			}
		}
	}
	// Pods waiting for a node that is gone are never scheduled.
	for _, p := range pods {
		if node, ok := targetNode(p); ok && p.Spec.NodeName == "" && !known[node] && p.DeletionTimestamp == nil {
			remove = append(remove, p)
		}
	}
	for _, node := range createOn {
		create = append(create, c.newPod(ds, node, hash))
	}
	return len(create)+len(remove) > 0, c.syncNodes(ctx, ds, create, remove)
}

// surplus picks, among several running pods of a surging DaemonSet on one node,
// those to delete: all but the oldest new and oldest old pod, and the old one too
// once the new one is available (or the old one is not ready anyway).
func (c *Controller) surplus(ds *appsv1.DaemonSet, running []*corev1.Pod, hash string) []*corev1.Pod {
	var out []*corev1.Pod
	var newest, oldest *corev1.Pod
	for _, p := range running {
		switch {
		case isUpdated(ds, p, hash) && newest == nil:
			newest = p
		case !isUpdated(ds, p, hash) && oldest == nil:
			oldest = p
		default:
			out = append(out, p)
		}
	}
	if newest != nil && oldest != nil && (!podutils.IsPodReady(oldest) || podutils.IsPodAvailable(newest, ds.Spec.MinReadySeconds, metav1.NewTime(c.now()))) {
		out = append(out, oldest)
	}
	return out
}

// newPod makes the DaemonSet's pod for node.
func (c *Controller) newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	template := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&template.Spec)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	if g, ok := templateGeneration(ds); ok {
		template.Labels[templateGenerationLabel] = strconv.FormatInt(g, 10)
	}
	template.Labels[history.HashLabel] = hash
	pod := podcontrol.NewPod(template, ds, controllerKind)
	bindToNode(&pod.Spec, node)
	return pod
}

// syncNodes creates and deletes pods, under expectations so a lagging cache does not
// make the next sync do it twice.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, create, remove []*corev1.Pod) error {
	key := podcontrol.Key(ds)
	if len(create) == 0 && len(remove) == 0 {
		return nil
	}
	c.expectations.ExpectCreations(key, len(create))
	var keys []string
	for _, p := range remove {
		keys = append(keys, podcontrol.Key(p))
	}
	c.expectations.ExpectDeletions(key, keys...)
	var errs []error
	for _, p := range create {
		if _, err := c.control.Create(ctx, p, ds); err != nil {
			c.expectations.CreationObserved(key)
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range remove {
		if err := c.control.Delete(ctx, p.Namespace, p.Name, ds); err != nil {
			c.expectations.DeletionObserved(key, podcontrol.Key(p))
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("daemonset %s: %v", key, errs)
	}
	return nil
}

// rollingUpdate replaces out-of-date pods: without surge, it deletes old pods while
// fewer than maxUnavailable nodes lack an available pod (manage then creates the new
// ones); with surge, it starts new pods beside old ones, up to maxSurge at a time,
// and deletes each old pod once its replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) error {
	byNode := nodeToPods(pods)
	desired := 0
	nodeByName := map[string]*corev1.Node{}
	for _, n := range nodes {
		nodeByName[n.Name] = n
		if run, _ := shouldRun(ds, n); run {
			desired++
			if _, ok := byNode[n.Name]; !ok {
				byNode[n.Name] = nil
			}
		}
	}
	maxSurge, maxUnavailable, err := updateBudget(ds, desired)
	if err != nil {
		return fmt.Errorf("daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	now := c.now()
	available := func(p *corev1.Pod) bool {
		return podutils.IsPodAvailable(p, ds.Spec.MinReadySeconds, metav1.NewTime(now))
	}
	names := make([]string, 0, len(byNode))
	for n := range byNode {
		names = append(names, n)
	}
	sort.Strings(names)

	var remove []*corev1.Pod
	if maxSurge == 0 {
		unavailable := 0
		var candidates []*corev1.Pod
		for _, n := range names {
			newPod, oldPod, ok := splitPods(ds, byNode[n], hash)
			switch {
			case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				// Out of date and down anyway: replace it at once.
				remove = append(remove, oldPod)
				unavailable++
			default:
				candidates = append(candidates, oldPod)
			}
		}
		room := min(max(maxUnavailable-unavailable, 0), len(candidates))
		remove = append(remove, candidates[:room]...)
		return c.syncNodes(ctx, ds, nil, remove)
	}

	surged, numAvailable := 0, 0
	var createOn, candidateNodes []string
	var misplaced []*corev1.Pod
	for _, n := range names {
		newPod, oldPod, ok := splitPods(ds, byNode[n], hash)
		if !ok {
			surged++
			continue
		}
		if (oldPod != nil && available(oldPod)) || (oldPod == nil && newPod != nil && available(newPod)) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
		case newPod == nil:
			run := false
			if node := nodeByName[n]; node != nil {
				run, _ = shouldRun(ds, node)
			}
			switch {
			case !available(oldPod) && !run:
				remove = append(remove, oldPod)
			case !available(oldPod):
				createOn = append(createOn, n)
			case !run:
				misplaced = append(misplaced, oldPod)
			default:
				candidateNodes = append(candidateNodes, n)
			}
		case !available(newPod):
			surged++
		default:
			remove = append(remove, oldPod)
		}
	}
	// Pods on nodes that no longer want them go only while enough others are up.
	if extra := min(numAvailable-desired, len(misplaced)); extra > 0 {
		remove = append(remove, misplaced[:extra]...)
	}
	room := min(max(maxSurge-surged, 0), len(candidateNodes))
	createOn = append(createOn, candidateNodes[:room]...)
	var create []*corev1.Pod
	for _, n := range createOn {
		create = append(create, c.newPod(ds, n, hash))
	}
	return c.syncNodes(ctx, ds, create, remove)
}

// splitPods finds the one up-to-date and the one old live pod on a node; false when
// there are more, which manage prunes first.
func splitPods(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(ds, p, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// updateBudget scales maxSurge and maxUnavailable to the desired number of pods; with
// both zero (which validation forbids) one pod may be unavailable.
func updateBudget(ds *appsv1.DaemonSet, desired int) (maxSurge, maxUnavailable int, err error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil {
		return 0, 1, nil
	}
	if ru.MaxSurge != nil {
		if maxSurge, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true); err != nil {
			return 0, 0, fmt.Errorf("invalid value for MaxSurge: %w", err)
		}
	}
	if ru.MaxUnavailable != nil {
		if maxUnavailable, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true); err != nil {
			return 0, 0, fmt.Errorf("invalid value for MaxUnavailable: %w", err)
		}
	}
	if desired > 0 && maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, nil
}

func allowsSurge(ds *appsv1.DaemonSet) bool {
	s, _, err := updateBudget(ds, 1)
	return err == nil && s > 0
}

// sortOldestFirst orders a node's pods as Kubernetes picks the one to keep: the
// oldest, and among equals the one furthest along.
func sortOldestFirst(pods []*corev1.Pod) {
	rank := map[corev1.PodPhase]int{corev1.PodRunning: 0, corev1.PodPending: 1, corev1.PodUnknown: 2}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if rank[a.Status.Phase] != rank[b.Status.Phase] {
			return rank[a.Status.Phase] < rank[b.Status.Phase]
		}
		return a.Name < b.Name
	})
}

// constructHistory finds the revision of the DaemonSet's template (making it, or
// renumbering it as the newest when an old template comes back) and the others.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, collisionCount *int32) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	revs, err := c.history.Claim(ctx, ds, controllerKind, selector, all)
	if err != nil {
		return nil, nil, err
	}
	history.Sort(revs)
	data, err := history.TemplatePatch(ds)
	if err != nil {
		return nil, nil, fmt.Errorf("daemonset %s/%s: revision data: %w", ds.Namespace, ds.Name, err)
	}
	var matching []*appsv1.ControllerRevision
	for _, r := range revs {
		if history.SameData(r.Data.Raw, data) {
			matching = append(matching, r)
		} else {
			old = append(old, r)
		}
	}
	next := history.Next(old)
	if len(matching) == 0 {
		cur, err = c.history.Create(ctx, ds, controllerKind, ds.Spec.Template.Labels, data, next, collisionCount)
		return cur, old, err
	}
	// Keep the newest of equal revisions; older duplicates go.
	cur = matching[len(matching)-1]
	for _, dup := range matching[:len(matching)-1] {
		if err := c.client.AppsV1().ControllerRevisions(dup.Namespace).Delete(ctx, dup.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("delete duplicate controllerrevision %s/%s: %w", dup.Namespace, dup.Name, err)
		}
	}
	if cur.Revision < next {
		if cur, err = c.history.Renumber(ctx, cur, next); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit that no
// pod runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod, old []*appsv1.ControllerRevision) error {
	liveHashes := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[history.HashLabel]; h != "" {
			liveHashes[h] = true
		}
	}
	live := map[string]bool{}
	for _, r := range old {
		if liveHashes[r.Labels[history.HashLabel]] {
			live[r.Name] = true
		}
	}
	return c.history.Trim(ctx, old, live, ptr.Deref(ds.Spec.RevisionHistoryLimit, 10))
}

// updateStatus counts, over the nodes that want a pod, those that have one, ready,
// available and up to date, and those that have one but should not.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, collisionCount int32) error {
	byNode := nodeToPods(pods)
	now := c.now()
	status := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, Conditions: ds.Status.Conditions}
	if collisionCount > 0 || ds.Status.CollisionCount != nil {
		status.CollisionCount = ptr.To(collisionCount)
	}
	for _, node := range nodes {
		run, _ := shouldRun(ds, node)
		onNode := byNode[node.Name]
		if !run {
			if len(onNode) > 0 {
				status.NumberMisscheduled++
			}
			continue
		}
		status.DesiredNumberScheduled++
		if len(onNode) == 0 {
			continue
		}
		status.CurrentNumberScheduled++
		sorted := append([]*corev1.Pod(nil), onNode...)
		sortOldestFirst(sorted)
		pod := sorted[0]
		if podutils.IsPodReady(pod) {
			status.NumberReady++
			if podutils.IsPodAvailable(pod, ds.Spec.MinReadySeconds, metav1.NewTime(now)) {
				status.NumberAvailable++
			}
		}
		if isUpdated(ds, pod, hash) {
			status.UpdatedNumberScheduled++
		}
	}
	status.NumberUnavailable = status.DesiredNumberScheduled - status.NumberAvailable
	if ds.Spec.MinReadySeconds > 0 && status.NumberReady != status.NumberAvailable {
		c.queue.AddAfter(podcontrol.Key(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if reflect.DeepEqual(ds.Status, status) {
		return nil
	}
	ds.Status = status
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
