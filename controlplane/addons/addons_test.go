package addons

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/pki"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	subnet := config.NetworkFor(mustPrefix(t, "10.200.0.0/20"))
	return Config{Image: "kindlike/node:test", APIServer: "https://demo-control-plane:6443", CA: ca, CACert: ca.CertPEM, Network: subnet}
}

func TestEnsureCreatesWhatKubeadmHas(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	cfg := testConfig(t)
	if err := Ensure(ctx, client, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	ds, err := client.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.Containers[0].Image != cfg.Image || spec.Containers[0].ReadinessProbe == nil {
		t.Errorf("kube-proxy pod spec: hostNetwork %v, image %q, readiness %v", spec.HostNetwork, spec.Containers[0].Image, spec.Containers[0].ReadinessProbe)
	}
	svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.96.0.10" {
		t.Fatalf("kube-dns: %v %+v", err, svc)
	}
	dep, err := client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 {
		t.Fatalf("coredns: %v", err)
	}
	for _, name := range []string{"kube-proxy", "coredns"} {
		s, err := client.CoreV1().Secrets("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kc, err := clientcmd.Load(s.Data["kubeconfig"])
		if err != nil {
			t.Fatalf("%s kubeconfig: %v", name, err)
		}
		if kc.Clusters["kindlike"].Server != cfg.APIServer {
			t.Errorf("%s kubeconfig server %q", name, kc.Clusters["kindlike"].Server)
		}
	}

	// A user's scale of CoreDNS is kept; a changed recipe is put back.
	three := int32(3)
	dep.Spec.Replicas = &three
	if _, err := client.AppsV1().Deployments("kube-system").Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ds.Spec.Template.Spec.Containers[0].Image = "someone/else"
	ds.Annotations[hashAnnotation] = "stale"
	if _, err := client.AppsV1().DaemonSets("kube-system").Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ctx, client, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	dep, _ = client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	ds, _ = client.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if *dep.Spec.Replicas != 3 {
		t.Errorf("coredns replicas after Ensure: %d, want the user's 3", *dep.Spec.Replicas)
	}
	if img := ds.Spec.Template.Spec.Containers[0].Image; img != cfg.Image {
		t.Errorf("kube-proxy image after Ensure: %q, want %q", img, cfg.Image)
	}
}

func TestEnsureWithoutImageDoesNothing(t *testing.T) {
	client := fake.NewClientset()
	if err := Ensure(context.Background(), client, Config{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if len(client.Actions()) != 0 {
		t.Errorf("actions without an image: %v", client.Actions())
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
