package volumes

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

type fakeClaims struct {
	claims  map[string]*corev1.PersistentVolumeClaim
	volumes map[string]*corev1.PersistentVolume
}

func (f fakeClaims) PersistentVolumeClaim(_ context.Context, _, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := f.claims[name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumeclaims"}, name)
}

func (f fakeClaims) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if v, ok := f.volumes[name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumes"}, name)
}

func TestResolve(t *testing.T) {
	claim := func(name, uid, volume string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + uid)},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: volume},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: phase},
		}
	}
	bound := func(name, claimUID string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeSource: src,
				ClaimRef:               &corev1.ObjectReference{Namespace: "demo", Name: "c", UID: types.UID("uid-" + claimUID)},
			},
		}
	}
	src := fakeClaims{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"provisioned": claim("provisioned", "1", "pvc-1", corev1.ClaimBound),
			"static":      claim("static", "2", "task-pv-volume", corev1.ClaimBound),
			"pending":     claim("pending", "3", "", corev1.ClaimPending),
			"nfs":         claim("nfs", "4", "nfs-volume", corev1.ClaimBound),
			"stolen":      claim("stolen", "5", "pvc-1", corev1.ClaimBound),
		},
		volumes: map[string]*corev1.PersistentVolume{
			"pvc-1":          bound("pvc-1", "1", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: Driver, VolumeHandle: "pvc-1"}}),
			"task-pv-volume": bound("task-pv-volume", "2", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/mnt/data/"}}),
			"nfs-volume":     bound("nfs-volume", "4", corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}),
		},
	}
	tests := []struct {
		claim    string
		readOnly bool
		want     Volume
		err      string
	}{
		{claim: "provisioned", want: Volume{Kind: Shared, Handle: "pvc-1", PersistentVolume: "pvc-1"}},
		{claim: "provisioned", readOnly: true, want: Volume{Kind: Shared, Handle: "pvc-1", PersistentVolume: "pvc-1", ReadOnly: true}},
		{claim: "static", want: Volume{Kind: HostPath, Path: "/mnt/data", PersistentVolume: "task-pv-volume"}},
		{claim: "pending", err: "Unable to attach or mount volumes: unmounted volumes=[v], unattached volumes=[], failed to process volumes=[v]: error processing PVC demo/pending: PVC is not bound"},
		{claim: "missing", err: `error processing PVC demo/missing: failed to fetch PVC from API server: persistentvolumeclaims "missing" not found`},
		{claim: "nfs", err: "this kind of PersistentVolume is not supported"},
		{claim: "stolen", err: "the PV pvc-1 is not bound to this claim"},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "p"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tt.claim, ReadOnly: tt.readOnly}}},
			}}}
			plan, err := Plan(pod)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Resolve(context.Background(), src, pod, plan)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Kind != Empty {
				t.Errorf("emptyDir resolved to %+v", got[0])
			}
			v := got[1]
			if v.Kind != tt.want.Kind || v.Handle != tt.want.Handle || v.Path != tt.want.Path ||
				v.PersistentVolume != tt.want.PersistentVolume || v.ReadOnly != tt.want.ReadOnly || v.ClaimName != tt.claim {
				t.Errorf("resolved to %+v, want %+v", v, tt.want)
			}
		})
	}
}
