package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// lab is the network model in miniature: client, node and backend namespaces on one
// bridge (the cluster's Docker network); the client's default route is the node, as
// a pod's is; the node forwards and runs the proxier.
type lab struct {
	client, node, backend netns.NsHandle
}

const (
	labNode    = "10.200.0.2"
	labClient  = "10.200.0.10"
	labBackA   = "10.200.0.20"
	labBackB   = "10.200.0.21"
	labSink    = "10.200.0.99" // the node's default route: a host that silently drops
	labLBRange = "10.200.15.0/24"
)

func newLab(t *testing.T) lab {
	requireRoot(t)
	lanName, _ := newNetns(t, "lan")
	sh(t, "ip", "-n", lanName, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", lanName, "link", "set", "br0", "up")
	var l lab
	for _, m := range []struct {
		role  string
		h     *netns.NsHandle
		addrs []string
	}{
		{"client", &l.client, []string{labClient}},
		{"node", &l.node, []string{labNode}},
		{"backend", &l.backend, []string{labBackA, labBackB, labSink}},
	} {
		name, h := newNetns(t, m.role)
		*m.h = h
		port := "v" + m.role
		sh(t, "ip", "-n", lanName, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
		sh(t, "ip", "-n", lanName, "link", "set", port, "master", "br0", "up")
		sh(t, "ip", "-n", name, "link", "set", "eth0", "up")
		for _, a := range m.addrs {
			sh(t, "ip", "-n", name, "addr", "add", a+"/24", "dev", "eth0")
		}
		switch m.role {
		case "client":
			sh(t, "ip", "-n", name, "route", "add", "default", "via", labNode)
		case "node":
			sh(t, "ip", "-n", name, "route", "add", "default", "via", labSink)
			// What kindlike's node containers are started with.
			sh(t, "ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
				"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")
		}
	}
	return l
}

// serve answers every connection to addr in ns with addr, so clients learn which
// backend they reached.
func serve(t *testing.T, ns netns.NsHandle, addr string) {
	var ln net.Listener
	inNetns(t, ns, func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, addr)
			c.Close()
		}
	}()
}

// dial connects from ns and returns what the server said.
func dial(t *testing.T, ns netns.NsHandle, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	var err error
	inNetns(t, ns, func() { c, err = net.DialTimeout("tcp", addr, timeout) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestProxierInNetworkNamespaces(t *testing.T) {
	l := newLab(t)
	a, b := net.JoinHostPort(labBackA, "8080"), net.JoinHostPort(labBackB, "8080")
	serve(t, l.backend, a)
	serve(t, l.backend, b)

	// An address left over from a Service that no longer exists, and one outside the
	// range that must survive.
	nodeLinks, err := netlink.NewHandleAt(l.node)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeLinks.Close()
	eth0, err := nodeLinks.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{"10.200.15.9", "10.200.1.9"} {
		if err := nodeLinks.AddrAdd(eth0, addr32(netip.MustParseAddr(stale))); err != nil {
			t.Fatal(err)
		}
	}

	backends := func(svc string) *discoveryv1.EndpointSlice {
		return slice("default", svc, "http", "TCP", 8080, ep(labBackA, "n1", true), ep(labBackB, "n2", true))
	}
	client := fake.NewClientset([]runtime.Object{
		svc("default", "web", "10.96.0.20", svcPort("http", "TCP", 80, 30080), lbIngress("n1", "10.200.15.1")),
		svc("default", "sticky", "10.96.0.21", svcPort("http", "TCP", 80, 0), clientIPAffinity(0)),
		svc("default", "empty", "10.96.0.22", svcPort("http", "TCP", 80, 0)),
		backends("web"), backends("sticky"),
	}...)
	p, err := New(Options{
		Client: client, NodeName: "n1", NodeIP: netip.MustParseAddr(labNode),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"), LBRange: netip.MustParsePrefix(labLBRange),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ns = l.node
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	web := "10.96.0.20:80"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := dial(t, l.client, web, 500*time.Millisecond); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ClusterIP %s never answered: %v", web, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("ClusterIP reaches both backends", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 50; i++ {
			got, err := dial(t, l.client, web, 2*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			seen[got]++
		}
		if seen[a] == 0 || seen[b] == 0 || len(seen) != 2 {
			t.Errorf("50 connections reached %v, want both %s and %s", seen, a, b)
		}
	})
	var stuck string
	t.Run("session affinity sticks", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			got, err := dial(t, l.client, "10.96.0.21:80", 2*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			seen[got]++
		}
		if len(seen) != 1 {
			t.Errorf("20 connections with ClientIP affinity reached %v, want one backend", seen)
		}
		for k := range seen {
			stuck = k
		}
	})
	refused := func(t *testing.T, from netns.NsHandle, addr string) {
		start := time.Now()
		_, err := dial(t, from, addr, 3*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connect %s: got %v, want connection refused", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("connect %s refused after %s, want under 1s", addr, d)
		}
	}
	t.Run("no endpoints is refused at once", func(t *testing.T) { refused(t, l.client, "10.96.0.22:80") })
	t.Run("unknown ClusterIP is rejected, not forwarded", func(t *testing.T) { refused(t, l.client, "10.96.0.99:80") })
	t.Run("unknown ClusterIP from the node itself is rejected", func(t *testing.T) { refused(t, l.node, "10.96.0.99:80") })
	t.Run("ClusterIP from the node itself", func(t *testing.T) {
		if _, err := dial(t, l.node, web, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NodePort", func(t *testing.T) {
		if _, err := dial(t, l.client, net.JoinHostPort(labNode, "30080"), 2*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("load-balancer address", func(t *testing.T) {
		addrs, err := nodeLinks.AddrList(eth0, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, a := range addrs {
			have = append(have, a.IPNet.String())
		}
		got := strings.Join(have, " ")
		if got != "10.200.0.2/24 10.200.1.9/32 10.200.15.1/32" {
			t.Errorf("node eth0 addresses %q, want the node's, the out-of-range one, and the Service's", got)
		}
		if _, err := dial(t, l.client, "10.200.15.1:80", 2*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("endpoints appearing are picked up", func(t *testing.T) {
		_, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, backends("empty"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := dial(t, l.client, "10.96.0.22:80", time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("service empty still unreachable after its endpoints appeared: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("session affinity survives the table being rewritten", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			got, err := dial(t, l.client, "10.96.0.21:80", 2*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			if got != stuck {
				t.Fatalf("connection %d after a resync reached %s, want %s as before", i, got, stuck)
			}
		}
	})
	var out strings.Builder
	inNetns(t, l.node, func() {
		if err := Rules(&out); err != nil {
			t.Errorf("Rules: %v", err)
		}
	})
	for _, want := range []string{
		"ip daddr 10.96.0.20 tcp dport 80 jump svc-default/web:http",
		"meta l4proto tcp dnat to 10.200.0.20:8080",
		"elements = { 10.200.0.10 expires",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Rules output lacks %q:\n%s", want, out.String())
		}
	}
}
