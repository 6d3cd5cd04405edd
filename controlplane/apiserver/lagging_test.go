package apiserver

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kindlike/kindlike/controlplane/store"
)

// laggingMember is a control plane whose own state has not caught up yet: its local
// reads miss every object, while linearizable reads (through the leader) see them.
// Behind a load balancer a client meets such a member right after writing through
// another.
type laggingMember struct{ Storage }

func (m laggingMember) Get(ctx context.Context, key string, consistent bool) (store.Entry, error) {
	if !consistent {
		return store.Entry{}, store.ErrNotFound
	}
	return m.Storage.Get(ctx, key, consistent)
}

// TestWritesOnALaggingMember: objects just created elsewhere can be written to at once
// (create in a new namespace, patch, update, delete) instead of being reported missing
// by a member that has not applied them yet.
func TestWritesOnALaggingMember(t *testing.T) {
	ts := newTestServerOver(t, func(st Storage) Storage { return laggingMember{st} })
	ctx := context.Background()
	c := ts.client.CoreV1()
	if _, err := c.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfigMaps("fresh").Create(ctx, cm("settings", nil), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in a namespace this member has not applied: %v", err)
	}
	patched, err := c.ConfigMaps("fresh").Patch(ctx, "settings", types.MergePatchType, []byte(`{"data":{"k":"patched"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if patched.Data["k"] != "patched" {
		t.Errorf("patched data = %v", patched.Data)
	}
	patched.Data["k"] = "updated"
	if _, err := c.ConfigMaps("fresh").Update(ctx, patched, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := c.ConfigMaps("fresh").Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := c.ConfigMaps("fresh").Delete(ctx, "settings", metav1.DeleteOptions{}); err == nil {
		t.Error("deleting it again succeeded, want NotFound")
	}
}
