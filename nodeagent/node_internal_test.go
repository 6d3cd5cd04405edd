package nodeagent

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/system"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kindlike/kindlike/config"
)

// TestStatusPostedOnChange: between reports the agent writes its Node status only when
// it changed in more than heartbeat times, so a healthy cluster's `kubectl get nodes
// -w` stays quiet; a report, or a change (the node back from Unknown), writes it.
func TestStatusPostedOnChange(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w"}}
	client := fake.NewClientset(node)
	a := &agent{client: client, node: config.Node{Cluster: "c", Name: "w", Capacity: map[string]string{"cpu": "2", "memory": "1Gi"}},
		address: "10.0.0.2", bootID: "boot"}
	info := system.Info{ServerVersion: "20.10", KernelVersion: "6.1", OperatingSystem: "Debian"}
	post := func(force bool) bool {
		t.Helper()
		n, err := client.CoreV1().Nodes().Get(ctx, "w", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		posted, err := a.postStatus(ctx, n, info, force)
		if err != nil {
			t.Fatal(err)
		}
		return posted
	}
	if !post(false) {
		t.Fatal("a node without status: not posted")
	}
	time.Sleep(1100 * time.Millisecond) // heartbeat times have a resolution of a second
	if post(false) {
		t.Error("unchanged status posted between reports")
	}
	if !post(true) {
		t.Error("a report was not posted")
	}
	// The node lifecycle controller marked the node lost: Ready differs, so it is posted.
	n, _ := client.CoreV1().Nodes().Get(ctx, "w", metav1.GetOptions{})
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = corev1.ConditionUnknown
		}
	}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !post(false) {
		t.Error("Ready back from Unknown was not posted")
	}
}
