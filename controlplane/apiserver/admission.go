package apiserver

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/kindlike/kindlike/controlplane/registry"
)

// admit applies what Kubernetes' default admission plugins do to a new object before
// it is validated: pods run as the namespace's default ServiceAccount unless they name
// one (ServiceAccount), and tolerate an unreachable or not-ready node for the
// cluster's eviction timeout (DefaultTolerationSeconds); claims that name no storage
// class get the default one (DefaultStorageClass); claims and volumes get the
// finalizer that keeps them while in use (StorageObjectInUseProtection).
func (s *Server) admit(ctx context.Context, obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		s.admitPod(o)
	case *corev1.PersistentVolumeClaim:
		s.admitClaim(ctx, o)
		addFinalizer(&o.ObjectMeta, registry.PVCProtectionFinalizer)
	case *corev1.PersistentVolume:
		addFinalizer(&o.ObjectMeta, registry.PVProtectionFinalizer)
	}
}

func addFinalizer(m *metav1.ObjectMeta, f string) {
	if !slices.Contains(m.Finalizers, f) {
		m.Finalizers = append(m.Finalizers, f)
	}
}

func (s *Server) admitPod(pod *corev1.Pod) {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	if pod.Spec.DeprecatedServiceAccount == "" {
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		seconds := s.tolerationSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
		})
	}
}

func toleratesNoExecute(tols []corev1.Toleration, key string) bool {
	taint := corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
	for _, t := range tols {
		if t.ToleratesTaint(&taint) {
			return true
		}
	}
	return false
}

// admitClaim gives a claim without a class (no storageClassName, no beta annotation;
// "" is a class: none) the default StorageClass, the newest if several are marked
// default, as kube-apiserver's DefaultStorageClass plugin does. Without a default
// class the claim stays classless; the volume controller gives it one retroactively
// once a default appears.
func (s *Server) admitClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if storagehelpers.PersistentVolumeClaimHasClass(pvc) {
		return
	}
	objs, _, err := s.list(ctx, registry.StorageClasses, "", false)
	if err != nil {
		s.log.Warn("default storage class admission: listing classes", "err", err)
		return
	}
	classes := make([]*storagev1.StorageClass, 0, len(objs))
	for _, o := range objs {
		if sc, ok := o.(*storagev1.StorageClass); ok {
			classes = append(classes, sc)
		}
	}
	if chosen := registry.DefaultStorageClass(classes); chosen != nil {
		name := chosen.Name
		pvc.Spec.StorageClassName = &name
	}
}
