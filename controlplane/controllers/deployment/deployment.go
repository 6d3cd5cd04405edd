// Package deployment is the Deployment controller: it rolls a Deployment's pod
// template out through ReplicaSets (one per template, named <deployment>-<hash>),
// RollingUpdate or Recreate, scales them proportionally, keeps revision history for
// `kubectl rollout undo`, and reports progress and availability conditions.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the controller's name, as events give their source.
const Name = "deployment-controller"

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller reconciles Deployments with their ReplicaSets.
type Controller struct {
	client      kubernetes.Interface
	deployments appslisters.DeploymentLister
	replicaSets appslisters.ReplicaSetLister
	pods        corelisters.PodLister
	recorder    record.EventRecorder
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	log         *slog.Logger
	now         func() time.Time
}

// New makes the controller.
func New(client kubernetes.Interface, deployments appsinformers.DeploymentInformer, replicaSets appsinformers.ReplicaSetInformer,
	pods coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, deployments: deployments.Lister(), replicaSets: replicaSets.Lister(), pods: pods.Lister(),
		recorder: recorder,
		synced:   []cache.InformerSynced{deployments.Informer().HasSynced, replicaSets.Informer().HasSynced, pods.Informer().HasSynced},
		queue:    reconcile.NewQueue("deployment"),
		log:      log.With("controller", "deployment"),
		now:      time.Now,
	}
	if _, err := deployments.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add deployment event handler: %w", err)
	}
	if _, err := replicaSets.Informer().AddEventHandler(reconcile.OnChange(c.replicaSetChanged)); err != nil {
		return nil, fmt.Errorf("add replicaset event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.podDeleted}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "deployment", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// replicaSetChanged queues the Deployment controlling rs, or, for an orphan, every
// Deployment that might adopt it.
func (c *Controller) replicaSetChanged(obj any) {
	obj = reconcile.Unwrap(obj)
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if key, ok := podcontrol.OwnerKey(rs, deploymentKind); ok {
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOfNoCopy(rs) != nil {
		return
	}
	ds, err := c.deployments.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	podcontrol.EnqueueSelecting(c.queue, ds, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector }, rs.Labels)
}

// podDeleted wakes a Recreate Deployment waiting for its old pods to go.
func (c *Controller) podDeleted(obj any) {
	obj = reconcile.Unwrap(obj)
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.replicaSets.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if dref := metav1.GetControllerOfNoCopy(rs); dref != nil && dref.Kind == deploymentKind.Kind {
		if d, err := c.deployments.Deployments(pod.Namespace).Get(dref.Name); err == nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			c.queue.Add(podcontrol.Key(d))
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.deployments.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()

	if d.Spec.Selector == nil || reflect.DeepEqual(*d.Spec.Selector, metav1.LabelSelector{}) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
		if err != nil {
			return err
		}
		return c.syncStatus(ctx, d, newRS, oldRSs)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList)
	default:
		return c.rolloutRolling(ctx, d, rsList)
	}
}

// claimReplicaSets adopts orphaned ReplicaSets matching d's selector and releases
// its own that no longer match; it returns those d controls.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.replicaSets.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil
	}
	patch := func(ctx context.Context, name string, pt types.PatchType, data []byte) error {
		_, err := c.client.AppsV1().ReplicaSets(d.Namespace).Patch(ctx, name, pt, data, metav1.PatchOptions{})
		return err
	}
	return podcontrol.Claim(ctx, d, deploymentKind, sel, all, patch)
}

// podsByReplicaSet returns the pods of each of rsList, by ReplicaSet uid.
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.pods.Pods(d.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	out := map[types.UID][]*corev1.Pod{}
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
			if _, ok := out[ref.UID]; ok {
				out[ref.UID] = append(out[ref.UID], p)
			}
		}
	}
	return out, nil
}

// updateStatus writes d's status (and revision annotation) and keeps d current, so
// later writes of the same sync do not conflict with this one.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*d = *updated
	return nil
}
