package persistentvolume

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

// A claim synced before the volume it can bind to reached the cache (its phase,
// Pending from the start, brings no second look) binds once the volume shows up.
func TestClaimWaitsForAVolume(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "task-pv-claim", Namespace: "demo"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("manual"), AccessModes: []corev1.PersistentVolumeAccessMode{rwo},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	client := fake.NewSimpleClientset(claim)
	factory := informers.NewSharedInformerFactory(client, 0)
	events := record.NewFakeRecorder(100)
	c, err := New(client, factory.Core().V1().PersistentVolumes(), factory.Core().V1().PersistentVolumeClaims(),
		factory.Storage().V1().StorageClasses(), events, events, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, client, factory, func(ctx context.Context) { c.Run(ctx, 1) })
	// The claim was looked at with no volume to bind and no class to provision from.
	for seen := false; !seen; {
		select {
		case e := <-events.Events:
			seen = strings.Contains(e, "ProvisioningFailed")
		case <-time.After(controllertest.Timeout):
			t.Fatal("the claim was never looked at")
		}
	}
	ctx := context.Background()
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv("task-pv-volume", "10Gi", "manual", []corev1.PersistentVolumeAccessMode{rwo}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the claim bound to the new volume", func() bool {
		got, err := client.CoreV1().PersistentVolumeClaims("demo").Get(ctx, "task-pv-claim", metav1.GetOptions{})
		return err == nil && got.Spec.VolumeName == "task-pv-volume"
	})
}
