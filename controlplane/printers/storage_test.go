package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPersistentVolumeRows(t *testing.T) {
	fs := corev1.PersistentVolumeFilesystem
	block := corev1.PersistentVolumeBlock
	tests := []struct {
		name string
		pv   corev1.PersistentVolume
		want []any // NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE VOLUMEMODE
	}{
		{
			name: "bound",
			pv: corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-3f2a", CreationTimestamp: ago(2 * time.Hour)},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data-web-0"},
					StorageClassName:              "standard",
					VolumeMode:                    &fs,
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
			want: []any{"pvc-3f2a", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data-web-0", "standard", "<unset>", "", "120m", "Filesystem"},
		},
		{
			name: "released, being deleted, beta class annotation, attributes class",
			pv: corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: ago(5 * 24 * time.Hour),
				DeletionTimestamp: agoPtr(time.Second),
				Annotations:       map[string]string{"volume.beta.kubernetes.io/storage-class": "legacy"}},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("500Mi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadOnlyMany},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					StorageClassName:              "standard",
					VolumeAttributesClassName:     ptr("gold"),
					VolumeMode:                    &block,
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased, Reason: "Released by claim"}},
			want: []any{"old", "500Mi", "ROX,RWOP", "Delete", "Terminating", "", "legacy", "gold", "Released by claim", "5d", "Block"},
		},
		{
			name: "bare",
			pv: corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "bare", CreationTimestamp: ago(time.Minute)},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}},
			want: []any{"bare", "0", "", "", "Available", "", "", "<unset>", "", "60s", "<unset>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, persistentVolumeColumns, cellsOf(t, &tt.pv), tt.want)
		})
	}
}

func TestPersistentVolumeClaimRows(t *testing.T) {
	fs := corev1.PersistentVolumeFilesystem
	request := corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	tests := []struct {
		name string
		pvc  corev1.PersistentVolumeClaim
		want []any // NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE VOLUMEMODE
	}{
		{
			name: "bound",
			pvc: corev1.PersistentVolumeClaim{ObjectMeta: objMeta("data-web-0", 2*time.Hour),
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-3f2a", StorageClassName: ptr("standard"),
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, Resources: request, VolumeMode: &fs},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}},
			want: []any{"data-web-0", "Bound", "pvc-3f2a", "2Gi", "RWO", "standard", "<unset>", "120m", "Filesystem"},
		},
		{
			name: "pending: no capacity or modes yet",
			pvc: corev1.PersistentVolumeClaim{ObjectMeta: objMeta("data-web-1", time.Minute),
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("standard"),
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, Resources: request, VolumeMode: &fs},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			want: []any{"data-web-1", "Pending", "", "", "", "standard", "<unset>", "60s", "Filesystem"},
		},
		{
			name: "terminating, class from the beta annotation",
			pvc: corev1.PersistentVolumeClaim{ObjectMeta: func() metav1.ObjectMeta {
				m := objMeta("scratch", time.Hour)
				m.DeletionTimestamp = agoPtr(0)
				m.Annotations = map[string]string{"volume.beta.kubernetes.io/storage-class": "legacy"}
				return m
			}(),
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptr("standard"),
					VolumeAttributesClassName: ptr("gold")},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
			want: []any{"scratch", "Terminating", "pv-1", "0", "", "legacy", "gold", "60m", "<unset>"},
		},
		{
			name: "no class",
			pvc: corev1.PersistentVolumeClaim{ObjectMeta: objMeta("plain", time.Hour),
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimLost}},
			want: []any{"plain", "Lost", "", "", "", "", "<unset>", "60m", "<unset>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, persistentVolumeClaimColumns, cellsOf(t, &tt.pvc), tt.want)
		})
	}
}

func TestStorageClassRows(t *testing.T) {
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	retain := corev1.PersistentVolumeReclaimRetain
	def := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "standard", CreationTimestamp: ago(3 * 24 * time.Hour),
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "rancher.io/local-path", VolumeBindingMode: &wait,
	}
	checkCells(t, storageClassColumns, cellsOf(t, def), []any{"standard (default)", "rancher.io/local-path", "Delete",
		"WaitForFirstConsumer", false, "3d"})

	other := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fast", CreationTimestamp: ago(time.Hour),
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "false"}},
		Provisioner: "kindlike.io/hostpath", ReclaimPolicy: &retain, AllowVolumeExpansion: ptr(true),
	}
	checkCells(t, storageClassColumns, cellsOf(t, other), []any{"fast", "kindlike.io/hostpath", "Retain", "Immediate", true, "60m"})

	beta := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: ago(time.Hour),
			Annotations: map[string]string{"storageclass.beta.kubernetes.io/is-default-class": "true"}},
		Provisioner: "kubernetes.io/no-provisioner",
	}
	checkCells(t, storageClassColumns, cellsOf(t, beta), []any{"old (default)", "kubernetes.io/no-provisioner", "Delete", "Immediate", false, "60m"})
}
