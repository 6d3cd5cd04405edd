package dns

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func service(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports},
	}
	if clusterIP != corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{clusterIP}
	}
	return svc
}

func port(name string, proto corev1.Protocol, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: p}
}

type ep struct {
	addr, hostname string
	ready          bool
}

func slice(ns, svc, name string, ports []corev1.ServicePort, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &p.Name, Protocol: &p.Protocol, Port: &p.Port})
	}
	for _, e := range eps {
		d := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: &e.ready}}
		if e.hostname != "" {
			d.Hostname = &e.hostname
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

// clusterObjects are a ClusterIP service, a StatefulSet's headless service, a headless
// service publishing not-ready addresses and an ExternalName service.
func clusterObjects() []runtime.Object {
	webPorts := []corev1.ServicePort{port("http", corev1.ProtocolTCP, 80), port("metrics", corev1.ProtocolUDP, 9100)}
	nginxPorts := []corev1.ServicePort{port("web", corev1.ProtocolTCP, 8080)}
	pub := service("demo", "pub", corev1.ClusterIPNone, port("peer", corev1.ProtocolTCP, 2380))
	pub.Spec.PublishNotReadyAddresses = true
	return []runtime.Object{
		service("demo", "web", "10.96.0.10", webPorts...),
		slice("demo", "web", "web-abc", webPorts, ep{addr: "10.244.1.2", ready: true}),
		service("demo", "nginx-demo", corev1.ClusterIPNone, nginxPorts...),
		slice("demo", "nginx-demo", "nginx-demo-1", nginxPorts,
			ep{"10.244.1.5", "web-demo-0", true},
			ep{"10.244.2.6", "web-demo-1", true},
			ep{"10.244.3.8", "web-demo-2", false}),
		// The same address again in a second slice, as while the controller moves it.
		slice("demo", "nginx-demo", "nginx-demo-2", nginxPorts,
			ep{"10.244.1.5", "web-demo-0", true},
			ep{"10.244.3.7", "", true}),
		pub,
		slice("demo", "pub", "pub-1", []corev1.ServicePort{port("peer", corev1.ProtocolTCP, 2380)},
			ep{"10.244.4.9", "pub-0", false}),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "ext"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.test"},
		},
	}
}

// upstream is a local resolver standing in for the real ones: it knows example.test
// and big.test (too large for UDP), and counts the queries it saw.
type upstream struct {
	addr    string
	queries atomic.Int64
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		u.queries.Add(1)
		m := new(dns.Msg).SetReply(req)
		q := req.Question[0]
		switch {
		case q.Name == "example.test." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, mustRR(t, "example.test. 60 IN A 192.0.2.1"))
		case q.Name == "big.test." && q.Qtype == dns.TypeTXT:
			for i := range 40 {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("big.test. 60 IN TXT \"record %02d padded to make the answer larger than 512 bytes\"", i)))
			}
		case q.Name == "example.test." || q.Name == "big.test.":
		default:
			m.Rcode = dns.RcodeNameError
		}
		if w.RemoteAddr().Network() == "udp" {
			m.Truncate(dns.MinMsgSize)
		}
		_ = w.WriteMsg(m)
	})
	udp := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: handler}
	started := make(chan struct{})
	udp.NotifyStartedFunc = func() { close(started) }
	go func() { _ = udp.ListenAndServe() }()
	<-started
	u.addr = udp.PacketConn.LocalAddr().String()
	tcp := &dns.Server{Addr: u.addr, Net: "tcp", Handler: handler}
	started = make(chan struct{})
	tcp.NotifyStartedFunc = func() { close(started) }
	go func() { _ = tcp.ListenAndServe() }()
	<-started
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return u
}

func mustRR(t testing.TB, s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// start runs a server on loopback ports and stops it when the test ends.
func start(t testing.TB, client *fake.Clientset, upstreams ...string) *Server {
	t.Helper()
	s, err := New(client, Options{
		Listen:       "127.0.0.1:0",
		HealthListen: "127.0.0.1:0",
		ReadyListen:  "127.0.0.1:0",
		Upstreams:    upstreams,
		ResolvConf:   "/nonexistent", // never the machine's resolvers
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if s.Addr() == "" {
		t.Fatalf("server did not bind: %v", <-done)
	}
	return s
}

func waitReady(t testing.TB, s *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !s.synced.Load() {
		if time.Now().After(deadline) {
			t.Fatal("caches did not sync")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func query(t testing.TB, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// rdata renders records as "TYPE data", sorted, without owner and TTL.
func rdata(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	slices.Sort(out)
	return out
}

func TestRecords(t *testing.T) {
	up := startUpstream(t)
	s := start(t, fake.NewClientset(clusterObjects()...), up.addr)
	waitReady(t, s)

	const noData = "nodata"
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string // sorted; noData asserts NOERROR with an empty answer
		extra  []string // checked when not nil
	}{
		{name: "web.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.96.0.10"}},
		{name: "WEB.Demo.SVC.cluster.LOCAL.", qtype: dns.TypeA, answer: []string{"A 10.96.0.10"}},
		{name: "web.demo.svc.cluster.local.", qtype: dns.TypeAAAA, answer: []string{noData}},
		{name: "web.demo.svc.cluster.local.", qtype: dns.TypeTXT, answer: []string{noData}},
		{name: "_http._tcp.web.demo.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 80 web.demo.svc.cluster.local."},
			extra:  []string{"A 10.96.0.10"}},
		{name: "_metrics._udp.web.demo.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 9100 web.demo.svc.cluster.local."}},
		{name: "_HTTP._TCP.web.demo.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 80 web.demo.svc.cluster.local."}},
		{name: "_http._udp.web.demo.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},
		{name: "_tcp.web.demo.svc.cluster.local.", qtype: dns.TypeSRV, answer: []string{noData}},
		{name: "web.demo.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 50 80 web.demo.svc.cluster.local.", "SRV 0 50 9100 web.demo.svc.cluster.local."}},
		// Headless: every ready endpoint, once though it is in two slices.
		{name: "nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.244.1.5", "A 10.244.2.6", "A 10.244.3.7"}},
		{name: "web-demo-0.nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.244.1.5"}},
		{name: "Web-Demo-1.nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.244.2.6"}},
		{name: "10-244-3-7.nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.244.3.7"}},
		{name: "web-demo-2.nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "_web._tcp.nginx-demo.demo.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{
				"SRV 0 33 8080 10-244-3-7.nginx-demo.demo.svc.cluster.local.",
				"SRV 0 33 8080 web-demo-0.nginx-demo.demo.svc.cluster.local.",
				"SRV 0 33 8080 web-demo-1.nginx-demo.demo.svc.cluster.local.",
			},
			extra: []string{"A 10.244.1.5", "A 10.244.2.6", "A 10.244.3.7"}},
		// publishNotReadyAddresses: not-ready endpoints too.
		{name: "pub.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.244.4.9"}},
		{name: "pub-0.pub.demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.244.4.9"}},
		// ExternalName: the alias, and its target's addresses from upstream.
		{name: "ext.demo.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 192.0.2.1", "CNAME example.test."}},
		{name: "ext.demo.svc.cluster.local.", qtype: dns.TypeCNAME, answer: []string{"CNAME example.test."}},
		{name: "10-1-2-3.demo.pod.cluster.local.", qtype: dns.TypeA, answer: []string{"A 10.1.2.3"}},
		{name: "10-1-2-3.other.pod.cluster.local.", qtype: dns.TypeAAAA, answer: []string{noData}},
		{name: "not-an-ip.demo.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "10.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"PTR web.demo.svc.cluster.local."}},
		{name: "5.1.244.10.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"PTR web-demo-0.nginx-demo.demo.svc.cluster.local."}},
		// Names of the zone that exist without records of their own.
		{name: "cluster.local.", qtype: dns.TypeSOA, answer: []string{"SOA ns.dns.cluster.local. hostmaster.cluster.local. " + fmt.Sprint(s.zone.serial.Load()) + " 7200 1800 86400 5"}},
		{name: "svc.cluster.local.", qtype: dns.TypeA, answer: []string{noData}},
		{name: "demo.svc.cluster.local.", qtype: dns.TypeA, answer: []string{noData}},
		{name: "dns-version.cluster.local.", qtype: dns.TypeTXT, answer: []string{`TXT "1.1.0"`}},
		{name: "nope.demo.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "web.nope.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "nope.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "a.b.web.demo.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "whatever.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		// Forwarded: found, not found, and a truncated UDP answer retried over TCP.
		{name: "example.test.", qtype: dns.TypeA, answer: []string{"A 192.0.2.1"}},
		{name: "nope.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			r := query(t, s.Addr(), tt.name, tt.qtype)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			local := strings.HasSuffix(strings.ToLower(tt.name), "cluster.local.")
			if local && (r.Rcode == dns.RcodeNameError || len(r.Answer) == 0) {
				if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("authority %v, want the zone's SOA", r.Ns)
				}
			}
			if tt.answer == nil {
				return
			}
			want := tt.answer
			if slices.Equal(want, []string{noData}) {
				want = nil
			}
			if got := rdata(r.Answer); !slices.Equal(got, want) {
				t.Errorf("answer %q, want %q", got, want)
			}
			// Records up to a CNAME are the zone's, owned by the name as asked; after
			// it they are the target's, from wherever it lives.
			for _, rr := range r.Answer {
				if !local {
					break
				}
				if rr.Header().Name != tt.name {
					t.Errorf("owner %q, want the name as asked %q", rr.Header().Name, tt.name)
				}
				if rr.Header().Ttl != 5 {
					t.Errorf("TTL %d, want 5", rr.Header().Ttl)
				}
				if rr.Header().Rrtype == dns.TypeCNAME {
					break
				}
			}
			if tt.extra != nil {
				if got := rdata(r.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("additional %q, want %q", got, tt.extra)
				}
			}
		})
	}
}

// TestForwardTruncated checks that an upstream answer too large for UDP is fetched
// over TCP and reaches a TCP client whole.
func TestForwardTruncated(t *testing.T) {
	up := startUpstream(t)
	s := start(t, fake.NewClientset(), up.addr)
	m := new(dns.Msg).SetQuestion("big.test.", dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("truncated %v with %d answers, want the 40 records whole", r.Truncated, len(r.Answer))
	}
	// Over UDP the client is told to retry over TCP, as it would be by the upstream.
	if r := query(t, s.Addr(), "big.test.", dns.TypeTXT); !r.Truncated {
		t.Errorf("UDP answer of %d records not truncated", len(r.Answer))
	}
}

func TestForwardNoUpstream(t *testing.T) {
	// A loopback port nobody listens on: the exchange fails and the client gets SERVFAIL.
	s := start(t, fake.NewClientset(), "127.0.0.1:9")
	if r := query(t, s.Addr(), "example.test.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

// TestWatch checks that answers follow Services created and deleted after start.
func TestWatch(t *testing.T) {
	client := fake.NewClientset()
	// The fake API drops events between its list and its watch; wait for the watch.
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("services", func(k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	s := start(t, client, startUpstream(t).addr)
	waitReady(t, s)
	<-watching

	ctx := context.Background()
	const name = "late.demo.svc.cluster.local."
	if r := query(t, s.Addr(), name, dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before create: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if _, err := client.CoreV1().Services("demo").Create(ctx, service("demo", "late", "10.96.7.7"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		r := query(t, s.Addr(), name, dns.TypeA)
		return slices.Equal(rdata(r.Answer), []string{"A 10.96.7.7"})
	})
	if err := client.CoreV1().Services("demo").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		return query(t, s.Addr(), name, dns.TypeA).Rcode == dns.RcodeNameError
	})
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadiness holds the EndpointSlice list to see the server before its caches synced.
func TestReadiness(t *testing.T) {
	up := startUpstream(t)
	client := fake.NewClientset(clusterObjects()...)
	release := make(chan struct{})
	client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	s := start(t, client, up.addr)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	get := func(addr, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(s.HealthAddr(), "/health"); code != 200 || body != "OK" {
		t.Errorf("/health before sync: %d %q, want 200 OK", code, body)
	}
	if code, _ := get(s.ReadyAddr(), "/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready before sync: %d, want 503", code)
	}
	// An empty cache must not deny names; names outside the cluster still resolve.
	if r := query(t, s.Addr(), "web.demo.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("cluster name before sync: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if r := query(t, s.Addr(), "example.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("external name before sync: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}

	close(release)
	waitReady(t, s)
	if code, body := get(s.ReadyAddr(), "/ready"); code != 200 || body != "OK" {
		t.Errorf("/ready after sync: %d %q, want 200 OK", code, body)
	}
	if r := query(t, s.Addr(), "web.demo.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("cluster name after sync: rcode %s", dns.RcodeToString[r.Rcode])
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		want    []string // upstreams
		wantErr bool
	}{
		{name: "explicit", opts: Options{Upstreams: []string{"10.0.0.1", "10.0.0.2:5353", "::1"}},
			want: []string{"10.0.0.1:53", "10.0.0.2:5353", "[::1]:53"}},
		{name: "no resolv.conf", opts: Options{ResolvConf: "/nonexistent"}, wantErr: true},
		{name: "bad domain", opts: Options{Domain: "a..b", Upstreams: []string{"10.0.0.1"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.opts.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !slices.Equal(o.Upstreams, tt.want) {
				t.Errorf("upstreams %q, want %q", o.Upstreams, tt.want)
			}
		})
	}
}

// TestRunStops checks that Run returns when its context ends, even before it served,
// and fails at once on a taken port.
func TestRunStops(t *testing.T) {
	taken := start(t, fake.NewClientset(), "127.0.0.1:9")
	tests := []struct {
		name    string
		listen  string
		wantErr bool
	}{
		{name: "cancelled before start", listen: "127.0.0.1:0"},
		{name: "port taken", listen: taken.Addr(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(fake.NewClientset(), Options{Listen: tt.listen, HealthListen: "127.0.0.1:0",
				ReadyListen: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			select {
			case err := <-done:
				if (err != nil) != tt.wantErr {
					t.Errorf("Run: %v, want error %v", err, tt.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
		})
	}
}
