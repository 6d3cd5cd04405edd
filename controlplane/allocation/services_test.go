package allocation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/allocation"
	"github.com/kindlike/kindlike/controlplane/apiserver"
	"github.com/kindlike/kindlike/controlplane/store"
)

// member is one store with the API served over it, as a control plane has them.
type member struct {
	store  *store.Store
	client kubernetes.Interface
}

// startMembers runs n stores in one Raft group, each with an API server using the
// allocator on network, and creates the default namespace.
func startMembers(t *testing.T, n int, network config.Network) []*member {
	t.Helper()
	var peers []store.Peer
	var listeners []net.Listener
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		peers = append(peers, store.Peer{ID: fmt.Sprintf("m%d", i), Addr: l.Addr().String()})
	}
	var members []*member
	for i := range n {
		st, err := store.Open(store.Config{ID: peers[i].ID, DataDir: t.TempDir(), Listener: listeners[i], Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		services, err := allocation.NewServices(network, st)
		if err != nil {
			t.Fatal(err)
		}
		s := apiserver.New(apiserver.Config{Storage: st, Services: services, Tokens: map[string]apiserver.User{"t": {Name: "admin"}}})
		hs := httptest.NewServer(s.Handler())
		t.Cleanup(hs.Close)
		members = append(members, &member{store: st, client: kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, BearerToken: "t", QPS: 1000, Burst: 1000})})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := members[0].client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return members
}

func defaultNetwork() config.Network {
	return config.Network{ServiceSubnet: "10.96.0.0/12", NodePortRange: "30000-32767"}.WithDefaults()
}

func service(name string, typ corev1.ServiceType, edit ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, e := range edit {
		e(svc)
	}
	return svc
}

func withClusterIP(ip string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ClusterIP = ip }
}

func withNodePort(port int32) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Ports[0].NodePort = port }
}

// claimOwner reads the claim under key: the Service holding it, or "" when free.
func claimOwner(t *testing.T, st *store.Store, key string) string {
	t.Helper()
	e, err := st.Get(context.Background(), key, true)
	if err != nil {
		return ""
	}
	var o allocation.Owner
	if err := json.Unmarshal(e.Value, &o); err != nil {
		t.Fatalf("claim %s: %v", key, err)
	}
	return o.Namespace + "/" + o.Name
}

func ipKey(ip string) string { return allocation.IPKey(netip.MustParseAddr(ip)) }

func TestClusterIPsAreRandomInRangeAndClaimed(t *testing.T) {
	m := startMembers(t, 1, defaultNetwork())[0]
	ctx := context.Background()
	svcs := m.client.CoreV1().Services("default")
	prefix := netip.MustParsePrefix("10.96.0.0/12")
	seen := map[string]bool{}
	var addrs []netip.Addr
	for i := range 20 {
		svc, err := svcs.Create(ctx, service(fmt.Sprintf("s%d", i), corev1.ServiceTypeClusterIP), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := svc.Spec.ClusterIP
		a, err := netip.ParseAddr(ip)
		if err != nil || !prefix.Contains(a) || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != ip {
			t.Fatalf("service %d: clusterIP %q clusterIPs %v, want one address in %s", i, ip, svc.Spec.ClusterIPs, prefix)
		}
		// The lower band (10.96.0.1 to 10.96.1.0) is kept for addresses asked for:
		// the kubernetes Service's, kube-dns's.
		if a.Less(netip.MustParseAddr("10.96.1.1")) {
			t.Errorf("service %d got %s, in the band kept for requested addresses", i, a)
		}
		if seen[ip] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip] = true
		addrs = append(addrs, a)
		if owner := claimOwner(t, m.store, ipKey(ip)); owner != "default/"+svc.Name {
			t.Errorf("claim of %s names %q, want default/%s", ip, owner, svc.Name)
		}
	}
	sequential := 0
	for i := 1; i < len(addrs); i++ {
		if addrs[i] == addrs[i-1].Next() {
			sequential++
		}
	}
	if sequential > 3 {
		t.Errorf("addresses handed out in sequence: %v", addrs)
	}
}

func TestRequestedClusterIP(t *testing.T) {
	m := startMembers(t, 1, defaultNetwork())[0]
	ctx := context.Background()
	svcs := m.client.CoreV1().Services("default")
	for i, ip := range []string{"10.96.0.1", "10.96.0.10", "10.100.3.4"} {
		svc, err := svcs.Create(ctx, service(fmt.Sprintf("ip%d", i), corev1.ServiceTypeClusterIP, withClusterIP(ip)), metav1.CreateOptions{})
		if err != nil || svc.Spec.ClusterIP != ip {
			t.Fatalf("requesting %s: %v, got %v", ip, err, svc)
		}
	}
	tests := []struct {
		ip, want string
	}{
		{"10.96.0.10", `Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated`},
		{"192.168.0.1", `Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"192.168.0.1"}: failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
		{"10.96.0.0", `Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.0"}: failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
		{"10.111.255.255", `Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.111.255.255"}: failed to allocate IP 10.111.255.255: the provided IP (10.111.255.255) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
	}
	for _, tt := range tests {
		_, err := svcs.Create(ctx, service("taken", corev1.ServiceTypeClusterIP, withClusterIP(tt.ip)), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || err.Error() != tt.want {
			t.Errorf("requesting %s: %v\nwant 422 %s", tt.ip, err, tt.want)
		}
	}
	if _, err := svcs.Get(ctx, "taken", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused Service was stored: %v", err)
	}
	// A dry run shows an address but claims nothing.
	dry, err := svcs.Create(ctx, service("dry", corev1.ServiceTypeClusterIP), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || dry.Spec.ClusterIP == "" {
		t.Fatalf("dry run: %v, %v", err, dry)
	}
	if owner := claimOwner(t, m.store, ipKey(dry.Spec.ClusterIP)); owner != "" {
		t.Errorf("dry run claimed %s for %s", dry.Spec.ClusterIP, owner)
	}
}

func TestNodePorts(t *testing.T) {
	m := startMembers(t, 1, defaultNetwork())[0]
	ctx := context.Background()
	svcs := m.client.CoreV1().Services("default")
	first, err := svcs.Create(ctx, service("web", corev1.ServiceTypeNodePort, withNodePort(30001)), metav1.CreateOptions{})
	if err != nil || first.Spec.Ports[0].NodePort != 30001 {
		t.Fatalf("requesting node port 30001: %v, %v", err, first)
	}
	tests := []struct {
		port int32
		want string
	}{
		{30001, `Service "other" is invalid: spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated`},
		{40000, `Service "other" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767`},
	}
	for _, tt := range tests {
		_, err := svcs.Create(ctx, service("other", corev1.ServiceTypeNodePort, withNodePort(tt.port)), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || err.Error() != tt.want {
			t.Errorf("requesting node port %d: %v\nwant 422 %s", tt.port, err, tt.want)
		}
	}

	// Allocated: in range, above the lower band, TCP and UDP of one port share it.
	dns := service("dns", corev1.ServiceTypeNodePort, func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP},
		}
	})
	got, err := svcs.Create(ctx, dns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Spec.Ports
	if p[0].NodePort != p[1].NodePort || p[0].NodePort == p[2].NodePort || p[0].NodePort < 30086 || p[2].NodePort < 30086 || p[2].NodePort > 32767 {
		t.Errorf("node ports %d, %d, %d: want one for port 53 (TCP and UDP), another for 9153, in 30086-32767", p[0].NodePort, p[1].NodePort, p[2].NodePort)
	}
	for _, np := range []int32{p[0].NodePort, p[2].NodePort} {
		if owner := claimOwner(t, m.store, allocation.NodePortKey(np)); owner != "default/dns" {
			t.Errorf("claim of node port %d names %q", np, owner)
		}
	}

	// LoadBalancer with externalTrafficPolicy Local: a health check node port too.
	lb, err := svcs.Create(ctx, service("lb", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := lb.Spec.HealthCheckNodePort
	if hc == 0 || hc == lb.Spec.Ports[0].NodePort || claimOwner(t, m.store, allocation.NodePortKey(hc)) != "default/lb" {
		t.Errorf("health check node port %d (node port %d), claimed by %q", hc, lb.Spec.Ports[0].NodePort, claimOwner(t, m.store, allocation.NodePortKey(hc)))
	}
	_, err = svcs.Create(ctx, service("lb2", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = 30001
	}), metav1.CreateOptions{})
	want := "Internal error occurred: failed to allocate requested HealthCheck NodePort 30001: provided port is already allocated"
	if !apierrors.IsInternalError(err) || err.Error() != want {
		t.Errorf("requesting a taken health check node port: %v\nwant 500 %s", err, want)
	}
	// allocateLoadBalancerNodePorts: false gets none.
	none, err := svcs.Create(ctx, service("lb-no-ports", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
		f := false
		s.Spec.AllocateLoadBalancerNodePorts = &f
	}), metav1.CreateOptions{})
	if err != nil || none.Spec.Ports[0].NodePort != 0 {
		t.Errorf("allocateLoadBalancerNodePorts false: %v, node port %v", err, none)
	}
}

// TestReleaseAndReuse: deleting a Service or changing its type frees what it no longer
// holds, for anyone to take; what it keeps stays claimed.
func TestReleaseAndReuse(t *testing.T) {
	m := startMembers(t, 1, defaultNetwork())[0]
	ctx := context.Background()
	svcs := m.client.CoreV1().Services("default")
	a, err := svcs.Create(ctx, service("a", corev1.ServiceTypeNodePort, withClusterIP("10.96.0.50"), withNodePort(30050)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("b", corev1.ServiceTypeNodePort, withNodePort(30050)), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("taking a held node port: %v", err)
	}
	// NodePort → ClusterIP releases the node port and keeps the address.
	a.Spec.Type = corev1.ServiceTypeClusterIP
	a.Spec.ExternalTrafficPolicy = ""
	a.Spec.Ports[0].NodePort = 0
	a, err = svcs.Update(ctx, a, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if owner := claimOwner(t, m.store, allocation.NodePortKey(30050)); owner != "" {
		t.Errorf("node port 30050 still claimed by %q after the type change", owner)
	}
	if owner := claimOwner(t, m.store, ipKey("10.96.0.50")); owner != "default/a" {
		t.Errorf("cluster IP claim after the type change: %q", owner)
	}
	if _, err := svcs.Create(ctx, service("b", corev1.ServiceTypeNodePort, withNodePort(30050)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port 30050 after its release: %v", err)
	}
	// ClusterIP → NodePort again: a fresh node port.
	a.Spec.Type = corev1.ServiceTypeNodePort
	if a, err = svcs.Update(ctx, a, metav1.UpdateOptions{}); err != nil || a.Spec.Ports[0].NodePort == 0 || a.Spec.Ports[0].NodePort == 30050 {
		t.Fatalf("back to NodePort: %v, %v", err, a)
	}
	np := a.Spec.Ports[0].NodePort
	if owner := claimOwner(t, m.store, allocation.NodePortKey(np)); owner != "default/a" {
		t.Errorf("node port %d claimed by %q", np, owner)
	}
	// → ExternalName releases everything; → ClusterIP gets a new address.
	a.Spec.Type = corev1.ServiceTypeExternalName
	a.Spec.ExternalName = "example.com"
	a.Spec.Ports[0].NodePort = 0
	a.Spec.ExternalTrafficPolicy = ""
	a, err = svcs.Update(ctx, a, metav1.UpdateOptions{})
	if err != nil || a.Spec.ClusterIP != "" {
		t.Fatalf("to ExternalName: %v, %v", err, a)
	}
	for _, k := range []string{ipKey("10.96.0.50"), allocation.NodePortKey(np)} {
		if owner := claimOwner(t, m.store, k); owner != "" {
			t.Errorf("%s still claimed by %q after the change to ExternalName", k, owner)
		}
	}
	a.Spec.Type = corev1.ServiceTypeClusterIP
	a.Spec.ExternalName = ""
	if a, err = svcs.Update(ctx, a, metav1.UpdateOptions{}); err != nil || a.Spec.ClusterIP == "" {
		t.Fatalf("back to ClusterIP: %v, %v", err, a)
	}
	if owner := claimOwner(t, m.store, ipKey(a.Spec.ClusterIP)); owner != "default/a" {
		t.Errorf("new address %s claimed by %q", a.Spec.ClusterIP, owner)
	}
	// Deleting frees the address for a Service that asks for it.
	ip := a.Spec.ClusterIP
	if err := svcs.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if owner := claimOwner(t, m.store, ipKey(ip)); owner != "" {
		t.Errorf("%s still claimed by %q after delete", ip, owner)
	}
	if _, err := svcs.Create(ctx, service("c", corev1.ServiceTypeClusterIP, withClusterIP(ip)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("reusing %s: %v", ip, err)
	}
	// A Service held by a finalizer keeps its address until it is gone.
	fin, err := svcs.Create(ctx, service("held", corev1.ServiceTypeClusterIP, func(s *corev1.Service) { s.Finalizers = []string{"example.com/hold"} }), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if owner := claimOwner(t, m.store, ipKey(fin.Spec.ClusterIP)); owner != "default/held" {
		t.Fatalf("address of a Service waiting on a finalizer: claimed by %q", owner)
	}
	fin, _ = svcs.Get(ctx, "held", metav1.GetOptions{})
	fin.Finalizers = nil
	if _, err := svcs.Update(ctx, fin, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if owner := claimOwner(t, m.store, ipKey(fin.Spec.ClusterIP)); owner != "" {
		t.Errorf("address of a finalized Service still claimed by %q", owner)
	}
}

// TestConcurrentCreatesThroughEveryMember: Services created at once through three
// members never share an address or a node port, even in ranges so small that random
// choices collide all the time, and every address is handed out.
func TestConcurrentCreatesThroughEveryMember(t *testing.T) {
	const n = 50
	network := config.Network{ServiceSubnet: "10.96.0.0/26", NodePortRange: "30000-30049"}.WithDefaults() // 62 addresses, 50 ports
	members := startMembers(t, 3, network)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = members[i%3].client.CoreV1().Services("default").Create(ctx, service(fmt.Sprintf("s%d", i), corev1.ServiceTypeNodePort), metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create s%d: %v", i, err)
		}
	}
	list, err := members[1].client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]string{}, map[int32]string{}
	for _, svc := range list.Items {
		if prev, ok := ips[svc.Spec.ClusterIP]; ok {
			t.Errorf("%s has %s's address %s", svc.Name, prev, svc.Spec.ClusterIP)
		}
		ips[svc.Spec.ClusterIP] = svc.Name
		np := svc.Spec.Ports[0].NodePort
		if prev, ok := ports[np]; ok {
			t.Errorf("%s has %s's node port %d", svc.Name, prev, np)
		}
		ports[np] = svc.Name
		if owner := claimOwner(t, members[2].store, ipKey(svc.Spec.ClusterIP)); owner != "default/"+svc.Name {
			t.Errorf("claim of %s names %q, want default/%s", svc.Spec.ClusterIP, owner, svc.Name)
		}
	}
	if len(list.Items) != n || len(ports) != n {
		t.Fatalf("%d services, %d node ports; want %d each", len(list.Items), len(ports), n)
	}
	// The node port range is full now: kube-apiserver's answer.
	_, err = members[0].client.CoreV1().Services("default").Create(ctx, service("one-too-many", corev1.ServiceTypeNodePort), metav1.CreateOptions{})
	want := "Internal error occurred: failed to allocate a nodePort: range is full"
	if !apierrors.IsInternalError(err) || err.Error() != want {
		t.Errorf("create with the node port range full: %v\nwant 500 %s", err, want)
	}
}

// TestResubmittedServiceKeepsItsAddresses: a PUT of the manifest a Service was created
// from (no clusterIP, node ports or health check port, as kubectl replace sends it)
// keeps what was allocated; dropping a port frees its node port.
func TestResubmittedServiceKeepsItsAddresses(t *testing.T) {
	m := startMembers(t, 1, defaultNetwork())[0]
	ctx := context.Background()
	svcs := m.client.CoreV1().Services("default")
	manifest := func() *corev1.Service {
		return service("lb", corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
		})
	}
	first, err := svcs.Create(ctx, manifest(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again := manifest()
	again.ResourceVersion = first.ResourceVersion
	got, err := svcs.Update(ctx, again, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP != first.Spec.ClusterIP || got.Spec.HealthCheckNodePort != first.Spec.HealthCheckNodePort ||
		got.Spec.Ports[0].NodePort != first.Spec.Ports[0].NodePort || got.Spec.Ports[1].NodePort != first.Spec.Ports[1].NodePort {
		t.Fatalf("resubmitted: %s %v hc %d, was %s %v hc %d", got.Spec.ClusterIP, got.Spec.Ports, got.Spec.HealthCheckNodePort,
			first.Spec.ClusterIP, first.Spec.Ports, first.Spec.HealthCheckNodePort)
	}
	// The https port goes: its node port is free, the others stay claimed.
	dropped := first.Spec.Ports[1].NodePort
	got.Spec.Ports = got.Spec.Ports[:1]
	if _, err := svcs.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if owner := claimOwner(t, m.store, allocation.NodePortKey(dropped)); owner != "" {
		t.Errorf("node port %d of a removed port still claimed by %q", dropped, owner)
	}
	for _, np := range []int32{first.Spec.Ports[0].NodePort, first.Spec.HealthCheckNodePort} {
		if owner := claimOwner(t, m.store, allocation.NodePortKey(np)); owner != "default/lb" {
			t.Errorf("node port %d claimed by %q, want default/lb", np, owner)
		}
	}
}
