package volumes

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Driver is the CSI driver name of the PersistentVolumes kindlike's provisioner
// (kindlike.dev/local) makes: their spec.csi.volumeHandle names a Docker volume of
// the cluster. The control plane's volume controller uses the same name.
const Driver = "local.kindlike.dev"

// unableToMount begins kubelet's FailedMount message for volumes it could not set up.
const unableToMount = "Unable to attach or mount volumes"

// Claims is where claims and their volumes are read: the API, as the node sees it.
type Claims interface {
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// Resolve says what backs each Claim volume of vols: the PersistentVolume bound to
// its claim, as a Shared Docker volume or a HostPath of the node. The other volumes
// are returned as they are. A claim not bound yet is an error: the pod waits for it,
// as kubelet's volume manager does, and the error is worded as its FailedMount event.
func Resolve(ctx context.Context, src Claims, pod *corev1.Pod, vols []Volume) ([]Volume, error) {
	out := make([]Volume, len(vols))
	var unmounted []string
	var errs []string
	for i, v := range vols {
		out[i] = v
		if v.Kind != Claim {
			continue
		}
		r, err := resolveClaim(ctx, src, pod, v)
		if err != nil {
			unmounted = append(unmounted, v.Name)
			errs = append(errs, err.Error())
			continue
		}
		out[i] = r
	}
	if len(errs) == 0 {
		return out, nil
	}
	sort.Strings(unmounted)
	list := strings.Join(unmounted, " ")
	return nil, fmt.Errorf("%s: unmounted volumes=[%s], unattached volumes=[], failed to process volumes=[%s]: %s",
		unableToMount, list, list, strings.Join(errs, ", "))
}

func resolveClaim(ctx context.Context, src Claims, pod *corev1.Pod, v Volume) (Volume, error) {
	key := pod.Namespace + "/" + v.ClaimName
	pvc, err := src.PersistentVolumeClaim(ctx, pod.Namespace, v.ClaimName)
	if err != nil {
		return v, fmt.Errorf("error processing PVC %s: failed to fetch PVC from API server: %v", key, err)
	}
	if pvc.DeletionTimestamp != nil {
		return v, fmt.Errorf("error processing PVC %s: PVC is being deleted", key)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return v, fmt.Errorf("error processing PVC %s: PVC is not bound", key)
	}
	if pvc.Spec.VolumeName == "" {
		return v, fmt.Errorf("error processing PVC %s: PVC has empty pvc.Spec.VolumeName", key)
	}
	pv, err := src.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return v, fmt.Errorf("error processing PVC %s: failed to fetch PV %s from API server: %v", key, pvc.Spec.VolumeName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID {
		return v, fmt.Errorf("error processing PVC %s: the PV %s is not bound to this claim", key, pv.Name)
	}
	v.PersistentVolume = pv.Name
	switch s := pv.Spec.PersistentVolumeSource; {
	case s.CSI != nil && s.CSI.Driver == Driver:
		v.Kind = Shared
		v.Handle = s.CSI.VolumeHandle
		v.ReadOnly = v.ReadOnly || s.CSI.ReadOnly
	case s.HostPath != nil:
		v.Kind = HostPath
		v.Path = path.Clean("/" + s.HostPath.Path)
		if s.HostPath.Type != nil {
			v.Type = *s.HostPath.Type
		}
	default:
		return v, fmt.Errorf("error processing PVC %s: volume %s: this kind of PersistentVolume is not supported by kindlike nodes (hostPath, and the %s volumes kindlike provisions, are)", key, pv.Name, Driver)
	}
	return v, nil
}
