package endpoint

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/servicepods"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pod is a pod of app web on node, with IP ip, ready or not, naming its container port
// "web".
func pod(name, node, ip string, ready bool, webPort int32) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"},
			CreationTimestamp: metav1.NewTime(t0)},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "web", ContainerPort: webPort, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))}}},
	}
}

func webService(edit ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"tier": "front"}, CreationTimestamp: metav1.NewTime(t0)},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.5.5",
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	for _, e := range edit {
		e(svc)
	}
	return svc
}

type fixture struct {
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Core().V1().Services(), factory.Core().V1().Pods(), factory.Core().V1().Endpoints(),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return t0.Add(time.Hour) }
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			_ = factory.Core().V1().Services().Informer().GetStore().Add(o)
		case *corev1.Pod:
			_ = factory.Core().V1().Pods().Informer().GetStore().Add(o)
		case *corev1.Endpoints:
			_ = factory.Core().V1().Endpoints().Informer().GetStore().Add(o)
		}
	}
	return &fixture{c: c, client: client, factory: factory}
}

// store is the informer store of objects of obj's kind.
func (f *fixture) store(obj runtime.Object) interface {
	Update(any) error
	Delete(any) error
} {
	switch obj.(type) {
	case *corev1.Service:
		return f.factory.Core().V1().Services().Informer().GetStore()
	case *corev1.Endpoints:
		return f.factory.Core().V1().Endpoints().Informer().GetStore()
	}
	return f.factory.Core().V1().Pods().Informer().GetStore()
}

func (f *fixture) sync(t *testing.T, key string) *corev1.Endpoints {
	t.Helper()
	if err := f.c.sync(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	ns, name := "default", key[len("default/"):]
	ep, err := f.client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// What an informer would show the controller next.
	if err := f.store(ep).Update(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func addr(p *corev1.Pod) corev1.EndpointAddress {
	a := corev1.EndpointAddress{IP: p.Status.PodIP, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
	if p.Spec.NodeName != "" {
		a.NodeName = ptr.To(p.Spec.NodeName)
	}
	return a
}

func TestEndpointsOfPods(t *testing.T) {
	a := pod("a", "n1", "10.244.1.5", true, 8080)
	b := pod("b", "n2", "10.244.2.7", true, 9090) // its "web" port has another number
	c := pod("c", "n1", "10.244.1.9", false, 8080)
	dying := pod("dying", "n2", "10.244.2.8", true, 8080)
	dying.DeletionTimestamp = &metav1.Time{Time: t0.Add(2 * time.Minute)}
	done := pod("done", "n1", "10.244.1.10", false, 8080)
	done.Status.Phase = corev1.PodSucceeded
	noIP := pod("no-ip", "", "", false, 8080)
	other := pod("other", "n1", "10.244.1.11", true, 8080)
	other.Labels = map[string]string{"app": "other"}
	f := newFixture(t, webService(), a, b, c, dying, done, noIP, other)

	ep := f.sync(t, "default/web")
	ports := func(web int32) []corev1.EndpointPort {
		return []corev1.EndpointPort{{Name: "http", Port: web, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}}
	}
	want := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr(a)}, NotReadyAddresses: []corev1.EndpointAddress{addr(c)}, Ports: ports(8080)},
		{Addresses: []corev1.EndpointAddress{addr(b)}, Ports: ports(9090)},
	}
	if diff := cmp.Diff(want, ep.Subsets); diff != "" {
		t.Errorf("subsets (-want +got):\n%s", diff)
	}
	if ep.Labels["tier"] != "front" {
		t.Errorf("labels %v: the Service's labels are copied", ep.Labels)
	}
	if _, headless := ep.Labels[corev1.IsHeadlessService]; headless {
		t.Errorf("a Service with a cluster IP labelled headless: %v", ep.Labels)
	}
	// The trigger time is the earliest change not yet reflected: the Service's creation.
	if got := ep.Annotations[servicepods.TriggerTimeAnnotation]; got != servicepods.Format(f.c.now()) {
		t.Errorf("trigger time %q without observed changes, want the sync's time %q", got, servicepods.Format(f.c.now()))
	}

	// A pod's readiness flips: the next write records when.
	flip := c.DeepCopy()
	flip.ResourceVersion = "2"
	flip.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(30 * time.Minute))}
	if err := f.store(flip).Update(flip); err != nil {
		t.Fatal(err)
	}
	f.c.podChanged(c, flip)
	ep = f.sync(t, "default/web")
	if len(ep.Subsets[0].Addresses) != 2 || len(ep.Subsets[0].NotReadyAddresses) != 0 {
		t.Errorf("after c became ready: %+v", ep.Subsets)
	}
	if got, want := ep.Annotations[servicepods.TriggerTimeAnnotation], servicepods.Format(t0.Add(30*time.Minute)); got != want {
		t.Errorf("trigger time %q, want the readiness change at %q", got, want)
	}
}

func TestPublishNotReadyAndHeadless(t *testing.T) {
	a := pod("a", "n1", "10.244.1.5", true, 8080)
	c := pod("c", "n1", "10.244.1.9", false, 8080)
	dying := pod("dying", "n2", "10.244.2.8", true, 8080)
	dying.DeletionTimestamp = &metav1.Time{Time: t0.Add(2 * time.Minute)}
	sts := pod("web-0", "n2", "10.244.2.3", true, 8080)
	sts.Spec.Hostname, sts.Spec.Subdomain = "web-0", "web"
	svc := webService(func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.PublishNotReadyAddresses = true
		s.Spec.Ports = nil
	})
	f := newFixture(t, svc, a, c, dying, sts)
	ep := f.sync(t, "default/web")
	named := addr(sts)
	named.Hostname = "web-0"
	want := []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a), addr(c), named, addr(dying)}}}
	if diff := cmp.Diff(want, ep.Subsets); diff != "" {
		t.Errorf("headless, publishNotReadyAddresses (-want +got):\n%s", diff)
	}
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless Service's endpoints lack %s: %v", corev1.IsHeadlessService, ep.Labels)
	}
}

func TestLeftAlone(t *testing.T) {
	user := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 3306}}}}}
	noSelector := webService(func(s *corev1.Service) { s.Name = "external"; s.Spec.Selector = nil })
	extName := webService(func(s *corev1.Service) {
		s.Name = "ext"
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "example.com"
		s.Spec.ClusterIP = ""
	})
	f := newFixture(t, noSelector, extName, user, pod("a", "n1", "10.244.1.5", true, 8080))
	if ep := f.sync(t, "default/external"); ep == nil || cmp.Diff(user.Subsets, ep.Subsets) != "" {
		t.Errorf("the user's endpoints of a Service without selector were changed: %+v", ep)
	}
	if ep := f.sync(t, "default/ext"); ep != nil {
		t.Errorf("an ExternalName Service got endpoints: %+v", ep)
	}
}

func TestServiceDeletedTakesItsEndpoints(t *testing.T) {
	svc := webService()
	f := newFixture(t, svc, pod("a", "n1", "10.244.1.5", true, 8080))
	if ep := f.sync(t, "default/web"); ep == nil {
		t.Fatal("no endpoints")
	}
	if err := f.store(svc).Delete(svc); err != nil {
		t.Fatal(err)
	}
	if ep := f.sync(t, "default/web"); ep != nil {
		t.Errorf("endpoints of a deleted Service kept: %+v", ep)
	}
}

func TestTruncate(t *testing.T) {
	addrs := func(n int) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, n)
		for i := range out {
			out[i] = corev1.EndpointAddress{IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)}
		}
		return out
	}
	tests := []struct {
		name                  string
		ready, notReady       []int // per subset
		wantReady, wantNotRdy []int
	}{
		{"fits", []int{500, 400}, []int{100, 0}, []int{500, 400}, []int{100, 0}},
		{"not ready trimmed", []int{600, 300}, []int{150, 50}, []int{600, 300}, []int{75, 25}},
		{"ready trimmed by share", []int{900, 300}, []int{10, 10}, []int{750, 250}, []int{0, 0}},
	}
	for _, tt := range tests {
		var subsets []corev1.EndpointSubset
		for i := range tt.ready {
			subsets = append(subsets, corev1.EndpointSubset{Addresses: addrs(tt.ready[i]), NotReadyAddresses: addrs(tt.notReady[i])})
		}
		truncated := truncate(subsets, MaxAddresses)
		total := 0
		for i, ss := range subsets {
			total += len(ss.Addresses) + len(ss.NotReadyAddresses)
			if len(ss.Addresses) != tt.wantReady[i] || len(ss.NotReadyAddresses) != tt.wantNotRdy[i] {
				t.Errorf("%s: subset %d keeps %d ready, %d not ready; want %d, %d", tt.name, i, len(ss.Addresses), len(ss.NotReadyAddresses), tt.wantReady[i], tt.wantNotRdy[i])
			}
		}
		if total > MaxAddresses || truncated != (tt.name != "fits") {
			t.Errorf("%s: %d addresses left, truncated %v", tt.name, total, truncated)
		}
	}
}
