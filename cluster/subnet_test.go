package cluster

import (
	"net/netip"
	"strings"
	"testing"
)

func TestChooseSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name  string
		inUse []netip.Prefix
		want  string
	}{
		{"empty", nil, "10.200.0.0/20"},
		{"docker defaults do not matter", []netip.Prefix{p("172.17.0.0/16"), p("192.168.0.0/20")}, "10.200.0.0/20"},
		{"first taken", []netip.Prefix{p("10.200.0.0/20")}, "10.200.16.0/20"},
		{"a small network inside the first", []netip.Prefix{p("10.200.3.0/24")}, "10.200.16.0/20"},
		{"a large network over several", []netip.Prefix{p("10.200.0.0/18")}, "10.200.64.0/20"},
		{"a network around the pool's start", []netip.Prefix{p("10.0.0.0/8")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseSubnet(tc.inUse)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "networking.subnet") {
					t.Fatalf("got %s, %v; want an error pointing at networking.subnet", got, err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestSubnetAddresses(t *testing.T) {
	s := netip.MustParsePrefix("10.210.0.0/20")
	if g := Gateway(s); g.String() != "10.210.0.1" {
		t.Errorf("gateway %s", g)
	}
	if r := PodRange(s); r.String() != "10.210.8.0/21" {
		t.Errorf("pod range %s", r)
	}
	if ip, _ := nodeIP(s, 0); ip.String() != "10.210.0.2" {
		t.Errorf("first node %s", ip)
	}
	if ip, _ := nodeIP(s, 2045); ip.String() != "10.210.7.255" {
		t.Errorf("last node %s", ip)
	}
	if _, err := nodeIP(s, 2046); err == nil {
		t.Error("node address in the pod range")
	}
	small := netip.MustParsePrefix("10.210.0.0/24")
	if r := PodRange(small); r.String() != "10.210.0.128/25" {
		t.Errorf("pod range of a /24: %s", r)
	}
	if _, err := nodeIP(small, 126); err == nil {
		t.Error("a /24 has room for 126 nodes")
	}
	used := []netip.Addr{netip.MustParseAddr("10.210.0.2"), netip.MustParseAddr("10.210.0.4")}
	if ip, err := freeNodeIP(s, used); err != nil || ip.String() != "10.210.0.3" {
		t.Errorf("free node address %s, %v", ip, err)
	}
}

func netipPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
