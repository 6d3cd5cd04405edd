package serviceaccount

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kindlike/kindlike/controlplane/controllers/internal/controllertest"
)

func namespace(name string, terminating bool) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if terminating {
		ns.DeletionTimestamp = &metav1.Time{}
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	return ns
}

// Every active namespace has a default ServiceAccount, made again when deleted; one
// that exists is left as it is, and a namespace on its way out gets none.
func TestDefaultInEveryNamespace(t *testing.T) {
	own := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Default, Namespace: "default", Labels: map[string]string{"edited": "by-hand"}}}
	client := fake.NewSimpleClientset(namespace("default", false), namespace("demo", false), namespace("going", true), own)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// One worker: the queue is first in, first out, so a namespace queued later is
	// synced later.
	controllertest.Start(t, client, factory, func(ctx context.Context) { c.Run(ctx, 1) })
	ctx := context.Background()
	accounts := client.CoreV1().ServiceAccounts
	exists := func(ns string) func() bool {
		return func() bool {
			_, err := accounts(ns).Get(ctx, Default, metav1.GetOptions{})
			return err == nil
		}
	}
	controllertest.Eventually(t, "a default ServiceAccount in demo", exists("demo"))

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("later", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a default ServiceAccount in a new namespace", exists("later"))
	// "default" and "going" were queued at the start, before "later": both were synced.
	if exists("going")() {
		t.Error("a ServiceAccount was made in a terminating namespace")
	}
	if sa, err := accounts("default").Get(ctx, Default, metav1.GetOptions{}); err != nil || sa.Labels["edited"] != "by-hand" {
		t.Errorf("the existing default ServiceAccount was replaced: %v, %v", sa, err)
	}

	if err := accounts("demo").Delete(ctx, Default, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a deleted default ServiceAccount made again", exists("demo"))
}
