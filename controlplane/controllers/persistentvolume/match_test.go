package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const (
	rwo = corev1.ReadWriteOnce
	rox = corev1.ReadOnlyMany
	rwx = corev1.ReadWriteMany
)

type pvOpt func(*corev1.PersistentVolume)

func pv(name, size, class string, modes []corev1.PersistentVolumeAccessMode, opts ...pvOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:      modes,
			StorageClassName: class,
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

func labelled(k, v string) pvOpt {
	return func(p *corev1.PersistentVolume) { p.Labels = map[string]string{k: v} }
}

func claimedBy(ns, name, uid string) pvOpt {
	return func(p *corev1.PersistentVolume) {
		p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: ns, Name: name, UID: types.UID(uid)}
		if uid != "" {
			p.Status.Phase = corev1.VolumeBound
		}
	}
}

func phase(ph corev1.PersistentVolumePhase) pvOpt {
	return func(p *corev1.PersistentVolume) { p.Status.Phase = ph }
}

func block(p *corev1.PersistentVolume) { p.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }

type pvcOpt func(*corev1.PersistentVolumeClaim)

func pvc(size string, class *string, modes []corev1.PersistentVolumeAccessMode, opts ...pvcOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "claim", UID: "uid-1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			StorageClassName: class,
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func selecting(k, v string) pvcOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
}

func modes(m ...corev1.PersistentVolumeAccessMode) []corev1.PersistentVolumeAccessMode { return m }

func TestFindMatch(t *testing.T) {
	manual := ptr.To("manual")
	none := ptr.To("")
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		want    string
	}{
		{
			name:    "scenario 11: the manual class volume",
			claim:   pvc("3Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("task-pv-volume", "10Gi", "manual", modes(rwo))},
			want:    "task-pv-volume",
		},
		{
			name:    "class must be equal",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("fast", "10Gi", "fast", modes(rwo)), pv("classless", "10Gi", "", modes(rwo))},
		},
		{
			name:    "empty class matches only volumes without one",
			claim:   pvc("1Gi", none, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("manual", "10Gi", "manual", modes(rwo)), pv("classless", "10Gi", "", modes(rwo))},
			want:    "classless",
		},
		{
			name:    "no class at all is the empty class",
			claim:   pvc("1Gi", nil, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("manual", "10Gi", "manual", modes(rwo)), pv("classless", "10Gi", "", modes(rwo))},
			want:    "classless",
		},
		{
			name:    "too small",
			claim:   pvc("5Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("small", "4Gi", "manual", modes(rwo))},
		},
		{
			name:    "exactly the size asked",
			claim:   pvc("4Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("exact", "4Gi", "manual", modes(rwo))},
			want:    "exact",
		},
		{
			name:  "smallest that fits",
			claim: pvc("3Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{
				pv("big", "100Gi", "manual", modes(rwo)), pv("small", "2Gi", "manual", modes(rwo)),
				pv("fit", "5Gi", "manual", modes(rwo)), pv("bigger", "10Gi", "manual", modes(rwo)),
			},
			want: "fit",
		},
		{
			name:    "access modes must include the claim's",
			claim:   pvc("1Gi", manual, modes(rwo, rox)),
			volumes: []*corev1.PersistentVolume{pv("rwo", "1Gi", "manual", modes(rwo)), pv("rox", "1Gi", "manual", modes(rox))},
		},
		{
			name:    "a superset of access modes serves",
			claim:   pvc("1Gi", manual, modes(rox)),
			volumes: []*corev1.PersistentVolume{pv("rwo", "1Gi", "manual", modes(rwo)), pv("all", "10Gi", "manual", modes(rwo, rox, rwx))},
			want:    "all",
		},
		{
			name:  "fewest access modes first, even if larger",
			claim: pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{
				pv("many", "1Gi", "manual", modes(rwo, rwx)), pv("one", "10Gi", "manual", modes(rwo)),
			},
			want: "one",
		},
		{
			name:    "selector",
			claim:   pvc("1Gi", manual, modes(rwo), selecting("tier", "gold")),
			volumes: []*corev1.PersistentVolume{pv("silver", "1Gi", "manual", modes(rwo), labelled("tier", "silver")), pv("gold", "9Gi", "manual", modes(rwo), labelled("tier", "gold"))},
			want:    "gold",
		},
		{
			name:    "selector matching nothing",
			claim:   pvc("1Gi", manual, modes(rwo), selecting("tier", "gold")),
			volumes: []*corev1.PersistentVolume{pv("plain", "1Gi", "manual", modes(rwo))},
		},
		{
			name:    "bound and released volumes are not available",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("taken", "1Gi", "manual", modes(rwo), claimedBy("demo", "other", "uid-2")), pv("released", "1Gi", "manual", modes(rwo), phase(corev1.VolumeReleased))},
		},
		{
			name:    "volume mode must be equal",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("raw", "1Gi", "manual", modes(rwo), block)},
		},
		{
			name:  "claimRef pre-binding wins over a better fit",
			claim: pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{
				pv("fit", "1Gi", "manual", modes(rwo)),
				pv("reserved", "50Gi", "manual", modes(rwo), claimedBy("demo", "claim", "")),
			},
			want: "reserved",
		},
		{
			name:    "a volume pre-bound to another claim is not taken",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("reserved", "5Gi", "manual", modes(rwo), claimedBy("demo", "someone-else", ""))},
		},
		{
			name:    "a volume pre-bound to an earlier claim of that name is not taken",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("old", "5Gi", "manual", modes(rwo), claimedBy("demo", "claim", "uid-0"))},
		},
		{
			name:    "provisioned for this claim",
			claim:   pvc("1Gi", ptr.To("standard"), modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("pvc-uid-1", "1Gi", "standard", modes(rwo), claimedBy("demo", "claim", "uid-1"), phase(corev1.VolumePending))},
			want:    "pvc-uid-1",
		},
		{
			name:    "WaitForFirstConsumer binds only pre-bound volumes",
			claim:   pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("fit", "1Gi", "manual", modes(rwo))},
			delay:   true,
		},
		{
			name:  "being deleted",
			claim: pvc("1Gi", manual, modes(rwo)),
			volumes: []*corev1.PersistentVolume{pv("going", "1Gi", "manual", modes(rwo), func(p *corev1.PersistentVolume) {
				p.DeletionTimestamp = &metav1.Time{}
			})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findMatch(tt.claim, tt.volumes, tt.delay)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("matched %q, want %q", name, tt.want)
			}
		})
	}
}

func TestSatisfies(t *testing.T) {
	manual := ptr.To("manual")
	tests := []struct {
		name   string
		volume *corev1.PersistentVolume
		claim  *corev1.PersistentVolumeClaim
		want   string
	}{
		{"fits", pv("v", "10Gi", "manual", modes(rwo)), pvc("3Gi", manual, modes(rwo)), ""},
		{"too small", pv("v", "1Gi", "manual", modes(rwo)), pvc("3Gi", manual, modes(rwo)), "requested PV is too small"},
		{"other class", pv("v", "10Gi", "fast", modes(rwo)), pvc("3Gi", manual, modes(rwo)), "storageClassName does not match"},
		{"access modes", pv("v", "10Gi", "manual", modes(rox)), pvc("3Gi", manual, modes(rwo)), "incompatible accessMode"},
		{"volume mode", pv("v", "10Gi", "manual", modes(rwo), block), pvc("3Gi", manual, modes(rwo)), "incompatible volumeMode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := satisfies(tt.volume, tt.claim); got != tt.want {
				t.Errorf("satisfies = %q, want %q", got, tt.want)
			}
		})
	}
}
