package downward

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var pod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1",
		Labels: map[string]string{"app": "web", "tier": "a \"b\""}, Annotations: map[string]string{"x/y": "z"}},
	Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa", Containers: []corev1.Container{{
		Name: "c",
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("1500m")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		},
	}, {Name: "bare"}}},
	Status: corev1.PodStatus{PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}}, HostIP: "172.18.0.2", HostIPs: []corev1.HostIP{{IP: "172.18.0.2"}}},
}

func TestFieldValue(t *testing.T) {
	for path, want := range map[string]string{
		"metadata.name":               "p",
		"metadata.namespace":          "ns",
		"metadata.uid":                "u-1",
		"metadata.labels":             "app=\"web\"\ntier=\"a \\\"b\\\"\"",
		"metadata.labels['app']":      "web",
		"metadata.labels['missing']":  "",
		"metadata.annotations['x/y']": "z",
		"spec.nodeName":               "n1",
		"spec.serviceAccountName":     "sa",
		"status.podIP":                "10.0.0.5",
		"status.podIPs":               "10.0.0.5",
		"status.hostIP":               "172.18.0.2",
		"status.hostIPs":              "172.18.0.2",
	} {
		got, err := FieldValue(pod, path)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := FieldValue(pod, "spec.nope"); err == nil {
		t.Error("unsupported path accepted")
	}
}

func TestResourceValue(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourceCPU: resource.MustParse("4")}
	for _, tc := range []struct {
		container, res, divisor, want string
	}{
		{"c", "limits.memory", "", "67108864"},
		{"c", "limits.memory", "1Mi", "64"},
		{"c", "limits.cpu", "", "2"},
		{"c", "limits.cpu", "1m", "1500"},
		{"c", "requests.cpu", "1m", "250"},
		{"c", "requests.memory", "", "0"},
		{"bare", "limits.memory", "1Gi", "8"},
		{"bare", "limits.cpu", "", "4"},
	} {
		var div resource.Quantity
		if tc.divisor != "" {
			div = resource.MustParse(tc.divisor)
		}
		got, err := ResourceValue(pod, tc.container, tc.res, div, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s %s /%s: %q, %v; want %q", tc.container, tc.res, tc.divisor, got, err, tc.want)
		}
	}
}
