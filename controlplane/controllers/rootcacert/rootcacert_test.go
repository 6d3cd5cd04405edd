package rootcacert

import (
	"context"
	"log/slog"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

const caPEM = "-----BEGIN CERTIFICATE-----\ncluster CA\n-----END CERTIFICATE-----\n"

func namespace(name string, terminating bool) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if terminating {
		ns.DeletionTimestamp = &metav1.Time{}
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	return ns
}

// The CA is in every active namespace, put back when edited or deleted, never put
// into a namespace on its way out.
func TestPublishedInEveryNamespace(t *testing.T) {
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "kube-system"},
		Data: map[string]string{Key: "an old CA", "extra": "x"}}
	client := fake.NewSimpleClientset(namespace("default", false), namespace("kube-system", false), namespace("going", true), stale)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, []byte(caPEM), factory.Core().V1().Namespaces(), factory.Core().V1().ConfigMaps(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// One worker: the queue is first in, first out, so a namespace queued later is
	// synced later.
	controllertest.Start(t, client, factory, func(ctx context.Context) { c.Run(ctx, 1) })
	ctx := context.Background()
	cms := client.CoreV1().ConfigMaps
	published := func(ns string) func() bool {
		return func() bool {
			cm, err := cms(ns).Get(ctx, Name, metav1.GetOptions{})
			return err == nil && maps.Equal(cm.Data, map[string]string{Key: caPEM})
		}
	}
	controllertest.Eventually(t, "the CA in default", published("default"))
	controllertest.Eventually(t, "the stale copy in kube-system replaced", published("kube-system"))

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("demo", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the CA in a new namespace", published("demo"))
	// "going" was queued at the start, before "demo": it has been synced.
	if _, err := cms("going").Get(ctx, Name, metav1.GetOptions{}); err == nil {
		t.Error("the CA was published into a terminating namespace")
	}

	edited, err := cms("default").Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edited.Data[Key] = "not the CA"
	if _, err := cms("default").Update(ctx, edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "an edited copy repaired", published("default"))

	if err := cms("demo").Delete(ctx, Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a deleted copy recreated", published("demo"))
}
