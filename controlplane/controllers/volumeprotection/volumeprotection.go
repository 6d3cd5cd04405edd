// Package volumeprotection keeps storage that is in use, as Kubernetes' PVC and PV
// protection controllers do: a PersistentVolumeClaim being deleted stays Terminating
// while a scheduled pod still names it, and a PersistentVolume being deleted stays
// while it is bound; then the controller removes the protection finalizer and the
// deletion completes.
package volumeprotection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
	"github.com/kindlike/kindlike/controlplane/registry"
)

// byClaim indexes pods by the claims their volumes name ("namespace/claim").
const byClaim = "claims"

// Controller guards claims and volumes.
type Controller struct {
	client  kubernetes.Interface
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	pods    cache.Indexer
	synced  []cache.InformerSynced
	// claimQueue holds claim keys, volumeQueue volume names.
	claimQueue, volumeQueue workqueue.TypedRateLimitingInterface[string]
	log                     *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, claims coreinformers.PersistentVolumeClaimInformer, volumes coreinformers.PersistentVolumeInformer,
	pods coreinformers.PodInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, claims: claims.Lister(), volumes: volumes.Lister(), pods: pods.Informer().GetIndexer(),
		synced:      []cache.InformerSynced{claims.Informer().HasSynced, volumes.Informer().HasSynced, pods.Informer().HasSynced},
		claimQueue:  reconcile.NewQueue("pvc-protection"),
		volumeQueue: reconcile.NewQueue("pv-protection"),
		log:         log,
	}
	err := pods.Informer().AddIndexers(cache.Indexers{byClaim: func(obj any) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		var keys []string
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				keys = append(keys, pod.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
			}
		}
		return keys, nil
	}})
	if err != nil {
		return nil, fmt.Errorf("pvc-protection: index pods by claim: %w", err)
	}
	var errs []error
	_, err = claims.Informer().AddEventHandler(reconcile.Handler(c.claimQueue))
	errs = append(errs, err)
	_, err = volumes.Informer().AddEventHandler(reconcile.Handler(c.volumeQueue))
	errs = append(errs, err)
	// A pod that goes away (or was never scheduled) may free the claims it named.
	_, err = pods.Informer().AddEventHandler(reconcile.OnChange(func(obj any) {
		if pod, ok := reconcile.Unwrap(obj).(*corev1.Pod); ok {
			for _, v := range pod.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					c.claimQueue.Add(pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName)
				}
			}
		}
	}))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pvc-protection: watch: %w", err)
	}
	return c, nil
}

// Run runs workers on both queues until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	claims := reconcile.Loop{Name: "pvc-protection", Queue: c.claimQueue, Sync: c.syncClaim, Log: c.log}
	volumes := reconcile.Loop{Name: "pv-protection", Queue: c.volumeQueue, Sync: c.syncVolume, Log: c.log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		volumes.Run(ctx, workers, c.synced...)
	}()
	claims.Run(ctx, workers, c.synced...)
	<-done
}

func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(pvc.Finalizers, registry.PVCProtectionFinalizer)
	switch {
	case pvc.DeletionTimestamp == nil && !has:
		// Claims made before admission added the finalizer get it now.
		return c.updateClaim(ctx, pvc, append(slices.Clone(pvc.Finalizers), registry.PVCProtectionFinalizer))
	case pvc.DeletionTimestamp != nil && has:
		used, err := c.claimUsed(ctx, pvc)
		if err != nil || used {
			return err
		}
		return c.updateClaim(ctx, pvc, slices.DeleteFunc(slices.Clone(pvc.Finalizers), func(f string) bool { return f == registry.PVCProtectionFinalizer }))
	}
	return nil
}

// claimUsed reports whether a scheduled pod names the claim, as the kubelet may run
// it: by the watch cache first, then, before letting the claim go, by a live list
// (a pod just created may not be in the cache yet).
func (c *Controller) claimUsed(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	objs, err := c.pods.ByIndex(byClaim, pvc.Namespace+"/"+pvc.Name)
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if usesClaim(o.(*corev1.Pod), pvc.Name) {
			return true, nil
		}
	}
	list, err := c.client.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("list pods of %s: %w", pvc.Namespace, err)
	}
	for i := range list.Items {
		if usesClaim(&list.Items[i], pvc.Name) {
			return true, nil
		}
	}
	return false, nil
}

// usesClaim: a pod the scheduler placed that names the claim; the kubelet refuses to
// start a pod whose claim is being deleted, so an unscheduled one does not count.
func usesClaim(pod *corev1.Pod, claim string) bool {
	if pod.Spec.NodeName == "" {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

func (c *Controller) updateClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim, finalizers []string) error {
	pvc = pvc.DeepCopy()
	pvc.Finalizers = finalizers
	_, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update finalizers of claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(pv.Finalizers, registry.PVProtectionFinalizer)
	var finalizers []string
	switch {
	case pv.DeletionTimestamp == nil && !has:
		finalizers = append(slices.Clone(pv.Finalizers), registry.PVProtectionFinalizer)
	case pv.DeletionTimestamp != nil && has && pv.Status.Phase != corev1.VolumeBound:
		finalizers = slices.DeleteFunc(slices.Clone(pv.Finalizers), func(f string) bool { return f == registry.PVProtectionFinalizer })
	default:
		return nil
	}
	pv = pv.DeepCopy()
	pv.Finalizers = finalizers
	_, err = c.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update finalizers of volume %s: %w", pv.Name, err)
	}
	return nil
}
