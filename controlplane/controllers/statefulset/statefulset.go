// Package statefulset is the StatefulSet controller: it keeps pods <set>-0..N-1 with
// stable names, hostnames and PersistentVolumeClaims, created in order and removed in
// reverse (OrderedReady) or all at once (Parallel), rolls them to a new template from
// the highest ordinal down (RollingUpdate with partition, or OnDelete), and keeps the
// templates as ControllerRevisions. A pod is never replaced while its predecessor of
// the same name still exists, even terminating on a lost node: at most one.
package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/history"
	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the controller's name, as its events' source.
const Name = "statefulset-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller keeps StatefulSets' pods, claims and revisions.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	claims    corelisters.PersistentVolumeClaimLister
	revisions appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	history   history.Control
	now       func() time.Time
	log       *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, sets appsinformers.StatefulSetInformer, pods coreinformers.PodInformer,
	claims coreinformers.PersistentVolumeClaimInformer, revisions appsinformers.ControllerRevisionInformer,
	recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, sets: sets.Lister(), pods: pods.Lister(), claims: claims.Lister(), revisions: revisions.Lister(),
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
			claims.Informer().HasSynced, revisions.Informer().HasSynced},
		queue:    reconcile.NewQueue("statefulset"),
		recorder: recorder, history: history.Control{Client: client}, now: time.Now, log: log,
	}
	if _, err := sets.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add statefulset event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(reconcile.OnChange(c.podChanged)); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	if _, err := revisions.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.ownedChanged}); err != nil {
		return nil, fmt.Errorf("add controllerrevision event handler: %w", err)
	}
	return c, nil
}

// Run syncs StatefulSets until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "statefulset", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// podChanged queues the set controlling a pod, or for an orphan every set that may
// adopt it.
func (c *Controller) podChanged(obj any) {
	obj = reconcile.Unwrap(obj)
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if key, ok := podcontrol.OwnerKey(pod, controllerKind); ok {
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOfNoCopy(pod) != nil {
		return
	}
	if pod.DeletionTimestamp != nil {
		return
	}
	sets, err := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	podcontrol.EnqueueSelecting(c.queue, sets, func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector }, pod.Labels)
}

func (c *Controller) ownedChanged(obj any) {
	obj = reconcile.Unwrap(obj)
	if m, ok := obj.(metav1.Object); ok {
		if key, ok := podcontrol.OwnerKey(m, controllerKind); ok {
			c.queue.Add(key)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its pods and revisions go with it, by the garbage collector
	}
	if err != nil {
		return err
	}
	set := shared.DeepCopy()
	set.APIVersion, set.Kind = controllerKind.GroupVersion().String(), controllerKind.Kind
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		// The API server refuses both; nothing sensible to do.
		return nil
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	revs, err := c.claimRevisions(ctx, set, selector)
	if err != nil {
		return err
	}
	current, update, collisionCount, err := c.pickRevisions(ctx, set, revs)
	if err != nil {
		return err
	}
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return err
	}
	status := c.status(set, pods, current, update, collisionCount)
	if set.DeletionTimestamp == nil {
		u := &updater{c: c, set: set, currentSet: currentSet, updateSet: updateSet,
			current: current.Name, update: update.Name, status: &status}
		if err := u.step(ctx, pods); err != nil {
			_ = c.saveStatus(ctx, set, status)
			return err
		}
	}
	if err := c.saveStatus(ctx, set, status); err != nil {
		return err
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[p.Labels[history.HashLabel]] = true
	}
	if revs, err = c.claimRevisions(ctx, set, selector); err != nil {
		return err
	}
	if err := c.history.Trim(ctx, revs, live, ptr.Deref(set.Spec.RevisionHistoryLimit, 10)); err != nil {
		return err
	}
	if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

// claimPods returns the set's pods: those it controls, and orphans named like its
// members and matching its selector, which it adopts.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var candidates []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOfNoCopy(p); (ref != nil && ref.UID == set.UID) || isMember(set, p) {
			candidates = append(candidates, p)
		}
	}
	return podcontrol.Claim(ctx, set, controllerKind, selector, candidates, podcontrol.PodPatcher(c.client, set.Namespace))
}

func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revisions.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	revs, err := c.history.Claim(ctx, set, controllerKind, selector, all)
	if err != nil {
		return nil, err
	}
	history.Sort(revs)
	return revs, nil
}

// pickRevisions finds (or makes) the revision of the set's template, the update revision,
// and the current revision the set's pods came from before it.
func (c *Controller) pickRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	collisionCount = ptr.Deref(set.Status.CollisionCount, 0)
	data, err := history.TemplatePatch(set)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("statefulset %s/%s: revision data: %w", set.Namespace, set.Name, err)
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if history.SameData(r.Data.Raw, data) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = equal[len(equal)-1]
	case len(equal) > 0:
		// Back to an older template: it becomes the newest revision again.
		if update, err = c.history.Renumber(ctx, equal[len(equal)-1], history.Next(revs)); err != nil {
			return nil, nil, 0, err
		}
	default:
		if update, err = c.history.Create(ctx, set, controllerKind, set.Spec.Template.Labels, data, history.Next(revs), &collisionCount); err != nil {
			return nil, nil, 0, err
		}
	}
	current = update
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	return current, update, collisionCount, nil
}

// status counts the set's pods as the API reports them.
func (c *Controller) status(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisionCount int32) appsv1.StatefulSetStatus {
	now := c.now()
	status := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     update.Name,
		CollisionCount:     ptr.To(collisionCount),
		Conditions:         set.Status.Conditions,
	}
	for _, p := range pods {
		if !isCreated(p) {
			continue
		}
		status.Replicas++
		if isRunningAndReady(p) {
			status.ReadyReplicas++
			if podutils.IsPodAvailable(p, set.Spec.MinReadySeconds, metav1.NewTime(now)) {
				status.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if revisionOf(p) == current.Name {
			status.CurrentReplicas++
		}
		if revisionOf(p) == update.Name {
			status.UpdatedReplicas++
		}
	}
	completeRollingUpdate(set, &status)
	return status
}

// completeRollingUpdate makes the update revision current once every pod runs it and
// is ready, as Kubernetes does for RollingUpdate.
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == status.Replicas && status.ReadyReplicas == status.Replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

func (c *Controller) saveStatus(ctx context.Context, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) error {
	if reflect.DeepEqual(set.Status, status) {
		return nil
	}
	set = set.DeepCopy()
	set.Status = status
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// updater makes one step of one set toward its spec: it creates, deletes or updates
// pods in the order the set's policies allow, and stops where it must wait.
type updater struct {
	c                     *Controller
	set                   *appsv1.StatefulSet
	currentSet, updateSet *appsv1.StatefulSet
	current, update       string
	status                *appsv1.StatefulSetStatus
}

func (u *updater) step(ctx context.Context, pods []*corev1.Pod) error {
	set := u.set
	start := startOrdinal(set)
	end := start + int(ptr.Deref(set.Spec.Replicas, 1))
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	replicas := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod
	for _, p := range pods {
		ord, ok := ordinalOf(set, p)
		if !ok {
			continue
		}
		if ord >= start && ord < end {
			replicas[ord] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		a, _ := ordinalOf(set, condemned[i])
		b, _ := ordinalOf(set, condemned[j])
		return a > b
	})

	// Bring up the replicas in ordinal order.
	for ord := start; ord < end; ord++ {
		pod := replicas[ord]
		switch {
		case pod == nil:
			if err := u.create(ctx, ord); err != nil {
				return err
			}
			if monotonic {
				return nil
			}
			continue
		case pod.DeletionTimestamp != nil:
			// Its successor of the same name waits until it is really gone.
			if monotonic {
				return nil
			}
			continue
		case podcontrol.IsTerminal(pod):
			reason, what := "RecreatingFailedPod", "failed"
			if pod.Status.Phase == corev1.PodSucceeded {
				reason, what = "RecreatingTerminatedPod", "terminated"
			}
			u.c.recorder.Eventf(set, corev1.EventTypeWarning, reason, "StatefulSet %s/%s is recreating %s Pod %s", set.Namespace, set.Name, what, pod.Name)
			if err := u.delete(ctx, pod); err != nil {
				return err
			}
			if monotonic {
				return nil
			}
			continue
		}
		if err := u.c.fixIdentity(ctx, set, pod, ord); err != nil {
			return err
		}
		if err := u.c.createClaims(ctx, set, pod, ord); err != nil {
			return err
		}
		if monotonic && !isHealthy(pod, set.Spec.MinReadySeconds, u.c.now()) {
			return nil
		}
	}

	// Remove the condemned, highest ordinal first.
	for _, pod := range condemned {
		if pod.DeletionTimestamp != nil {
			if monotonic {
				return nil
			}
			continue
		}
		ord, _ := ordinalOf(set, pod)
		if err := u.c.claimOwnersForScaleDown(ctx, set, pod, ord); err != nil {
			return err
		}
		if err := u.delete(ctx, pod); err != nil {
			return err
		}
		if monotonic {
			return nil
		}
	}

	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return nil
	}
	// Roll the pods at or above the partition to the update revision, highest first,
	// one at a time, each waiting for the previous to be ready.
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition = int(ptr.Deref(ru.Partition, 0))
	}
	for ord := end - 1; ord >= start+partition; ord-- {
		pod := replicas[ord]
		if pod == nil {
			return nil
		}
		if revisionOf(pod) != u.update && pod.DeletionTimestamp == nil {
			return u.delete(ctx, pod)
		}
		if !isHealthy(pod, set.Spec.MinReadySeconds, u.c.now()) {
			return nil
		}
	}
	return nil
}

// create makes the claims and then the pod of ordinal ord, at the revision its
// ordinal calls for: below the partition the current one, else the update one.
func (u *updater) create(ctx context.Context, ord int) error {
	set := u.set
	from, revision := u.updateSet, u.update
	if ru := set.Spec.UpdateStrategy.RollingUpdate; set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		ru != nil && ord < startOrdinal(set)+int(ptr.Deref(ru.Partition, 0)) {
		from, revision = u.currentSet, u.current
	}
	pod := newPod(set, from, ord, revision)
	if err := u.c.createClaims(ctx, set, nil, ord); err != nil {
		u.c.recordPod("create", set, pod.Name, err)
		return err
	}
	_, err := u.c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Our cache is behind; the next sync sees it.
		return nil
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return err
	}
	u.c.recordPod("create", set, pod.Name, err)
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", set.Namespace, pod.Name, err)
	}
	u.status.Replicas++
	if revision == u.update {
		u.status.UpdatedReplicas++
	}
	return nil
}

// delete deletes exactly this pod (not a successor of the same name).
func (u *updater) delete(ctx context.Context, pod *corev1.Pod) error {
	err := u.c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	u.c.recordPod("delete", u.set, pod.Name, err)
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// recordPod records what happened to a pod of set in Kubernetes' words.
func (c *Controller) recordPod(verb string, set *appsv1.StatefulSet, pod string, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb), "%s Pod %s in StatefulSet %s successful", verb, pod, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb), "%s Pod %s in StatefulSet %s failed error: %s", verb, pod, set.Name, err)
}

func (c *Controller) recordClaim(verb string, set *appsv1.StatefulSet, pod, claim string, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb), "%s Claim %s Pod %s in StatefulSet %s success", verb, claim, pod, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb), "%s Claim %s for Pod %s in StatefulSet %s failed error: %s", verb, claim, pod, set.Name, err)
}

func title(verb string) string {
	if verb == "" {
		return ""
	}
	return string(verb[0]-'a'+'A') + verb[1:]
}
