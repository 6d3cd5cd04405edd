package registry

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPersistentVolumeValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pv *corev1.PersistentVolume)
		want   []string
	}{
		{"no access modes", func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil },
			[]string{"spec.accessModes: Required value"}},
		{"unknown access mode", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSome"}
		},
			[]string{`spec.accessModes: Unsupported value: "ReadWriteSome": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`}},
		{"no capacity", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil },
			[]string{
				"spec.capacity: Required value",
				`spec.capacity: Unsupported value: v1.ResourceList(nil): supported values: "storage"`,
			}},
		{"zero capacity", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") },
			[]string{`spec.capacity[storage]: Invalid value: "0": must be greater than zero`}},
		{"no source", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil },
			[]string{"spec: Required value: must specify a volume type"}},
		{"two sources", func(pv *corev1.PersistentVolume) {
			pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs.example.com", Path: "/exports"}
		}, []string{"spec.nfs: Forbidden: may not specify more than 1 volume type"}},
		{"reclaim policy", func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" },
			[]string{`spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"`}},
		{"recycling the root", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath.Path = "/"
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
		}, []string{"spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'"}},
		{"local volume without node affinity", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath = nil
			pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}
		}, []string{"spec.nodeAffinity: Required value: Local volume requires node affinity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv := scenarioObject[*corev1.PersistentVolume](t, "11-static-pv-pvc.yaml", "task-pv-volume")
			PersistentVolumes.Strategy.Default(pv)
			tt.mutate(pv)
			checkErrors(t, createObject(t, PersistentVolumes, pv), tt.want)
		})
	}

	old := scenarioObject[*corev1.PersistentVolume](t, "11-static-pv-pvc.yaml", "task-pv-volume")
	createObject(t, PersistentVolumes, old)
	moved := old.DeepCopy()
	moved.Spec.HostPath.Path = "/mnt/other"
	errs := errorStrings(updateObject(t, PersistentVolumes, moved, old))
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n") {
		t.Errorf("source change: %q", errs)
	}
	grown := old.DeepCopy()
	grown.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("20Gi")
	grown.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "demo", Name: "task-pv-claim"}
	checkErrors(t, updateObject(t, PersistentVolumes, grown, old), nil)

	// The volume controller makes it Available: the transition time moves.
	available := old.DeepCopy()
	available.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}
	later := metav1.NewTime(fixedNow.Add(3e9))
	now = func() metav1.Time { return later }
	defer func() { now = func() metav1.Time { return fixedNow } }()
	checkErrors(t, updateStatus(t, PersistentVolumes, available, old), nil)
	if available.Status.LastPhaseTransitionTime == nil || !available.Status.LastPhaseTransitionTime.Equal(&later) {
		t.Errorf("lastPhaseTransitionTime %v, want %v", available.Status.LastPhaseTransitionTime, later)
	}
	if PersistentVolumes.Strategy.Fields(old)["name"] != "task-pv-volume" {
		t.Errorf("fields %v", PersistentVolumes.Strategy.Fields(old))
	}
}

func TestPersistentVolumeClaimValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pvc *corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"no access modes", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.AccessModes = nil },
			[]string{"spec.accessModes: Required value: at least 1 access mode is required"}},
		{"no storage request", func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.Resources.Requests = nil },
			[]string{"spec.resources[storage]: Required value"}},
		{"zero storage request", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, []string{`spec.resources[storage]: Invalid value: "0": must be greater than zero`}},
		{"ReadWriteOncePod with others", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce}
		}, []string{"spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"}},
		{"volume mode", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeMode("Raw"))
		},
			[]string{`spec.volumeMode: Unsupported value: "Raw": supported values: "Block", "Filesystem"`}},
		{"data source of the default group", func(pvc *corev1.PersistentVolumeClaim) {
			pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "Snapshot", Name: "s"}
		}, []string{`spec.dataSource: Invalid value: "Snapshot": must be 'PersistentVolumeClaim' when referencing the default apiGroup`,
			`spec.dataSourceRef: Invalid value: "Snapshot": must be 'PersistentVolumeClaim' when referencing the default apiGroup`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := scenarioObject[*corev1.PersistentVolumeClaim](t, "11-static-pv-pvc.yaml", "task-pv-claim")
			PersistentVolumeClaims.Strategy.Default(pvc)
			tt.mutate(pvc)
			checkErrors(t, createObject(t, PersistentVolumeClaims, pvc), tt.want)
		})
	}

	old := scenarioObject[*corev1.PersistentVolumeClaim](t, "11-static-pv-pvc.yaml", "task-pv-claim")
	createObject(t, PersistentVolumeClaims, old)
	// The volume controller binds it, once.
	bound := old.DeepCopy()
	bound.Spec.VolumeName = "task-pv-volume"
	checkErrors(t, updateObject(t, PersistentVolumeClaims, bound, old), nil)
	old.Spec.VolumeName = "task-pv-volume"
	old.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}
	// A bound claim may grow, not change otherwise.
	grown := old.DeepCopy()
	grown.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("5Gi")
	checkErrors(t, updateObject(t, PersistentVolumeClaims, grown, old), nil)
	shrunk := old.DeepCopy()
	shrunk.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
	checkErrors(t, updateObject(t, PersistentVolumeClaims, shrunk, old), []string{
		"spec.resources.requests.storage: Forbidden: field can not be less than status.capacity",
	})
	reclassed := old.DeepCopy()
	reclassed.Spec.StorageClassName = ptr.To("fast")
	errs := errorStrings(updateObject(t, PersistentVolumeClaims, reclassed, old))
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n") {
		t.Errorf("class change: %q", errs)
	}
}

func TestStorageClassValidation(t *testing.T) {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard"}, Provisioner: "rancher.io/local-path"}
	checkErrors(t, createObject(t, StorageClasses, sc), nil)
	bad := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimRecycle), VolumeBindingMode: ptr.To(storagev1.VolumeBindingMode("Lazy"))}
	checkErrors(t, createObject(t, StorageClasses, bad), []string{
		"provisioner: Required value",
		`reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"`,
		`volumeBindingMode: Unsupported value: "Lazy": supported values: "Immediate", "WaitForFirstConsumer"`,
	})
	changed := sc.DeepCopy()
	changed.Provisioner = "example.com/nfs"
	changed.Parameters = map[string]string{"server": "nfs"}
	checkErrors(t, updateObject(t, StorageClasses, changed, sc), []string{
		"parameters: Forbidden: updates to parameters are forbidden.",
		"provisioner: Forbidden: updates to provisioner are forbidden.",
	})
}

func TestDefaultStorageClass(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
	class := func(name string, created metav1.Time, ann string) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created}}
		if ann != "" {
			sc.Annotations = map[string]string{ann: "true"}
		}
		return sc
	}
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		want    string
	}{
		{"none marked", []*storagev1.StorageClass{class("a", at(1), "")}, ""},
		{"newest default wins", []*storagev1.StorageClass{class("old", at(1), AnnotationDefaultStorageClass), class("new", at(2), AnnotationDefaultStorageClass), class("newest", at(3), "")}, "new"},
		{"beta annotation counts", []*storagev1.StorageClass{class("beta", at(1), AnnotationBetaDefaultStorageClass)}, "beta"},
		{"tie by name", []*storagev1.StorageClass{class("b", at(1), AnnotationDefaultStorageClass), class("a", at(1), AnnotationDefaultStorageClass)}, "a"},
	}
	for _, tt := range tests {
		got := ""
		if sc := DefaultStorageClass(tt.classes); sc != nil {
			got = sc.Name
		}
		if got != tt.want {
			t.Errorf("%s: default %q, want %q", tt.name, got, tt.want)
		}
	}
}
