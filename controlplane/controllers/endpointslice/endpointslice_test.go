package endpointslice

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

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
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func webService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.5.5",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

type fixture struct {
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	names   int
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Core().V1().Services(), factory.Core().V1().Pods(), factory.Core().V1().Nodes(),
		factory.Discovery().V1().EndpointSlices(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{c: c, client: client, factory: factory}
	// The fake client does not generate names nor count revisions; the API server does.
	client.PrependReactor("create", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		es := a.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if es.Name == "" {
			f.names++
			es.Name = fmt.Sprintf("%s%05d", es.GenerateName, f.names)
		}
		es.ResourceVersion = fmt.Sprint(f.names*10 + 1)
		return false, nil, nil
	})
	client.PrependReactor("update", "endpointslices", func(a clienttesting.Action) (bool, runtime.Object, error) {
		es := a.(clienttesting.UpdateAction).GetObject().(*discoveryv1.EndpointSlice)
		f.names++
		es.ResourceVersion = fmt.Sprint(f.names*10 + 2)
		return false, nil, nil
	})
	for _, o := range objs {
		if err := f.store(o).Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) store(obj runtime.Object) cache.Store {
	switch obj.(type) {
	case *corev1.Service:
		return f.factory.Core().V1().Services().Informer().GetStore()
	case *corev1.Node:
		return f.factory.Core().V1().Nodes().Informer().GetStore()
	case *discoveryv1.EndpointSlice:
		return f.factory.Discovery().V1().EndpointSlices().Informer().GetStore()
	}
	return f.factory.Core().V1().Pods().Informer().GetStore()
}

// sync runs one sync and shows the controller's cache the slices as they are now, as
// its informer would; it returns them and how many writes the sync made.
func (f *fixture) sync(t *testing.T) ([]discoveryv1.EndpointSlice, int) {
	t.Helper()
	before := len(f.client.Actions())
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	writes := 0
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			writes++
		}
	}
	list, err := f.client.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := f.factory.Discovery().V1().EndpointSlices().Informer().GetStore()
	var objs []any
	for i := range list.Items {
		objs = append(objs, &list.Items[i])
	}
	if err := st.Replace(objs, ""); err != nil {
		t.Fatal(err)
	}
	return list.Items, writes
}

func byPod(slices []discoveryv1.EndpointSlice) map[string]discoveryv1.Endpoint {
	out := map[string]discoveryv1.Endpoint{}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			out[ep.TargetRef.Name] = ep
		}
	}
	return out
}

func TestSlicesOfPods(t *testing.T) {
	a := pod("a", "n1", "10.244.1.5", true, 8080)
	b := pod("b", "n2", "10.244.2.7", true, 9090)
	c := pod("c", "n1", "10.244.1.9", false, 8080)
	dying := pod("dying", "n2", "10.244.2.8", true, 8080)
	dying.DeletionTimestamp = &metav1.Time{Time: t0}
	done := pod("done", "n1", "10.244.1.10", false, 8080)
	done.Status.Phase = corev1.PodFailed
	zoned := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{corev1.LabelTopologyZone: "zone-b"}}}
	plain := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	f := newFixture(t, webService(), a, b, c, dying, done, zoned, plain)

	slices, writes := f.sync(t)
	if len(slices) != 2 || writes != 2 {
		t.Fatalf("%d slices in %d writes, want 2 (pods whose \"web\" port is 8080, and the one where it is 9090)", len(slices), writes)
	}
	for _, es := range slices {
		if es.AddressType != discoveryv1.AddressTypeIPv4 || es.Labels[discoveryv1.LabelServiceName] != "web" ||
			es.Labels[discoveryv1.LabelManagedBy] != ControllerName || es.Labels["tier"] != "front" ||
			len(es.OwnerReferences) != 1 || es.OwnerReferences[0].UID != "svc-uid" || !ptr.Deref(es.OwnerReferences[0].Controller, false) {
			t.Errorf("slice %s: type %s, labels %v, owners %v", es.Name, es.AddressType, es.Labels, es.OwnerReferences)
		}
		if _, ok := es.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
			t.Errorf("slice %s has no trigger time", es.Name)
		}
		want := int32(8080)
		if len(es.Endpoints) == 1 {
			want = 9090
		}
		if len(es.Ports) != 1 || *es.Ports[0].Port != want || *es.Ports[0].Name != "http" || *es.Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("slice %s ports %+v, want http %d/TCP", es.Name, es.Ports, want)
		}
	}
	eps := byPod(slices)
	conds := func(name string) [3]bool {
		c := eps[name].Conditions
		return [3]bool{ptr.Deref(c.Ready, false), ptr.Deref(c.Serving, false), ptr.Deref(c.Terminating, false)}
	}
	for name, want := range map[string][3]bool{"a": {true, true, false}, "b": {true, true, false}, "c": {false, false, false}, "dying": {false, true, true}} {
		if got := conds(name); got != want {
			t.Errorf("%s: ready, serving, terminating = %v, want %v", name, got, want)
		}
	}
	if _, ok := eps["done"]; ok || len(eps) != 4 {
		t.Errorf("endpoints %v: want a, b, c, dying (a failed pod is none)", eps)
	}
	if ep := eps["b"]; ptr.Deref(ep.Zone, "") != "zone-b" || ptr.Deref(ep.NodeName, "") != "n2" {
		t.Errorf("b: zone %v node %v", ep.Zone, ep.NodeName)
	}
	if ep := eps["a"]; ep.Zone != nil || ptr.Deref(ep.NodeName, "") != "n1" {
		t.Errorf("a: zone %v (its node has none) node %v", ep.Zone, ep.NodeName)
	}

	// Nothing changed: nothing written.
	if _, writes := f.sync(t); writes != 0 {
		t.Errorf("a sync with nothing changed made %d writes", writes)
	}
}

func TestManyPodsAndPlaceholder(t *testing.T) {
	f := newFixture(t, webService())
	slices, _ := f.sync(t)
	if len(slices) != 1 || len(slices[0].Endpoints) != 0 || len(slices[0].Ports) != 0 {
		t.Fatalf("a Service without pods: %+v, want one empty slice", slices)
	}
	placeholder := slices[0].Name
	var pods []*corev1.Pod
	for i := range 250 {
		p := pod(fmt.Sprintf("p%03d", i), "n1", fmt.Sprintf("10.244.%d.%d", i/200, i%200+2), true, 8080)
		pods = append(pods, p)
		_ = f.store(p).Add(p)
	}
	slices, _ = f.sync(t)
	sizes := map[int]int{}
	for _, es := range slices {
		sizes[len(es.Endpoints)]++
		if es.Name == placeholder {
			t.Errorf("the placeholder outlived the first endpoints")
		}
	}
	if len(slices) != 3 || sizes[100] != 2 || sizes[50] != 1 {
		t.Fatalf("250 pods in %d slices of sizes %v, want 100, 100, 50", len(slices), sizes)
	}
	home := map[string]string{}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			home[ep.TargetRef.Name] = es.Name
		}
	}
	// 60 pods go, 20 come: the pods that stay stay where they are, the new ones fill
	// the room, and no slice is made.
	for _, p := range pods[:60] {
		_ = f.store(p).Delete(p)
	}
	for i := range 20 {
		p := pod(fmt.Sprintf("q%03d", i), "n1", fmt.Sprintf("10.244.9.%d", i+2), true, 8080)
		_ = f.store(p).Add(p)
	}
	slices, _ = f.sync(t)
	total := 0
	for _, es := range slices {
		total += len(es.Endpoints)
		for _, ep := range es.Endpoints {
			if h, ok := home[ep.TargetRef.Name]; ok && h != es.Name {
				t.Errorf("%s moved from %s to %s", ep.TargetRef.Name, h, es.Name)
			}
		}
	}
	if len(slices) != 3 || total != 210 {
		t.Errorf("%d slices holding %d endpoints, want 3 holding 210", len(slices), total)
	}
	// Every pod gone: back to one empty slice.
	for _, p := range pods[60:] {
		_ = f.store(p).Delete(p)
	}
	for i := range 20 {
		_ = f.store(&corev1.Pod{}).Delete(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("q%03d", i), Namespace: "default"}})
	}
	if slices, _ = f.sync(t); len(slices) != 1 || len(slices[0].Endpoints) != 0 {
		t.Errorf("no pods left: %d slices, want one empty", len(slices))
	}
}

// TestStaleCacheMakesNoSecondSlice: a sync that runs before the cache shows the
// slice the last one made waits instead of making another.
func TestStaleCacheMakesNoSecondSlice(t *testing.T) {
	f := newFixture(t, webService(), pod("a", "n1", "10.244.1.5", true, 8080))
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	list, _ := f.client.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Fatalf("%d slices after two syncs on a stale cache, want 1", len(list.Items))
	}
	if f.c.queue.Len() != 0 {
		t.Fatalf("queue holds %d at once; the retry comes later", f.c.queue.Len())
	}
}
