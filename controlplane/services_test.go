package controlplane_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/internal/testcluster"
)

// startClusterWith is startCluster with options.
func startClusterWith(t *testing.T, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts.Dir = t.TempDir()
	c, err := testcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, m := range c.Members {
				if b, err := os.ReadFile(m.LogPath); err == nil {
					t.Logf("log of %s:\n%s", m.Name, tail(string(b), 60))
				}
			}
		}
	})
	return c
}

// waitFor polls cond every 200 ms until it returns nil, or fails the test with its last
// error after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func nodePortService(name string, edit ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, e := range edit {
		e(svc)
	}
	return svc
}

// allocations checks that no two Services listed through client share a cluster IP or a
// node port, and returns what they hold.
func allocations(ctx context.Context, t *testing.T, client kubernetes.Interface) (map[string]string, map[int32]string) {
	t.Helper()
	list, err := client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]string{}, map[int32]string{}
	for _, svc := range list.Items {
		if prev, ok := ips[svc.Spec.ClusterIP]; ok {
			t.Errorf("%s and %s share %s", prev, svc.Name, svc.Spec.ClusterIP)
		}
		ips[svc.Spec.ClusterIP] = svc.Name
		for _, p := range svc.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if prev, ok := ports[p.NodePort]; ok {
				t.Errorf("%s and %s share node port %d", prev, svc.Name, p.NodePort)
			}
			ports[p.NodePort] = svc.Name
		}
	}
	return ips, ports
}

// TestServiceAllocationAcrossMembersAndFailover: Services created at once through every
// member never share an address or node port; taken and out-of-range requests get
// kube-apiserver's messages; what Services hold survives the leader's death and a
// member's restart, and is free again once they are deleted.
func TestServiceAllocationAcrossMembersAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	cs := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cs[i%3].CoreV1().Services("default").Create(ctx, nodePortService(fmt.Sprintf("s%02d", i)), metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create s%02d: %v", i, err)
		}
	}
	ips, ports := allocations(ctx, t, cs[1])
	if len(ips) != n+1 || len(ports) != n { // and the kubernetes Service
		t.Fatalf("%d addresses and %d node ports for %d Services", len(ips), len(ports), n)
	}
	held, err := cs[0].CoreV1().Services("default").Get(ctx, "s07", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	heldIP, heldPort := held.Spec.ClusterIP, held.Spec.Ports[0].NodePort

	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % 3
	refused := func(client kubernetes.Interface, svc *corev1.Service, want string) {
		t.Helper()
		_, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || err.Error() != want {
			t.Errorf("create %s: %v\nwant 422 %s", svc.Name, err, want)
		}
	}
	refused(cs[follower], nodePortService("taken-ip", func(s *corev1.Service) { s.Spec.ClusterIP = heldIP }),
		fmt.Sprintf(`Service "taken-ip" is invalid: spec.clusterIPs: Invalid value: []string{%q}: failed to allocate IP %s: provided IP is already allocated`, heldIP, heldIP))
	refused(cs[follower], nodePortService("taken-port", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = heldPort }),
		fmt.Sprintf(`Service "taken-port" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, heldPort))
	refused(cs[follower], nodePortService("outside", func(s *corev1.Service) { s.Spec.ClusterIP = "10.200.0.1" }),
		`Service "outside" is invalid: spec.clusterIPs: Invalid value: []string{"10.200.0.1"}: failed to allocate IP 10.200.0.1: the provided IP (10.200.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12`)

	// The leader dies: the survivors still know every claim.
	c.Members[leader].Kill()
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	refused(cs[follower], nodePortService("taken-after-kill", func(s *corev1.Service) { s.Spec.ClusterIP = heldIP }),
		fmt.Sprintf(`Service "taken-after-kill" is invalid: spec.clusterIPs: Invalid value: []string{%q}: failed to allocate IP %s: provided IP is already allocated`, heldIP, heldIP))
	// Deleted Services free theirs; a new Service may ask for them.
	if err := cs[follower].CoreV1().Services("default").Delete(ctx, "s07", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := cs[follower].CoreV1().Services("default").Create(ctx, nodePortService("reuse", func(s *corev1.Service) {
		s.Spec.ClusterIP = heldIP
		s.Spec.Ports[0].NodePort = heldPort
	}), metav1.CreateOptions{})
	if err != nil || again.Spec.ClusterIP != heldIP || again.Spec.Ports[0].NodePort != heldPort {
		t.Fatalf("reusing %s and %d after delete: %v", heldIP, heldPort, err)
	}
	for i := range 10 {
		if _, err := cs[follower].CoreV1().Services("default").Create(ctx, nodePortService(fmt.Sprintf("after%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The dead member comes back with the same view.
	if err := c.Members[leader].Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ips, ports = allocations(ctx, t, cs[leader])
	if len(ips) != n+11 || len(ports) != n+10 {
		t.Errorf("after the restart: %d addresses and %d node ports, want %d and %d", len(ips), len(ports), n+11, n+10)
	}
	refused(cs[leader], nodePortService("taken-after-restart", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = heldPort }),
		fmt.Sprintf(`Service "taken-after-restart" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, heldPort))
}

// endpointAddresses are the addresses of the kubernetes Service's Endpoints and of its
// EndpointSlice, each sorted.
func kubernetesEndpoints(ctx context.Context, client kubernetes.Interface) ([]string, []string, error) {
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	es, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	var a, b []string
	for _, ss := range ep.Subsets {
		for _, addr := range ss.Addresses {
			a = append(a, addr.IP)
		}
	}
	for _, e := range es.Endpoints {
		if ptr.Deref(e.Conditions.Ready, false) {
			b = append(b, e.Addresses...)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	return a, b, nil
}

// TestKubernetesServiceFollowsControlPlanes: the kubernetes Service reaches every live
// control plane; one that dies drops out when its lease expires, one that stops drops
// out at once, and each comes back when it does.
func TestKubernetesServiceFollowsControlPlanes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	cs := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all := []string{testcluster.AdvertiseAddress(0), testcluster.AdvertiseAddress(1), testcluster.AdvertiseAddress(2)}
	expect := func(client kubernetes.Interface, want []string, timeout time.Duration, what string) {
		t.Helper()
		waitFor(t, timeout, what, func() error {
			a, b, err := kubernetesEndpoints(ctx, client)
			if err != nil {
				return err
			}
			if !slices.Equal(a, want) || !slices.Equal(b, want) {
				return fmt.Errorf("endpoints %v, endpointslice %v; want %v", a, b, want)
			}
			return nil
		})
	}
	waitFor(t, 20*time.Second, "the kubernetes Service", func() error {
		svc, err := cs[0].CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].Name != "https" ||
			svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Selector) != 0 {
			return fmt.Errorf("kubernetes Service %+v", svc.Spec)
		}
		return nil
	})
	expect(cs[0], all, 20*time.Second, "every control plane listed")
	ep, err := cs[0].CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || ep.Labels[discoveryv1.LabelSkipMirror] != "true" || len(ep.Subsets) != 1 || ep.Subsets[0].Ports[0].Name != "https" {
		t.Errorf("kubernetes Endpoints %+v, %v", ep, err)
	}

	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dead, stopped := (leader+1)%3, (leader+2)%3
	without := func(i ...int) []string {
		var out []string
		for j, a := range all {
			if !slices.Contains(i, j) {
				out = append(out, a)
			}
		}
		return out
	}
	// Killed: gone once its lease expires (8 s with the demo timings).
	killed := time.Now()
	c.Members[dead].Kill()
	expect(cs[leader], without(dead), 20*time.Second, "a killed control plane dropped")
	t.Logf("a killed member left the kubernetes endpoints after %v", time.Since(killed).Round(100*time.Millisecond))
	if err := c.Members[dead].Start(); err != nil {
		t.Fatal(err)
	}
	expect(cs[leader], all, 20*time.Second, "a restarted control plane listed again")

	// Stopped on purpose: gone at once, well before its lease would expire.
	c.Members[stopped].Stop()
	expect(cs[leader], without(stopped), 4*time.Second, "a stopped control plane dropped")
	if err := c.Members[stopped].Start(); err != nil {
		t.Fatal(err)
	}
	expect(cs[leader], all, 20*time.Second, "a restarted control plane listed again")

	// The leader dies: its successor drops it when its lease expires.
	c.Members[leader].Kill()
	next, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expect(cs[next], without(leader), 25*time.Second, "the dead leader dropped by its successor")
}

// labelledPod is a pod of app on node whose container names port "http" as port.
func labelledPod(name, app, node string, port int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "nginx",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}},
	}
}

type endpointState struct {
	ready, notReady []string // pod:port
	slices          map[string][3]bool
}

// endpointsOf summarizes a Service's Endpoints (pod:port, ready and not) and its slices
// (pod → ready, serving, terminating).
func endpointsOf(ctx context.Context, client kubernetes.Interface, name string) (endpointState, error) {
	var st endpointState
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return st, err
	}
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				st.ready = append(st.ready, fmt.Sprintf("%s:%d", a.TargetRef.Name, p.Port))
			}
			for _, a := range ss.NotReadyAddresses {
				st.notReady = append(st.notReady, fmt.Sprintf("%s:%d", a.TargetRef.Name, p.Port))
			}
		}
	}
	slices.Sort(st.ready)
	slices.Sort(st.notReady)
	list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return st, err
	}
	st.slices = map[string][3]bool{}
	for _, es := range list.Items {
		for _, e := range es.Endpoints {
			st.slices[e.TargetRef.Name] = [3]bool{ptr.Deref(e.Conditions.Ready, false), ptr.Deref(e.Conditions.Serving, false), ptr.Deref(e.Conditions.Terminating, false)}
		}
	}
	return st, nil
}

// TestEndpointsFollowPods: Endpoints and EndpointSlices list a Service's pods as they
// start, become ready, terminate, and lose their node, with named ports resolved per pod.
func TestEndpointsFollowPods(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	fk := startFakeKubelet(t, client, "w1", "w2")
	fk.Outcome = func(p *corev1.Pod) corev1.PodPhase {
		if strings.HasPrefix(p.Name, "slow") {
			return corev1.PodPending // has an address, never ready
		}
		return corev1.PodRunning
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods := client.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{
		labelledPod("a", "web", "w1", 8080), labelledPod("b", "web", "w2", 9090), labelledPod("slow", "web", "w1", 8080),
		labelledPod("c", "web", "w2", 8080),
	} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svcs := client.CoreV1().Services("default")
	if _, err := svcs.Create(ctx, nodePortService("web", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web"} }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, nodePortService("web-all", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Selector = map[string]string{"app": "web"}
		s.Spec.PublishNotReadyAddresses = true
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect := func(name string, timeout time.Duration, what string, check func(endpointState) error) {
		t.Helper()
		waitFor(t, timeout, what, func() error {
			st, err := endpointsOf(ctx, client, name)
			if err != nil {
				return err
			}
			return check(st)
		})
	}
	same := func(got, want []string) error {
		if !slices.Equal(got, want) {
			return fmt.Errorf("%v, want %v", got, want)
		}
		return nil
	}
	expect("web", 20*time.Second, "endpoints of running pods", func(st endpointState) error {
		if err := same(st.ready, []string{"a:8080", "b:9090", "c:8080"}); err != nil {
			return fmt.Errorf("ready %w", err)
		}
		if err := same(st.notReady, []string{"slow:8080"}); err != nil {
			return fmt.Errorf("not ready %w", err)
		}
		if want := map[string][3]bool{"a": {true, true, false}, "b": {true, true, false}, "c": {true, true, false}, "slow": {false, false, false}}; !mapsEqual(st.slices, want) {
			return fmt.Errorf("slices %v, want %v", st.slices, want)
		}
		return nil
	})
	expect("web-all", 20*time.Second, "publishNotReadyAddresses", func(st endpointState) error {
		return same(st.ready, []string{"a:8080", "b:9090", "c:8080", "slow:8080"})
	})
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("last-change-trigger-time %q: %v", ep.Annotations[corev1.EndpointsLastChangeTriggerTime], err)
	}
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			if a.NodeName == nil || (*a.NodeName != "w1" && *a.NodeName != "w2") {
				t.Errorf("address %s without its node", a.IP)
			}
		}
	}

	// w2 goes silent: its pods' deletion waits for it, so c terminates for good;
	// Endpoints drop it, slices show it terminating.
	fk.Stop("w2")
	if err := pods.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("web", 20*time.Second, "a terminating pod", func(st endpointState) error {
		if err := same(st.ready, []string{"a:8080", "b:9090"}); err != nil {
			return fmt.Errorf("ready %w", err)
		}
		if s := st.slices["c"]; s[0] || !s[2] {
			return fmt.Errorf("c in slices as ready, serving, terminating = %v", s)
		}
		return nil
	})
	// Once w2 is found lost, its pods are marked not ready: b moves to notReadyAddresses.
	expect("web", 40*time.Second, "pods of a lost node", func(st endpointState) error {
		if err := same(st.ready, []string{"a:8080"}); err != nil {
			return fmt.Errorf("ready %w", err)
		}
		if err := same(st.notReady, []string{"b:9090", "slow:8080"}); err != nil {
			return fmt.Errorf("not ready %w", err)
		}
		if s := st.slices["b"]; s[0] || s[1] || s[2] {
			return fmt.Errorf("b in slices as ready, serving, terminating = %v", s)
		}
		return nil
	})

	// A Service without selector keeps the endpoints its user writes; an ExternalName
	// one gets none; a deleted one loses its own.
	if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 3306}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	userEP := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.50"}}, Ports: []corev1.EndpointPort{{Port: 3306}}}}}
	if _, err := client.CoreV1().Endpoints("default").Create(ctx, userEP, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", Selector: map[string]string{"app": "web"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx, "web-all", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the deleted Service's endpoints gone", func() error {
		if _, err := client.CoreV1().Endpoints("default").Get(ctx, "web-all", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpoints: %v", err)
		}
		list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web-all"})
		if err != nil || len(list.Items) != 0 {
			return fmt.Errorf("%d slices left, %v", len(list.Items), err)
		}
		return nil
	})
	// By now the controllers have seen both new Services long since.
	got, err := client.CoreV1().Endpoints("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.50" {
		t.Errorf("the user's endpoints of db: %+v, %v", got, err)
	}
	if _, err := client.CoreV1().Endpoints("default").Get(ctx, "ext", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an ExternalName Service got Endpoints: %v", err)
	}
	if list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=ext"}); err != nil || len(list.Items) != 0 {
		t.Errorf("an ExternalName Service has %d EndpointSlices (%v), want none", len(list.Items), err)
	}
	// The user's Endpoints are mirrored into a slice, for kube-proxy and DNS.
	waitFor(t, 20*time.Second, "the user's endpoints mirrored", func() error {
		list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=db"})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("%d slices for db, want 1", len(list.Items))
		}
		es := list.Items[0]
		if es.Labels[discoveryv1.LabelManagedBy] != "endpointslicemirroring-controller.k8s.io" || len(es.Endpoints) != 1 ||
			es.Endpoints[0].Addresses[0] != "192.0.2.50" || !ptr.Deref(es.Endpoints[0].Conditions.Ready, false) ||
			len(es.Ports) != 1 || ptr.Deref(es.Ports[0].Port, 0) != 3306 {
			return fmt.Errorf("mirrored slice %+v", es)
		}
		return nil
	})
}

func mapsEqual(a, b map[string][3]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLoadBalancerServices: LoadBalancer Services get addresses from the cluster's
// LoadBalancer range and a Ready node announcing each; the node moves when it is lost,
// addresses are released and reused, and a new leader keeps them.
func TestLoadBalancerServices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	// 172.30.0.0/16: LoadBalancer addresses are 172.30.127.0/24, as create cluster plans.
	c := startClusterWith(t, testcluster.Options{ExtraArgs: []string{"--cluster-subnet", "172.30.0.0/16"}})
	cs := clients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := cs[(leader+1)%3] // survives the leader's death below
	fk := startFakeKubelet(t, client, "w1", "w2", "w3")
	svcs := client.CoreV1().Services("default")
	lb := func(name string, edit ...func(*corev1.Service)) {
		t.Helper()
		svc := nodePortService(name, append([]func(*corev1.Service){func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }}, edit...)...)
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pool := netip.MustParsePrefix("172.30.127.0/24")
	type assigned struct{ ip, node string }
	assignment := func(name string) (assigned, error) {
		svc, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return assigned{}, err
		}
		ing := svc.Status.LoadBalancer.Ingress
		if len(ing) != 1 || ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
			return assigned{}, fmt.Errorf("%s: ingress %+v", name, ing)
		}
		a, err := netip.ParseAddr(ing[0].IP)
		if err != nil || !pool.Contains(a) {
			return assigned{}, fmt.Errorf("%s: address %s outside %s", name, ing[0].IP, pool)
		}
		node := svc.Annotations["kindlike.dev/load-balancer-node"]
		if node == "" {
			return assigned{}, fmt.Errorf("%s: no announcing node", name)
		}
		return assigned{ing[0].IP, node}, nil
	}
	waitAssigned := func(names ...string) map[string]assigned {
		t.Helper()
		out := map[string]assigned{}
		waitFor(t, 20*time.Second, "load balancer addresses", func() error {
			for _, n := range names {
				a, err := assignment(n)
				if err != nil {
					return err
				}
				out[n] = a
			}
			return nil
		})
		return out
	}
	for i := range 6 {
		lb(fmt.Sprintf("lb%d", i))
	}
	lb("asked", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "172.30.127.100" })
	lb("outside", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.1.2.3" })
	names := []string{"lb0", "lb1", "lb2", "lb3", "lb4", "lb5", "asked"}
	got := waitAssigned(names...)
	seen, nodes := map[string]string{}, map[string]bool{}
	for _, n := range names {
		if prev, ok := seen[got[n].ip]; ok {
			t.Errorf("%s and %s share %s", prev, n, got[n].ip)
		}
		seen[got[n].ip] = n
		nodes[got[n].node] = true
	}
	if got["asked"].ip != "172.30.127.100" {
		t.Errorf("asked for 172.30.127.100, got %s", got["asked"].ip)
	}
	if len(nodes) < 2 {
		t.Errorf("every address announced by one node: %v", got)
	}
	waitFor(t, 10*time.Second, "events", func() error {
		for _, want := range []struct{ svc, reason string }{{"lb0", "IPAllocated"}, {"lb0", "nodeAssigned"}, {"outside", "AllocationFailed"}} {
			evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + want.svc + ",reason=" + want.reason})
			if err != nil || len(evs.Items) == 0 {
				return fmt.Errorf("no %s event for %s (%v)", want.reason, want.svc, err)
			}
		}
		return nil
	})
	if out, _ := svcs.Get(ctx, "outside", metav1.GetOptions{}); len(out.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("an address outside the range was handed out: %+v", out.Status.LoadBalancer)
	}

	// The node announcing lb0 is lost: another Ready node takes over.
	lost := got["lb0"].node
	fk.Stop(lost)
	waitFor(t, 40*time.Second, "announcement moved off the lost node", func() error {
		a, err := assignment("lb0")
		if err != nil {
			return err
		}
		if a.node == lost || a.ip != got["lb0"].ip {
			return fmt.Errorf("lb0 %+v; was %+v", a, got["lb0"])
		}
		return nil
	})
	fk.Start(lost)

	// A type change releases the address: the next Service gets the lowest free one.
	lb1, err := svcs.Get(ctx, "lb1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	freed := got["lb1"].ip
	lb1.Spec.Type = corev1.ServiceTypeClusterIP
	lb1.Spec.ExternalTrafficPolicy = ""
	for i := range lb1.Spec.Ports {
		lb1.Spec.Ports[i].NodePort = 0
	}
	lb1.Spec.AllocateLoadBalancerNodePorts = nil
	if _, err := svcs.Update(ctx, lb1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "annotation removed after the type change", func() error {
		s, err := svcs.Get(ctx, "lb1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := s.Annotations["kindlike.dev/load-balancer-node"]; ok || len(s.Status.LoadBalancer.Ingress) != 0 {
			return fmt.Errorf("lb1 is ClusterIP yet has %v, %+v", s.Annotations, s.Status.LoadBalancer)
		}
		return nil
	})
	lb("next")
	if a := waitAssigned("next")["next"]; a.ip != freed {
		t.Errorf("next got %s, want the freed %s (lowest free)", a.ip, freed)
	}

	// The leader dies: the new one keeps every address and hands out a fresh one.
	before := waitAssigned("lb0", "lb2", "asked", "next")
	c.Members[leader].Kill()
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	lb("after")
	after := waitAssigned("lb0", "lb2", "asked", "next", "after")
	for n, a := range before {
		if after[n].ip != a.ip {
			t.Errorf("%s moved from %s to %s with the new leader", n, a.ip, after[n].ip)
		}
		if after["after"].ip == a.ip {
			t.Errorf("after got %s, held by %s", a.ip, n)
		}
	}
}

// TestServicesInKubectl: what kubectl get and describe show of Services, Endpoints and
// EndpointSlices, as on a real cluster.
func TestServicesInKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startClusterWith(t, testcluster.Options{ExtraArgs: []string{"--cluster-subnet", "172.30.0.0/16"}})
	client := clients(t, c)[0]
	startFakeKubelet(t, client, "w1", "w2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 5 {
		if _, err := client.CoreV1().Pods("default").Create(ctx, labelledPod(fmt.Sprintf("web-%d", i), "web", fmt.Sprintf("w%d", i%2+1), 8080), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	web := func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web"} }
	for _, svc := range []*corev1.Service{
		nodePortService("web", web, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
		nodePortService("lb", web, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }),
		nodePortService("pending", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerIP = "1.2.3.4"
		}),
		{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
	} {
		if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(1)}
	k.eventually(20*time.Second, `(?m)^web\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080 \+ 2 more\.\.\.\s+\d+s$`, "get", "endpoints")
	k.eventually(20*time.Second, `(?m)^kubernetes\s+192\.0\.2\.1:\d+,192\.0\.2\.2:\d+,192\.0\.2\.3:\d+\s+\d+s$`, "get", "endpoints")
	k.eventually(20*time.Second, `(?m)^lb\s+LoadBalancer\s+10\.\d+\.\d+\.\d+\s+172\.30\.127\.1\s+80:3\d{4}/TCP\s+\d+s$`, "get", "svc")

	matches(t, "get svc", k.must("get", "svc"),
		`(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`,
		`(?m)^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP\s+\d+s$`,
		`(?m)^web\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:30080/TCP\s+\d+s$`,
		`(?m)^pending\s+LoadBalancer\s+10\.\d+\.\d+\.\d+\s+<pending>\s+80:3\d{4}/TCP\s+\d+s$`,
		`(?m)^ext\s+ExternalName\s+<none>\s+example\.com\s+<none>\s+\d+s$`)
	matches(t, "get endpoints", k.must("get", "endpoints"),
		`(?m)^NAME\s+ENDPOINTS\s+AGE$`,
		`(?m)^kubernetes\s+192\.0\.2\.1:\d+,192\.0\.2\.2:\d+,192\.0\.2\.3:\d+\s+\d+s$`,
		`(?m)^pending\s+<none>\s+\d+s$`)
	matches(t, "get endpointslices", k.must("get", "endpointslices"),
		`(?m)^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$`,
		`(?m)^kubernetes\s+IPv4\s+\d+\s+192\.0\.2\.1,192\.0\.2\.2,192\.0\.2\.3\s+\d+s$`,
		`(?m)^web-[a-z0-9]{5}\s+IPv4\s+8080\s+10\.244\.\d+\.\d+,10\.244\.\d+\.\d+,10\.244\.\d+\.\d+ \+ 2 more\.\.\.\s+\d+s$`,
		`(?m)^pending-[a-z0-9]{5}\s+IPv4\s+<unset>\s+<unset>\s+\d+s$`)
	matches(t, "api-resources", k.must("api-resources", "--api-group=discovery.k8s.io"),
		`(?m)^endpointslices\s+discovery\.k8s\.io/v1\s+true\s+EndpointSlice$`)
	k.eventually(20*time.Second, `nodeAssigned`, "describe", "svc", "lb")
	matches(t, "describe svc lb", k.must("describe", "svc", "lb"),
		`(?m)^Type:\s+LoadBalancer$`,
		`(?m)^IP:\s+10\.\d+\.\d+\.\d+$`,
		`(?m)^IPs:\s+10\.\d+\.\d+\.\d+$`,
		`(?m)^LoadBalancer Ingress:\s+172\.30\.127\.1 \(VIP\)$`,
		`(?m)^Port:\s+http\s+80/TCP$`,
		`(?m)^TargetPort:\s+http/TCP$`,
		`(?m)^NodePort:\s+http\s+3\d{4}/TCP$`,
		`(?m)^Endpoints:\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080 \+ 2 more\.\.\.$`,
		`(?m)^Session Affinity:\s+None$`,
		`(?m)^Annotations:\s+kindlike\.dev/load-balancer-node: w[12]$`,
		`(?m)^\s+Normal\s+IPAllocated\s+\S+\s+kindlike-loadbalancer\s+Assigned IP \["172\.30\.127\.1"\]$`,
		`(?m)^\s+Normal\s+nodeAssigned\s+\S+\s+kindlike-loadbalancer\s+announcing from node "w[12]" with protocol "layer2"$`)
	matches(t, "describe svc kubernetes", k.must("describe", "svc", "kubernetes"),
		`(?m)^IP:\s+10\.96\.0\.1$`, `(?m)^Port:\s+https\s+443/TCP$`,
		`(?m)^Endpoints:\s+192\.0\.2\.1:\d+,192\.0\.2\.2:\d+,192\.0\.2\.3:\d+$`)
}
