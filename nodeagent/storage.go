package nodeagent

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/kindlike/kindlike/nodeagent/volumes"
)

// The agents are the deleting half of kindlike's provisioner, as a CSI driver's
// external-provisioner is: a PersistentVolume kindlike provisioned carries a finalizer
// while its reclaim policy is Delete, and once it is being deleted (the volume
// controller deletes it when its claim is gone) any agent removes its Docker volume,
// then the finalizer. Every agent shares the engine, so whichever comes first does
// it; a volume still mounted by some pod's container stays until that one ends.

// reclaimSoon asks the reclaim loop to look at the PersistentVolumes now.
func (a *agent) reclaimSoon() {
	select {
	case a.reclaim <- struct{}{}:
	default:
	}
}

// reclaimVolumes removes the Docker volumes of deleted PersistentVolumes until ctx ends.
func (a *agent) reclaimVolumes(ctx context.Context) {
	for {
		a.reclaimOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-a.reclaim:
		case <-time.After(a.cfg.SyncInterval):
		}
	}
}

func (a *agent) reclaimOnce(ctx context.Context) {
	list, err := a.source.volumes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pv := range list {
		csi := pv.Spec.CSI
		if pv.DeletionTimestamp == nil || csi == nil || csi.Driver != volumes.Driver ||
			!slices.Contains(pv.Finalizers, storagehelpers.PVDeletionProtectionFinalizer) {
			continue
		}
		if err := a.rt.RemoveSharedVolume(ctx, csi.VolumeHandle); err != nil {
			a.log.Debug("persistent volume's Docker volume not removed yet", "volume", pv.Name, "err", err)
			continue
		}
		if err := a.dropFinalizer(ctx, pv); err != nil {
			a.log.Debug("removing finalizer of deleted volume", "volume", pv.Name, "err", err)
			continue
		}
		a.log.Info("removed the Docker volume of a deleted persistent volume", "volume", pv.Name)
	}
}

func (a *agent) dropFinalizer(ctx context.Context, pv *corev1.PersistentVolume) error {
	pv = pv.DeepCopy()
	pv.Finalizers = slices.DeleteFunc(pv.Finalizers, func(f string) bool { return f == storagehelpers.PVDeletionProtectionFinalizer })
	_, err := a.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Another agent did it, or will be seen doing it by the next look.
		return nil
	}
	return err
}
