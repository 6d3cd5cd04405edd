// Package disruption is the PodDisruptionBudget controller: it counts each budget's
// healthy pods and works out how many may be disrupted now, the figure the eviction
// subresource (and so `kubectl drain`) checks before it deletes a pod.
package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// disruptedPodTimeout is how long an evicted pod counts as disrupted while its
// deletion has not shown yet, as in Kubernetes.
const disruptedPodTimeout = 2 * time.Minute

// Controller keeps the status of every PodDisruptionBudget current.
type Controller struct {
	client      kubernetes.Interface
	budgets     policylisters.PodDisruptionBudgetLister
	pods        corelisters.PodLister
	replicaSets appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	statefulSet appslisters.StatefulSetLister
	rcs         corelisters.ReplicationControllerLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	log         *slog.Logger
}

// New makes the controller. The workload informers give the scale of the pods'
// controllers, which budgets with a percentage or a maxUnavailable count from.
func New(client kubernetes.Interface, budgets policyinformers.PodDisruptionBudgetInformer, pods coreinformers.PodInformer,
	replicaSets appsinformers.ReplicaSetInformer, deployments appsinformers.DeploymentInformer,
	statefulSets appsinformers.StatefulSetInformer, rcs coreinformers.ReplicationControllerInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, budgets: budgets.Lister(), pods: pods.Lister(),
		replicaSets: replicaSets.Lister(), deployments: deployments.Lister(), statefulSet: statefulSets.Lister(), rcs: rcs.Lister(),
		synced: []cache.InformerSynced{budgets.Informer().HasSynced, pods.Informer().HasSynced, replicaSets.Informer().HasSynced,
			deployments.Informer().HasSynced, statefulSets.Informer().HasSynced, rcs.Informer().HasSynced},
		queue: reconcile.NewQueue("disruption"), log: log,
	}
	if _, err := budgets.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add poddisruptionbudget event handler: %w", err)
	}
	podChanged := func(obj any) { c.podChanged(reconcile.Unwrap(obj)) }
	if _, err := pods.Informer().AddEventHandler(reconcile.OnChange(podChanged)); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "disruption", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// podChanged queues every budget whose selector matches the pod.
func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	budgets, err := c.budgets.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	podcontrol.EnqueueSelecting(c.queue, budgets, func(b *policyv1.PodDisruptionBudget) *metav1.LabelSelector { return b.Spec.Selector }, pod.Labels)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.budgets.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pdb := shared.DeepCopy()
	pods, err := c.matchingPods(pdb)
	if err != nil {
		return err
	}
	status, recheck, err := c.status(pdb, pods, time.Now())
	if err != nil {
		return err
	}
	if recheck > 0 {
		c.queue.AddAfter(key, recheck)
	}
	if apiequality.Semantic.DeepEqual(pdb.Status, status) {
		return nil
	}
	pdb.Status = status
	_, err = c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, pdb, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or changed since: its own event queues it again.
		return nil
	}
	return err
}

func (c *Controller) matchingPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	// In policy/v1 an empty selector matches every pod of the namespace, and a null
	// one none: LabelSelectorAsSelector says exactly that.
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, nil
	}
	all, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range all {
		if podcontrol.IsActive(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// status works out a budget's figures as Kubernetes' disruption controller does:
// expected pods come from the scale of the pods' controllers when the budget is a
// percentage or a maxUnavailable, and from the pods themselves for a plain minAvailable.
//
// A pod the eviction API has just admitted (in disruptedPods) is not counted healthy
// until its deletion shows, or for at most disruptedPodTimeout; recheck says when the
// oldest such entry expires.
func (c *Controller) status(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (_ policyv1.PodDisruptionBudgetStatus, recheck time.Duration, _ error) {
	var disrupted map[string]metav1.Time
	healthy := int32(0)
	for _, p := range pods {
		if at, ok := pdb.Status.DisruptedPods[p.Name]; ok {
			if left := at.Add(disruptedPodTimeout).Sub(now); left > 0 {
				if disrupted == nil {
					disrupted = map[string]metav1.Time{}
				}
				disrupted[p.Name] = at
				if recheck == 0 || left < recheck {
					recheck = left
				}
				continue
			}
		}
		if podutils.IsPodReady(p) {
			healthy++
		}
	}
	var expected, desired int32
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected = c.expectedFromControllers(pods)
		unavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return pdb.Status, 0, fmt.Errorf("maxUnavailable of %s/%s: %w", pdb.Namespace, pdb.Name, err)
		}
		desired = max(0, expected-int32(unavailable))
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		expected = int32(len(pods))
		desired = pdb.Spec.MinAvailable.IntVal
	case pdb.Spec.MinAvailable != nil:
		expected = c.expectedFromControllers(pods)
		available, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return pdb.Status, 0, fmt.Errorf("minAvailable of %s/%s: %w", pdb.Namespace, pdb.Name, err)
		}
		desired = int32(available)
	default:
		expected = int32(len(pods))
	}
	allowed := max(0, healthy-desired)
	if expected == 0 {
		allowed = 0
	}
	status := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         append([]metav1.Condition(nil), pdb.Status.Conditions...),
	}
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
		Reason: policyv1.SufficientPodsReason, ObservedGeneration: pdb.Generation, LastTransitionTime: metav1.Now()}
	if allowed == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	apimeta.SetStatusCondition(&status.Conditions, cond)
	return status, recheck, nil
}

// expectedFromControllers sums the desired replicas of the controllers of pods, each
// counted once; a pod without a known controller counts as one.
func (c *Controller) expectedFromControllers(pods []*corev1.Pod) int32 {
	seen := map[types.UID]bool{}
	total := int32(0)
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			total++
			continue
		}
		uid, scale, ok := c.scaleOf(p.Namespace, ref)
		if !ok {
			total++
			continue
		}
		if !seen[uid] {
			seen[uid] = true
			total += scale
		}
	}
	return total
}

// scaleOf finds the replicas a controller wants: a ReplicaSet of a Deployment counts
// as the Deployment.
func (c *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, bool) {
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := c.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false
		}
		if d := metav1.GetControllerOfNoCopy(rs); d != nil && d.Kind == "Deployment" {
			if dep, err := c.deployments.Deployments(ns).Get(d.Name); err == nil && dep.UID == d.UID {
				return dep.UID, replicas(dep.Spec.Replicas), true
			}
		}
		return rs.UID, replicas(rs.Spec.Replicas), true
	case "StatefulSet":
		sts, err := c.statefulSet.StatefulSets(ns).Get(ref.Name)
		if err != nil || sts.UID != ref.UID {
			return "", 0, false
		}
		return sts.UID, replicas(sts.Spec.Replicas), true
	case "ReplicationController":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, false
		}
		return rc.UID, replicas(rc.Spec.Replicas), true
	}
	return "", 0, false
}
