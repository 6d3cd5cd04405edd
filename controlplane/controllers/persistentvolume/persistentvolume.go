// Package persistentvolume is the persistent volume controller: it binds claims to
// volumes that satisfy them, provisions volumes of kindlike's own StorageClass for
// claims that find none, and releases (and, as their reclaim policy says, deletes)
// volumes whose claim is gone.
package persistentvolume

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
	"github.com/kindlike/kindlike/controlplane/registry"
)

// Name is the controller's event source, as kube-controller-manager's.
const Name = "persistentvolume-controller"

// Kindlike's own storage: a StorageClass every cluster starts with, whose volumes are
// Docker volumes of the engine every node shares, so any node can mount them (as
// network storage would be). The node agents create a volume's Docker volume when a
// pod first mounts it, and remove it when its PersistentVolume is deleted.
const (
	// DefaultClass is the StorageClass a cluster starts with, the default one.
	DefaultClass = "standard"
	// Provisioner is the provisioner of DefaultClass: this controller.
	Provisioner = "kindlike.dev/local"
	// Driver is the CSI driver name in the PersistentVolumes Provisioner makes:
	// spec.csi.volumeHandle names the volume. (A CSI driver name is a DNS subdomain,
	// so it cannot be the provisioner's name; the node agents know it too.)
	Driver = "local.kindlike.dev"
	// Finalizer keeps a provisioned volume's PersistentVolume until a node agent has
	// removed its Docker volume, as external-provisioner's does for CSI volumes.
	Finalizer = storagehelpers.PVDeletionProtectionFinalizer
)

// Controller binds claims and volumes.
type Controller struct {
	client      kubernetes.Interface
	volumes     corelisters.PersistentVolumeLister
	claims      corelisters.PersistentVolumeClaimLister
	classes     storagelisters.StorageClassLister
	synced      []cache.InformerSynced
	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
	// recorder is the controller's; provisioner speaks for Provisioner.
	recorder, provisioner record.EventRecorder
	log                   *slog.Logger
}

// New makes the controller. recorder reports as Name, provisioner as Provisioner.
func New(client kubernetes.Interface, volumes coreinformers.PersistentVolumeInformer, claims coreinformers.PersistentVolumeClaimInformer,
	classes storageinformers.StorageClassInformer, recorder, provisioner record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, volumes: volumes.Lister(), claims: claims.Lister(), classes: classes.Lister(),
		synced:      []cache.InformerSynced{volumes.Informer().HasSynced, claims.Informer().HasSynced, classes.Informer().HasSynced},
		claimQueue:  reconcile.NewQueue("persistentvolume-claims"),
		volumeQueue: reconcile.NewQueue("persistentvolume-volumes"),
		recorder:    recorder, provisioner: provisioner, log: log,
	}
	volumeChanged := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		pv, ok := obj.(*corev1.PersistentVolume)
		if !ok {
			return
		}
		c.volumeQueue.Add(pv.Name)
		if ref := pv.Spec.ClaimRef; ref != nil {
			c.claimQueue.Add(claimKey(ref.Namespace, ref.Name))
		} else {
			// A volume free for any claim: one synced before this volume reached the
			// cache waits for it (its phase, Pending already, brings no event).
			c.enqueueUnboundClaims()
		}
	}
	if _, err := volumes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: volumeChanged, UpdateFunc: func(_, obj any) { volumeChanged(obj) }, DeleteFunc: volumeChanged,
	}); err != nil {
		return nil, fmt.Errorf("add persistentvolume event handler: %w", err)
	}
	if _, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.claimQueue, obj) },
		UpdateFunc: func(_, obj any) { reconcile.Enqueue(c.claimQueue, obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
				c.enqueueVolumesOf(pvc)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("add persistentvolumeclaim event handler: %w", err)
	}
	// A class that appears may let waiting claims be provisioned, or be the default
	// that claims without a class get.
	if _, err := classes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueUnboundClaims() }, UpdateFunc: func(any, any) { c.enqueueUnboundClaims() },
	}); err != nil {
		return nil, fmt.Errorf("add storageclass event handler: %w", err)
	}
	return c, nil
}

// enqueueUnboundClaims queues every claim not bound to a volume yet.
func (c *Controller) enqueueUnboundClaims() {
	list, _ := c.claims.List(labels.Everything())
	for _, pvc := range list {
		if pvc.Spec.VolumeName == "" {
			c.claimQueue.Add(claimKey(pvc.Namespace, pvc.Name))
		}
	}
}

// enqueueVolumesOf queues the volumes bound to a claim that was deleted.
func (c *Controller) enqueueVolumesOf(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" {
		c.volumeQueue.Add(pvc.Spec.VolumeName)
	}
	list, _ := c.volumes.List(labels.Everything())
	for _, pv := range list {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == pvc.Namespace && ref.Name == pvc.Name {
			c.volumeQueue.Add(pv.Name)
		}
	}
}

// Run runs until ctx ends, with workers for volumes (each volume's reclaim stands
// alone) but a single one for claims, as kube-controller-manager has, so two claims
// never race for one volume.
func (c *Controller) Run(ctx context.Context, workers int) {
	claims := reconcile.Loop{Name: "persistentvolume-claims", Queue: c.claimQueue, Sync: c.syncClaim, Log: c.log}
	volumes := reconcile.Loop{Name: "persistentvolume-volumes", Queue: c.volumeQueue, Sync: c.syncVolume, Log: c.log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		volumes.Run(ctx, workers, c.synced...)
	}()
	claims.Run(ctx, 1, c.synced...)
	<-done
}

// EnsureDefaultClass creates DefaultClass unless a class of that name exists.
func EnsureDefaultClass(ctx context.Context, client kubernetes.Interface) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	// Immediate: the volumes are reachable from every node, so there is no topology
	// to wait for a pod's node to decide, and claims show Bound as soon as they exist.
	binding := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: DefaultClass, Annotations: map[string]string{registry.AnnotationDefaultStorageClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
	_, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", DefaultClass, err)
	}
	return nil
}

// defaultClass is the newest class marked default, as the API server's admission
// picks it; nil if none is.
func (c *Controller) defaultClass() *storagev1.StorageClass {
	list, _ := c.classes.List(labels.Everything())
	return registry.DefaultStorageClass(list)
}
