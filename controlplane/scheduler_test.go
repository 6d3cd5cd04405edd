package controlplane_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func createNode(t *testing.T, client kubernetes.Interface, name, cpu string, controlPlane bool) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if controlPlane {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
		n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerPlacesPods: pods are bound to the node that fits, with the Scheduled
// event; a pod that fits nowhere says why, and is placed once a node with room joins.
func TestSchedulerPlacesPods(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	createNode(t, client, "cp1", "2", true)
	createNode(t, client, "w1", "2", false)

	k.must("apply", "-f", podFile(t, "small", "500m"))
	k.eventually(10*time.Second, `^w1$`, "get", "pod", "small", "-o", "jsonpath={.spec.nodeName}")
	matches(t, "describe small", k.must("describe", "pod", "small"), `(?m)^Node:\s+w1/?$`, `Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned default/small to w1`)

	k.must("apply", "-f", podFile(t, "big", "3"))
	want := "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
	out := k.eventually(10*time.Second, `FailedScheduling`, "describe", "pod", "big")
	if !strings.Contains(out, want) {
		t.Errorf("describe big lacks the FailedScheduling message %q:\n%s", want, out)
	}
	if got := k.must("get", "pod", "big", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}"); got != "Unschedulable" {
		t.Errorf("PodScheduled reason = %q, want Unschedulable", got)
	}

	createNode(t, client, "w2", "4", false)
	k.eventually(10*time.Second, `^w2$`, "get", "pod", "big", "-o", "jsonpath={.spec.nodeName}")
}

// podFile writes a pod manifest requesting cpu and returns its path.
func podFile(t *testing.T, name, cpu string) string {
	t.Helper()
	return writeManifest(t, name, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  containers:
  - name: c
    image: busybox:1.31
    command: ["sleep", "3600"]
    resources:
      requests:
        cpu: %q
`, name, cpu))
}
