// Package replicaset is the ReplicaSet and ReplicationController controller: it keeps
// spec.replicas active pods matching each one's selector, creating and deleting pods
// (the least valuable first), adopting orphans and releasing pods that stopped
// matching, and reports how many exist, are fully labeled, ready and available.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// burstReplicas caps the pods one sync creates or deletes, as Kubernetes' does, so a
// huge scale is spread over several syncs that each see the last one's result.
const burstReplicas = 500

// Controller manages the pods of one workload kind (ReplicaSets or
// ReplicationControllers).
type Controller struct {
	kind         kind
	client       kubernetes.Interface
	pods         corelisters.PodLister
	control      podcontrol.Control
	expectations *podcontrol.Expectations
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	log          *slog.Logger
	now          func() time.Time
}

// NewReplicaSets makes the controller of apps/v1 ReplicaSets.
func NewReplicaSets(client kubernetes.Interface, rsInformer appsinformers.ReplicaSetInformer, pods coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	return newController(replicaSets(client, rsInformer), client, pods, recorder, log)
}

// NewReplicationControllers makes the controller of core/v1 ReplicationControllers.
func NewReplicationControllers(client kubernetes.Interface, rcInformer coreinformers.ReplicationControllerInformer, pods coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	return newController(replicationControllers(client, rcInformer), client, pods, recorder, log)
}

func newController(k kind, client kubernetes.Interface, pods coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		kind: k, client: client, pods: pods.Lister(),
		control:      podcontrol.Control{Client: client, Recorder: recorder},
		expectations: podcontrol.NewExpectations(),
		synced:       []cache.InformerSynced{k.informer.HasSynced, pods.Informer().HasSynced},
		queue:        reconcile.NewQueue(k.name),
		log:          log.With("controller", k.name),
		now:          time.Now,
	}
	if _, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { reconcile.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expectations.Forget(key)
				c.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("add %s event handler: %w", k.name, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: c.kind.name, Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// owner returns the object of this kind that controls pod, if it still exists.
func (c *Controller) owner(pod *corev1.Pod) *appsv1.ReplicaSet {
	ref := metav1.GetControllerOfNoCopy(pod)
	if !c.kind.ownedBy(ref) {
		return nil
	}
	rs, _, err := c.kind.get(pod.Namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// enqueueMatching queues every object whose selector matches an orphan pod: one of
// them may adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	views, err := c.kind.list(pod.Namespace)
	if err != nil {
		return
	}
	podcontrol.EnqueueSelecting(c.queue, views, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, pod.Labels)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// A new leader's cache may start with pods already terminating.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if rs := c.owner(pod); rs != nil {
			key := podcontrol.Key(rs)
			c.expectations.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !apiequality.Semantic.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// Terminating counts as gone: a replacement need not wait for the kubelet.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !apiequality.Semantic.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := c.owner(old); rs != nil {
			c.queue.Add(podcontrol.Key(rs))
		}
	}
	if curRef != nil {
		rs := c.owner(cur)
		if rs == nil {
			return
		}
		key := podcontrol.Key(rs)
		c.queue.Add(key)
		if rs.Spec.MinReadySeconds > 0 && !podutils.IsPodReady(old) && podutils.IsPodReady(cur) {
			// Available minReadySeconds from now: look again then.
			c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deletePod(obj any) {
	obj = reconcile.Unwrap(obj)
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		return
	}
	if rs := c.owner(pod); rs != nil {
		key := podcontrol.Key(rs)
		c.expectations.DeletionObserved(key, podcontrol.Key(pod))
		c.queue.Add(key)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, orig, err := c.kind.get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	needsSync := c.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation keeps these out; nothing to do until the object changes.
		c.log.Warn("invalid selector", "key", key, "err", err)
		return nil
	}
	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	for _, p := range all {
		if podcontrol.IsActive(p) {
			active = append(active, p)
		}
	}
	pods, err := podcontrol.Claim(ctx, rs, c.kind.gvk, selector, active, podcontrol.PodPatcher(c.client, namespace))
	if err != nil {
		return err
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, key, rs, orig, pods, all)
	}
	now := c.now()
	status := calculateStatus(rs, pods, manageErr, now)
	updated := rs
	if !apiequality.Semantic.DeepEqual(rs.Status, status) {
		updated, err = c.kind.updateStatus(ctx, orig, status)
		if err != nil {
			return errors.Join(manageErr, fmt.Errorf("update status of %s: %w", key, err))
		}
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) && updated.Status.AvailableReplicas != replicas(updated) {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// manageReplicas creates or deletes pods so that len(pods) becomes spec.replicas.
// all is every pod of the namespace, to rank pods by how crowded their node is.
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, orig runtime.Object, pods, all []*corev1.Pod) error {
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expectations.ExpectCreations(key, n)
		created, err := slowStartBatch(n, func() error {
			pod := podcontrol.NewPod(&rs.Spec.Template, rs, c.kind.gvk)
			_, err := c.control.Create(ctx, pod, orig)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// Every create fails while the namespace goes away; not an error of ours.
				return nil
			}
			return err
		})
		// Creations that failed or never ran will not show in the informer.
		for range n - created {
			c.expectations.CreationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(pods, c.related(rs, pods, all), n, c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podcontrol.Key(p)
		}
		c.expectations.ExpectDeletions(key, keys...)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.control.Delete(ctx, p.Namespace, p.Name, orig); err != nil {
					c.expectations.DeletionObserved(key, keys[i])
					errs[i] = err
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// slowStartBatch calls fn count times, in batches of 1, 2, 4, … running
// concurrently, stopping after the first batch with an error: a create that fails
// (quota, admission) fails once, not count times. It returns how many calls succeeded.
func slowStartBatch(count int, fn func() error) (int, error) {
	done := 0
	for batch := 1; done < count; batch *= 2 {
		batch = min(batch, count-done)
		var wg sync.WaitGroup
		errs := make([]error, batch)
		for i := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		done += ok
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}

// related returns the pods a deletion ranking counts per node: those of every object
// sharing rs's controller (a Deployment's old and new ReplicaSets), or rs's own.
func (c *Controller) related(rs *appsv1.ReplicaSet, pods, all []*corev1.Pod) []*corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return pods
	}
	siblings, err := c.kind.list(rs.Namespace)
	if err != nil {
		return pods
	}
	uids := map[types.UID]bool{}
	for _, s := range siblings {
		if r := metav1.GetControllerOfNoCopy(s); r != nil && r.UID == ref.UID {
			uids[s.UID] = true
		}
	}
	var out []*corev1.Pod
	for _, p := range all {
		if r := metav1.GetControllerOfNoCopy(p); r != nil && uids[r.UID] && podcontrol.IsActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// calculateStatus counts pods as the status reports them, and sets or clears the
// ReplicaFailure condition from the last create or delete.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fullyLabeled, ready, available int32
	for _, p := range pods {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if podutils.IsPodReady(p) {
			ready++
			if podutils.IsPodAvailable(p, rs.Spec.MinReadySeconds, metav1.NewTime(now)) {
				available++
			}
		}
	}
	failure := condition(status.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(replicas(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, c := range status.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, c)
			}
		}
		status.Conditions = kept
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.ObservedGeneration = rs.Generation
	return status
}

func condition(conds []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// podsToDelete picks the n pods whose loss hurts least (see less).
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ranked[i] = rankedPod{pod: p, rank: onNode[p.Spec.NodeName]}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return less(ranked[i], ranked[j], now) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}
