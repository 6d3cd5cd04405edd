package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// UseClaims makes the scheduler look at the PersistentVolumeClaims of the pods it
// places, as kube-scheduler's VolumeBinding plugin does before any node is
// considered: a pod waits while a claim it names does not exist, is being deleted,
// or is not bound yet (unless its class binds only once a pod is placed). Call it
// before Run.
func (s *Scheduler) UseClaims(claims coreinformers.PersistentVolumeClaimInformer, classes storageinformers.StorageClassInformer) error {
	s.claims, s.classes = claims.Lister(), classes.Lister()
	s.synced = append(s.synced, claims.Informer().HasSynced, classes.Informer().HasSynced)
	// A claim that appears or gets bound may let waiting pods be placed.
	if _, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.retryUnschedulable() },
		UpdateFunc: func(any, any) { s.retryUnschedulable() },
	}); err != nil {
		return fmt.Errorf("add persistentvolumeclaim event handler: %w", err)
	}
	return nil
}

// claimsReady says why the pod's claims keep it from any node, in kube-scheduler's
// words, or "" if they do not.
func (s *Scheduler) claimsReady(pod *corev1.Pod) (string, error) {
	if s.claims == nil {
		return "", nil
	}
	unbound := false
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		pvc, err := s.claims.PersistentVolumeClaims(pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("persistentvolumeclaim %q not found", name), nil
		}
		if err != nil {
			return "", err
		}
		if pvc.DeletionTimestamp != nil {
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", name), nil
		}
		if pvc.Spec.VolumeName != "" && metav1.HasAnnotation(pvc.ObjectMeta, storagehelpers.AnnBindCompleted) {
			continue
		}
		if delay, err := storagehelpers.IsDelayBindingMode(pvc, s.classes); err == nil && delay {
			// Bound once the pod is placed; kindlike leaves such claims to be bound
			// by hand, so the pod is placed and its node waits for the claim.
			continue
		}
		unbound = true
	}
	if unbound {
		return "pod has unbound immediate PersistentVolumeClaims", nil
	}
	return "", nil
}
