package persistentvolume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// syncClaim makes one step toward binding the claim, or keeps its binding right.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		if !storagehelpers.PersistentVolumeClaimHasClass(claim) {
			// A claim made while there was no default class gets the default once
			// there is one (RetroactiveDefaultStorageClass).
			if sc := c.defaultClass(); sc != nil {
				claim = claim.DeepCopy()
				claim.Spec.StorageClassName = &sc.Name
				_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
				return ignoreGone(err)
			}
		}
		delay := c.delayBinding(claim)
		volumes, err := c.volumes.List(labels.Everything())
		if err != nil {
			return err
		}
		volume, err := findMatch(claim, volumes, delay)
		if err != nil {
			return err
		}
		if volume != nil {
			return c.bind(ctx, volume, claim)
		}
		if storagehelpers.GetPersistentVolumeClaimClass(claim) == "" {
			c.recorder.Event(claim, corev1.EventTypeNormal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
			return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
		}
		if delay {
			if claim.DeletionTimestamp == nil {
				c.recorder.Event(claim, corev1.EventTypeNormal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
			}
			return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
		}
		return c.provision(ctx, claim)
	}
	// The claim asked for a volume by name.
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil:
		if why := satisfies(volume, claim); why != "" {
			c.recorder.Eventf(claim, corev1.EventTypeWarning, "VolumeMismatch", "Cannot bind to requested volume %q: %s", volume.Name, why)
			return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
		}
		return c.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return c.bind(ctx, volume, claim)
	case !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController):
		// The user asked for a volume another claim has: wait, it may be released.
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	default:
		return fmt.Errorf("invalid binding of claim %s/%s to volume %q: volume already claimed by %s/%s",
			claim.Namespace, claim.Name, volume.Name, volume.Spec.ClaimRef.Namespace, volume.Spec.ClaimRef.Name)
	}
}

func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		return c.claimLost(ctx, claim, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
	}
	volume, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return c.claimLost(ctx, claim, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil, storagehelpers.IsVolumeBoundToClaim(volume, claim):
		// Bound, or the volume lost its half of the binding: (re)make it whole.
		return c.bind(ctx, volume, claim)
	default:
		if claim.Status.Phase != corev1.ClaimLost {
			c.recorder.Event(claim, corev1.EventTypeWarning, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
		}
		return c.setClaimPhase(ctx, claim, corev1.ClaimLost)
	}
}

func (c *Controller) claimLost(ctx context.Context, claim *corev1.PersistentVolumeClaim, msg string) error {
	if claim.Status.Phase != corev1.ClaimLost {
		c.recorder.Event(claim, corev1.EventTypeWarning, "ClaimLost", msg)
	}
	return c.setClaimPhase(ctx, claim, corev1.ClaimLost)
}

// delayBinding reports whether the claim's class waits for a pod to bind it.
func (c *Controller) delayBinding(claim *corev1.PersistentVolumeClaim) bool {
	delay, err := storagehelpers.IsDelayBindingMode(claim, c.classes)
	return err == nil && delay
}

// setClaimPhase writes a claim's phase, unless it has it.
func (c *Controller) setClaimPhase(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase) error {
	if claim.Status.Phase == phase {
		return nil
	}
	claim = claim.DeepCopy()
	claim.Status.Phase = phase
	if phase == corev1.ClaimPending {
		// A claim not bound has neither capacity nor access modes yet.
		claim.Status.Capacity, claim.Status.AccessModes = nil, nil
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
	return ignoreGone(err)
}

// bind binds volume and claim to each other, in Kubernetes' order: the volume's
// claimRef, the volume's phase, the claim's volumeName, the claim's status. Each step
// is written only when needed, so a binding cut short is finished by the next sync.
func (c *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	bound, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil {
		return err
	}
	if dirty {
		if volume, err = c.client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("bind volume %s to claim %s/%s: %w", bound.Name, claim.Namespace, claim.Name, err)
		}
	}
	if volume.Status.Phase != corev1.VolumeBound {
		volume = volume.DeepCopy()
		volume.Status.Phase, volume.Status.Reason, volume.Status.Message = corev1.VolumeBound, "", ""
		if _, err = c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, volume, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark volume %s bound: %w", volume.Name, err)
		}
	}
	want := claim.DeepCopy()
	if want.Spec.VolumeName != volume.Name {
		want.Spec.VolumeName = volume.Name
		metav1.SetMetaDataAnnotation(&want.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
	}
	metav1.SetMetaDataAnnotation(&want.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
	if !apiequality.Semantic.DeepEqual(want.Spec, claim.Spec) || !apiequality.Semantic.DeepEqual(want.Annotations, claim.Annotations) {
		if claim, err = c.client.CoreV1().PersistentVolumeClaims(want.Namespace).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("bind claim %s/%s to volume %s: %w", want.Namespace, want.Name, volume.Name, err)
		}
		want = claim.DeepCopy()
	}
	want.Status.Phase = corev1.ClaimBound
	want.Status.AccessModes = volume.Spec.AccessModes
	want.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: volume.Spec.Capacity[corev1.ResourceStorage]}
	if !apiequality.Semantic.DeepEqual(want.Status, claim.Status) {
		if _, err = c.client.CoreV1().PersistentVolumeClaims(want.Namespace).UpdateStatus(ctx, want, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark claim %s/%s bound: %w", want.Namespace, want.Name, err)
		}
	}
	return nil
}

// provision makes a volume for a claim of a class with a provisioner: kindlike's
// own, for DefaultClass-like classes; others are some external provisioner's to make.
func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	class, err := c.classes.Get(className)
	if apierrors.IsNotFound(err) {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "storageclass.storage.k8s.io %q not found", className)
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	}
	if err != nil {
		return err
	}
	if class.Provisioner == storagehelpers.NotSupportedProvisioner {
		// Volumes of this class are made by hand.
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	}
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != class.Provisioner {
		claim = claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, storagehelpers.AnnStorageProvisioner, class.Provisioner)
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, class.Provisioner)
		_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
		// The update brings the claim back here.
		return ignoreGone(err)
	}
	if class.Provisioner != Provisioner {
		c.recorder.Eventf(claim, corev1.EventTypeNormal, "ExternalProvisioning",
			"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner)
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	}
	if claim.DeletionTimestamp != nil {
		return nil
	}
	if claim.Spec.Selector != nil {
		c.provisioner.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", "claim Selector is not supported")
		return c.setClaimPhase(ctx, claim, corev1.ClaimPending)
	}
	name := "pvc-" + string(claim.UID)
	if _, err := c.volumes.Get(name); err == nil {
		// Made already; its binding is on its way.
		return nil
	}
	if _, err := c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		// Made by an earlier sync the cache does not show yet.
		return nil
	}
	c.provisioner.Eventf(claim, corev1.EventTypeNormal, "Provisioning", "External provisioner is provisioning volume for claim %q", claimKey(claim.Namespace, claim.Name))
	pv := provisionedVolume(name, claim, class)
	_, err = c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Made by an earlier sync the cache did not show yet.
		return nil
	}
	if err != nil {
		c.provisioner.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return fmt.Errorf("provision volume for claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	c.provisioner.Eventf(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", name)
	c.log.Info("provisioned volume", "volume", name, "claim", claimKey(claim.Namespace, claim.Name))
	return nil
}

// provisionedVolume is the PersistentVolume Provisioner makes for a claim: its size
// and access modes, pre-bound to it. Its spec.csi names the volume as a CSI driver's
// would; a reclaim policy of Delete gets the finalizer that lets a node agent remove
// the Docker volume before the PersistentVolume goes.
func provisionedVolume(name string, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes: claim.Spec.AccessModes,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name,
				UID: claim.UID, ResourceVersion: claim.ResourceVersion,
			},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				CSI: &corev1.CSIPersistentVolumeSource{Driver: Driver, VolumeHandle: name},
			},
		},
	}
	if reclaim == corev1.PersistentVolumeReclaimDelete {
		pv.Finalizers = []string{Finalizer}
	}
	return pv
}

// ignoreGone drops the errors of a write to an object deleted meanwhile, and of
// one that lost a race (the object's update brings it back to the queue).
func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
