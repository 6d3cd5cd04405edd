package persistentvolume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// syncVolume keeps a volume's phase true to its binding: Available while no claim has
// it, Bound to its claim, Released once the claim is gone, and then reclaimed as its
// policy says.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	volume, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Unclaimed, or reserved for a claim not bound yet (its sync binds it).
		return c.setVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
	}
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if claim == nil || claim.UID != ref.UID {
		// The cache may lag behind a claim made just now: ask the API.
		claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err != nil || claim.UID != ref.UID {
			claim = nil
		}
	}
	if volume.DeletionTimestamp != nil {
		// Being deleted already: nothing to bind or reclaim, but its claim's end is
		// still shown, which lets pv-protection let it go.
		if claim == nil && volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			_, err := c.writeVolumePhase(ctx, volume, corev1.VolumeReleased, "")
			return err
		}
		return nil
	}
	switch {
	case claim == nil:
		// The claim is gone: the volume is released, and reclaimed.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = c.writeVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, volume)
	case claim.Spec.VolumeName == "":
		// The claim's half of the binding is still to be written (or was undone by
		// someone): its sync does it.
		c.claimQueue.Add(claimKey(claim.Namespace, claim.Name))
		return nil
	case claim.Spec.VolumeName == volume.Name:
		return c.setVolumePhase(ctx, volume, corev1.VolumeBound, "")
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) &&
		volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Made for a claim that got bound to another volume: not needed.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = c.writeVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, volume)
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnBoundByController):
		// We bound it to a claim that another volume got: undo that.
		return c.unbind(ctx, volume)
	default:
		// Pre-bound by its maker to a claim bound elsewhere: leave the claimRef.
		return c.setVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
	}
}

// reclaim does what a released volume's reclaim policy says: Retain keeps it
// Released for an administrator; Delete deletes volumes kindlike provisioned (a node
// agent then removes the Docker volume), and fails for others, which kindlike has no
// plugin to delete; Recycle, deprecated, is not supported.
func (c *Controller) reclaim(ctx context.Context, volume *corev1.PersistentVolume) error {
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return nil
	case corev1.PersistentVolumeReclaimDelete:
		if volume.Annotations[storagehelpers.AnnDynamicallyProvisioned] != Provisioner {
			if volume.Status.Phase == corev1.VolumeFailed {
				return nil
			}
			msg := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name)
			c.recorder.Event(volume, corev1.EventTypeWarning, "VolumeFailedDelete", msg)
			_, err := c.writeVolumePhase(ctx, volume, corev1.VolumeFailed, msg)
			return err
		}
		uid := volume.UID
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.recorder.Event(volume, corev1.EventTypeWarning, "VolumeFailedDelete", err.Error())
			return fmt.Errorf("delete released volume %s: %w", volume.Name, err)
		}
		c.log.Info("deleted released volume", "volume", volume.Name)
		return nil
	default:
		if volume.Status.Phase == corev1.VolumeFailed {
			return nil
		}
		msg := "No recycler plugin found for the volume!"
		c.recorder.Event(volume, corev1.EventTypeWarning, "VolumeFailedRecycle", msg)
		_, err := c.writeVolumePhase(ctx, volume, corev1.VolumeFailed, msg)
		return err
	}
}

// unbind takes back a claimRef the controller wrote: the volume is Available again.
func (c *Controller) unbind(ctx context.Context, volume *corev1.PersistentVolume) error {
	v := volume.DeepCopy()
	v.Spec.ClaimRef = nil
	delete(v.Annotations, storagehelpers.AnnBoundByController)
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, v, metav1.UpdateOptions{})
	if err != nil {
		return ignoreGone(err)
	}
	return c.setVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
}

func (c *Controller) setVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) error {
	if volume.Status.Phase == phase && volume.Status.Message == msg {
		return nil
	}
	_, err := c.writeVolumePhase(ctx, volume, phase, msg)
	return err
}

func (c *Controller) writeVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) (*corev1.PersistentVolume, error) {
	v := volume.DeepCopy()
	v.Status.Phase, v.Status.Message, v.Status.Reason = phase, msg, ""
	updated, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, v, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set phase of volume %s to %s: %w", volume.Name, phase, err)
	}
	return updated, nil
}
