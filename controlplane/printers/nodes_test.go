package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeRows(t *testing.T) {
	info := corev1.NodeSystemInfo{
		KubeletVersion:          "v1.32.13",
		OSImage:                 "Debian GNU/Linux 12 (bookworm)",
		KernelVersion:           "6.1.0-18-amd64",
		ContainerRuntimeVersion: "docker://28.5.2",
	}
	ready := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: s},
		}
	}
	tests := []struct {
		name string
		node corev1.Node
		want []any // NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME
	}{
		{
			name: "cordoned control plane",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kindlike-control-plane", CreationTimestamp: ago(3*24*time.Hour + 5*time.Hour),
					Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "kindlike-control-plane"}},
				Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue), NodeInfo: info,
					Addresses: []corev1.NodeAddress{
						{Type: corev1.NodeHostName, Address: "kindlike-control-plane"},
						{Type: corev1.NodeInternalIP, Address: "172.18.0.2"},
					}},
			},
			want: []any{"kindlike-control-plane", "Ready,SchedulingDisabled", "control-plane", "3d5h", "v1.32.13",
				"172.18.0.2", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "docker://28.5.2"},
		},
		{
			name: "ready worker without roles",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kindlike-worker", CreationTimestamp: ago(40 * time.Minute)},
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue), NodeInfo: info,
					Addresses: []corev1.NodeAddress{
						{Type: corev1.NodeInternalIP, Address: "172.18.0.3"},
						{Type: corev1.NodeExternalIP, Address: "203.0.113.7"},
						{Type: corev1.NodeExternalIP, Address: "203.0.113.8"},
					}},
			},
			want: []any{"kindlike-worker", "Ready", "<none>", "40m", "v1.32.13",
				"172.18.0.3", "203.0.113.7", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "docker://28.5.2"},
		},
		{
			name: "lost node: Ready Unknown",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kindlike-worker2", CreationTimestamp: ago(2 * time.Hour),
					Labels: map[string]string{"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": "true",
						"node-role.kubernetes.io/": "ignored: empty role"}},
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionUnknown), NodeInfo: info},
			},
			want: []any{"kindlike-worker2", "NotReady", "infra,worker", "120m", "v1.32.13",
				"<none>", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "docker://28.5.2"},
		},
		{
			name: "not ready and cordoned",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kindlike-worker3", CreationTimestamp: ago(2 * time.Hour)},
				Spec:       corev1.NodeSpec{Unschedulable: true},
				Status:     corev1.NodeStatus{Conditions: ready(corev1.ConditionFalse), NodeInfo: info},
			},
			want: []any{"kindlike-worker3", "NotReady,SchedulingDisabled", "<none>", "120m", "v1.32.13",
				"<none>", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "docker://28.5.2"},
		},
		{
			name: "just registered: no conditions, no node info",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "kindlike-worker4", CreationTimestamp: ago(2 * time.Second)},
			},
			want: []any{"kindlike-worker4", "Unknown", "<none>", "2s", "",
				"<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, nodeColumns, cellsOf(t, &tt.node), tt.want)
		})
	}
}
