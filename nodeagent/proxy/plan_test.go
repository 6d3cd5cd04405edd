package proxy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// chainsOf renders a plan as rule lines per chain, the form the cases below assert on.
func chainsOf(p Plan) map[string][]string {
	out := map[string][]string{}
	for _, c := range p.Chains {
		out[c.Name] = []string{}
		for _, r := range c.Rules {
			out[c.Name] = append(out[c.Name], r.String())
		}
	}
	return out
}

func TestBuildPlan(t *testing.T) {
	type check struct {
		chain string
		rules []string // exactly these rules, in order
	}
	cases := []struct {
		name     string
		services []*corev1.Service
		slices   []*discoveryv1.EndpointSlice
		want     []check
		absent   []string // chains that must not exist
		lbIPs    []string
		sets     []Set
		counts   [2]int // services, endpoints
	}{{
		name: "ClusterIP with a TCP and a UDP port",
		services: []*corev1.Service{svc("kube-system", "kube-dns", "10.96.0.10",
			svcPort("dns", "UDP", 53, 0), svcPort("dns-tcp", "TCP", 53, 0))},
		slices: []*discoveryv1.EndpointSlice{
			slice("kube-system", "kube-dns", "dns", "UDP", 5353, ep("10.200.1.5", "n2", true)),
			slice("kube-system", "kube-dns", "dns-tcp", "TCP", 5353, ep("10.200.1.5", "n2", true)),
		},
		want: []check{
			{"services", []string{
				"ip daddr 10.96.0.10 udp dport 53 jump svc-kube-system/kube-dns:dns",
				"ip daddr 10.96.0.10 tcp dport 53 jump svc-kube-system/kube-dns:dns-tcp",
			}},
			{"svc-kube-system/kube-dns:dns", []string{"goto ep-kube-system/kube-dns:dns@10.200.1.5:5353"}},
			{"ep-kube-system/kube-dns:dns@10.200.1.5:5353", []string{
				"meta mark set mark | 0x4000",
				"meta l4proto udp dnat to 10.200.1.5:5353",
			}},
			{"ep-kube-system/kube-dns:dns-tcp@10.200.1.5:5353", []string{
				"meta mark set mark | 0x4000",
				"meta l4proto tcp dnat to 10.200.1.5:5353",
			}},
			{"no-endpoints", []string{}},
			{"nodeports", []string{}},
		},
		counts: [2]int{1, 2},
	}, {
		name: "headless and ExternalName services get no rules",
		services: []*corev1.Service{
			svc("default", "headless", "None", svcPort("", "TCP", 80, 0)),
			svc("default", "ext", "", svcType(corev1.ServiceTypeExternalName), svcPort("", "TCP", 80, 0)),
		},
		slices: []*discoveryv1.EndpointSlice{slice("default", "headless", "", "TCP", 80, ep("10.200.1.5", "n1", true))},
		want:   []check{{"services", []string{}}, {"no-endpoints", []string{}}},
		absent: []string{"svc-default/headless", "ep-default/headless@10.200.1.5:80"},
	}, {
		name:     "only ready endpoints; three of them balanced uniformly",
		services: []*corev1.Service{svc("default", "web", "10.96.0.20", svcPort("", "TCP", 80, 0))},
		slices: []*discoveryv1.EndpointSlice{slice("default", "web", "", "TCP", 8080,
			ep("10.200.1.3", "n1", true), ep("10.200.1.1", "n1", true), ep("10.200.1.9", "n1", false),
			terminating("10.200.1.8", "n1", true), ep("10.200.1.2", "n2", true))},
		want: []check{{"svc-default/web", []string{
			"numgen random mod 3 == 0 goto ep-default/web@10.200.1.1:8080",
			"numgen random mod 2 == 0 goto ep-default/web@10.200.1.2:8080",
			"goto ep-default/web@10.200.1.3:8080",
		}}},
		absent: []string{"ep-default/web@10.200.1.9:8080", "ep-default/web@10.200.1.8:8080"},
		counts: [2]int{1, 3},
	}, {
		name:     "no ready endpoints: serving terminating ones, as kube-proxy",
		services: []*corev1.Service{svc("default", "web", "10.96.0.20", svcPort("", "TCP", 80, 0))},
		slices: []*discoveryv1.EndpointSlice{slice("default", "web", "", "TCP", 8080,
			ep("10.200.1.9", "n1", false), terminating("10.200.1.8", "n1", true), terminating("10.200.1.7", "n1", false))},
		want:   []check{{"svc-default/web", []string{"goto ep-default/web@10.200.1.8:8080"}}},
		absent: []string{"ep-default/web@10.200.1.9:8080", "ep-default/web@10.200.1.7:8080"},
	}, {
		name: "no endpoints: ClusterIP, NodePort and LoadBalancer traffic rejected",
		services: []*corev1.Service{svc("default", "web", "10.96.0.20", svcPort("http", "TCP", 80, 30080),
			svcPort("q", "UDP", 53, 30053), lbIngress("n1", "10.200.15.1"))},
		slices: []*discoveryv1.EndpointSlice{slice("default", "web", "http", "TCP", 8080, ep("10.200.1.9", "n1", false))},
		want: []check{
			{"services", []string{}},
			{"nodeports", []string{}},
			{"no-endpoints", []string{
				"ip daddr 10.96.0.20 tcp dport 80 reject with tcp reset",
				"ip daddr 10.200.15.1 tcp dport 80 reject with tcp reset",
				"fib daddr type local tcp dport 30080 reject with tcp reset",
				"ip daddr 10.96.0.20 udp dport 53 reject with icmp port-unreachable",
				"ip daddr 10.200.15.1 udp dport 53 reject with icmp port-unreachable",
				"fib daddr type local udp dport 30053 reject with icmp port-unreachable",
			}},
		},
		lbIPs: []string{"10.200.15.1"},
	}, {
		name: "NodePort and LoadBalancer reach the service chain",
		services: []*corev1.Service{
			svc("default", "web", "10.96.0.20", svcPort("", "TCP", 80, 30080), lbIngress("n1", "10.200.15.1", "10.200.15.2")),
			svc("default", "other", "10.96.0.21", svcPort("", "TCP", 80, 30081), lbIngress("n2", "10.200.15.3")),
			svc("default", "np", "10.96.0.22", svcPort("", "TCP", 80, 30082), svcType(corev1.ServiceTypeNodePort)),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("default", "web", "", "TCP", 8080, ep("10.200.1.1", "n1", true)),
			slice("default", "other", "", "TCP", 8080, ep("10.200.1.1", "n1", true)),
			slice("default", "np", "", "TCP", 8080, ep("10.200.1.1", "n1", true)),
		},
		want: []check{
			{"services", []string{
				"ip daddr 10.96.0.22 tcp dport 80 jump svc-default/np",
				"ip daddr 10.96.0.21 tcp dport 80 jump svc-default/other",
				"ip daddr 10.200.15.3 tcp dport 80 jump svc-default/other",
				"ip daddr 10.96.0.20 tcp dport 80 jump svc-default/web",
				"ip daddr 10.200.15.1 tcp dport 80 jump svc-default/web",
				"ip daddr 10.200.15.2 tcp dport 80 jump svc-default/web",
				"fib daddr type local jump nodeports",
			}},
			{"nodeports", []string{
				"tcp dport 30082 jump svc-default/np",
				"tcp dport 30081 jump svc-default/other",
				"tcp dport 30080 jump svc-default/web",
			}},
		},
		lbIPs:  []string{"10.200.15.1", "10.200.15.2"},
		counts: [2]int{3, 3},
	}, {
		name: "ClientIP affinity: a set per endpoint, checked before the random choice",
		services: []*corev1.Service{
			svc("default", "web", "10.96.0.20", svcPort("", "TCP", 80, 0), clientIPAffinity(0)),
			svc("default", "short", "10.96.0.21", svcPort("", "TCP", 80, 0), clientIPAffinity(30)),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("default", "web", "", "TCP", 8080, ep("10.200.1.1", "n1", true), ep("10.200.1.2", "n2", true)),
			slice("default", "short", "", "TCP", 8080, ep("10.200.1.1", "n1", true)),
		},
		want: []check{
			{"svc-default/web", []string{
				"ip saddr @aff-default/web@10.200.1.1:8080 goto ep-default/web@10.200.1.1:8080",
				"ip saddr @aff-default/web@10.200.1.2:8080 goto ep-default/web@10.200.1.2:8080",
				"numgen random mod 2 == 0 goto ep-default/web@10.200.1.1:8080",
				"goto ep-default/web@10.200.1.2:8080",
			}},
			{"ep-default/web@10.200.1.2:8080", []string{
				"meta mark set mark | 0x4000",
				"update @aff-default/web@10.200.1.2:8080 { ip saddr }",
				"meta l4proto tcp dnat to 10.200.1.2:8080",
			}},
		},
		sets: []Set{
			{"aff-default/short@10.200.1.1:8080", 30 * time.Second},
			{"aff-default/web@10.200.1.1:8080", 3 * time.Hour},
			{"aff-default/web@10.200.1.2:8080", 3 * time.Hour},
		},
	}, {
		name: "internalTrafficPolicy Local: ClusterIP to this node's endpoints; none here drops",
		services: []*corev1.Service{
			svc("default", "here", "10.96.0.20", svcPort("", "TCP", 80, 0), internalLocal),
			svc("default", "elsewhere", "10.96.0.21", svcPort("", "TCP", 80, 0), internalLocal),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("default", "here", "", "TCP", 8080, ep("10.200.1.1", "n1", true), ep("10.200.1.2", "n2", true)),
			slice("default", "elsewhere", "", "TCP", 8080, ep("10.200.1.2", "n2", true)),
		},
		want: []check{
			{"services", []string{"ip daddr 10.96.0.20 tcp dport 80 jump local-default/here"}},
			{"local-default/here", []string{"goto ep-default/here@10.200.1.1:8080"}},
			{"no-endpoints", []string{"ip daddr 10.96.0.21 tcp dport 80 drop"}},
		},
		absent: []string{"svc-default/here", "ep-default/here@10.200.1.2:8080", "svc-default/elsewhere"},
	}, {
		name: "externalTrafficPolicy Local: NodePort and LB to local endpoints, ClusterIP to all",
		services: []*corev1.Service{
			svc("default", "here", "10.96.0.20", svcPort("", "TCP", 80, 30080), lbIngress("", "10.200.15.1"), externalLocal),
			svc("default", "elsewhere", "10.96.0.21", svcPort("", "TCP", 80, 30081), lbIngress("", "10.200.15.2"), externalLocal),
		},
		slices: []*discoveryv1.EndpointSlice{
			slice("default", "here", "", "TCP", 8080, ep("10.200.1.1", "n1", true), ep("10.200.1.2", "n2", true)),
			slice("default", "elsewhere", "", "TCP", 8080, ep("10.200.1.2", "n2", true)),
		},
		want: []check{
			{"services", []string{
				"ip daddr 10.96.0.21 tcp dport 80 jump svc-default/elsewhere",
				"ip daddr 10.96.0.20 tcp dport 80 jump svc-default/here",
				"ip daddr 10.200.15.1 tcp dport 80 jump local-default/here",
				"fib daddr type local jump nodeports",
			}},
			{"nodeports", []string{"tcp dport 30080 jump local-default/here"}},
			{"local-default/here", []string{"goto ep-default/here@10.200.1.1:8080"}},
			{"no-endpoints", []string{
				"ip daddr 10.200.15.2 tcp dport 80 drop",
				"fib daddr type local tcp dport 30081 drop",
			}},
		},
	}, {
		name:     "endpoints across slices: matched by port name, each once, IPv6 slices ignored",
		services: []*corev1.Service{svc("default", "web", "10.96.0.20", svcPort("http", "TCP", 80, 0))},
		slices: []*discoveryv1.EndpointSlice{
			slice("default", "web", "http", "TCP", 8080, ep("10.200.1.1", "n1", true)),
			slice("default", "web", "http", "TCP", 8080, ep("10.200.1.1", "n1", true), ep("10.200.1.2", "n1", true)),
			slice("default", "web", "metrics", "TCP", 9090, ep("10.200.1.3", "n1", true)),
			func() *discoveryv1.EndpointSlice {
				s := slice("default", "web", "http", "TCP", 8080, ep("fd00::1", "n1", true))
				s.AddressType = discoveryv1.AddressTypeIPv6
				return s
			}(),
			slice("other", "web", "http", "TCP", 8080, ep("10.200.1.4", "n1", true)),
		},
		want: []check{{"svc-default/web:http", []string{
			"numgen random mod 2 == 0 goto ep-default/web:http@10.200.1.1:8080",
			"goto ep-default/web:http@10.200.1.2:8080",
		}}},
		counts: [2]int{1, 2},
	}, {
		name: "hooks, masquerade of marked packets only, and the leak guard",
		want: []check{
			{"nat-prerouting", []string{"jump services"}},
			{"nat-output", []string{"jump services"}},
			{"nat-postrouting", []string{"meta mark & 0x4000 != 0 masquerade"}},
			{"filter-input", []string{"ct state new jump no-endpoints"}},
			{"filter-forward", []string{
				"ct state new jump no-endpoints",
				"ip daddr 10.96.0.0/12 ct status & dnat == 0 meta l4proto tcp reject with tcp reset",
				"ip daddr 10.96.0.0/12 ct status & dnat == 0 reject with icmp port-unreachable",
			}},
			{"filter-output", []string{
				"ct state new jump no-endpoints",
				"ip daddr 10.96.0.0/12 ct status & dnat == 0 meta l4proto tcp reject with tcp reset",
				"ip daddr 10.96.0.0/12 ct status & dnat == 0 reject with icmp port-unreachable",
			}},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := BuildPlan(PlanInput{Services: tc.services, Slices: tc.slices, NodeName: "n1",
				ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12")})
			got := chainsOf(p)
			for _, c := range tc.want {
				rules, ok := got[c.chain]
				if !ok {
					t.Errorf("no chain %s; plan:\n%s", c.chain, p.Format())
					continue
				}
				if !slices.Equal(rules, c.rules) {
					t.Errorf("chain %s:\n got %q\nwant %q", c.chain, rules, c.rules)
				}
			}
			for _, c := range tc.absent {
				if _, ok := got[c]; ok {
					t.Errorf("chain %s should not exist", c)
				}
			}
			var lb []string
			for _, a := range p.LoadBalancerIPs {
				lb = append(lb, a.String())
			}
			if !slices.Equal(lb, tc.lbIPs) {
				t.Errorf("load-balancer IPs %v, want %v", lb, tc.lbIPs)
			}
			if tc.sets != nil && !slices.Equal(p.Sets, tc.sets) {
				t.Errorf("sets %v, want %v", p.Sets, tc.sets)
			}
			if tc.counts != [2]int{} && (p.Services != tc.counts[0] || p.Endpoints != tc.counts[1]) {
				t.Errorf("counted %d services, %d endpoints; want %v", p.Services, p.Endpoints, tc.counts)
			}
			// Every chain a rule jumps to exists: the kernel would refuse the batch.
			for _, c := range p.Chains {
				for _, r := range c.Rules {
					if k := r.Action.Kind; (k == Jump || k == Goto) && got[r.Action.Target] == nil {
						t.Errorf("chain %s: %q targets a missing chain", c.Name, r)
					}
				}
			}
		})
	}
}

// The chain of "numgen random mod (N-i) == 0" rules gives every endpoint 1/N.
func TestBalancingIsUniform(t *testing.T) {
	for n := 1; n <= 7; n++ {
		var eps []discoveryv1.Endpoint
		for i := 0; i < n; i++ {
			eps = append(eps, ep(netip.AddrFrom4([4]byte{10, 200, 1, byte(i + 1)}).String(), "n1", true))
		}
		p := BuildPlan(PlanInput{
			Services: []*corev1.Service{svc("default", "web", "10.96.0.20", svcPort("", "TCP", 80, 0))},
			Slices:   []*discoveryv1.EndpointSlice{slice("default", "web", "", "TCP", 8080, eps...)},
		})
		var chain Chain
		for _, c := range p.Chains {
			if c.Name == "svc-default/web" {
				chain = c
			}
		}
		if len(chain.Rules) != n {
			t.Fatalf("%d endpoints: %d rules", n, len(chain.Rules))
		}
		left := 1.0 // probability a packet reaches rule i
		for i, r := range chain.Rules {
			share := left
			if r.RandomMod != 0 {
				share = left / float64(r.RandomMod)
			}
			if d := share - 1/float64(n); d > 1e-9 || d < -1e-9 {
				t.Errorf("%d endpoints: rule %d (%s) takes %.4f, want %.4f", n, i, r, share, 1/float64(n))
			}
			left -= share
		}
	}
}

func TestAddressChanges(t *testing.T) {
	pfx := func(ss ...string) (out []netip.Prefix) {
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	addrs := func(ss ...string) (out []netip.Addr) {
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	lbRange := netip.MustParsePrefix("10.200.15.0/24")
	for _, tc := range []struct {
		name     string
		have     []netip.Prefix
		want     []netip.Addr
		lbRange  netip.Prefix
		add, del string
	}{
		{"adds wanted, removes stale", pfx("10.200.0.2/20", "10.200.15.1/32", "10.200.15.9/32"), addrs("10.200.15.1", "10.200.15.2"), lbRange, "10.200.15.2", "10.200.15.9"},
		{"never touches addresses outside the range", pfx("10.200.1.9/32"), addrs("10.200.1.8"), lbRange, "", ""},
		{"never removes the node's own prefix inside the range", pfx("10.200.15.5/24"), nil, lbRange, "", ""},
		{"no range, no changes", pfx("10.200.15.9/32"), addrs("10.200.15.1"), netip.Prefix{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, del := addressChanges(tc.have, tc.want, tc.lbRange)
			str := func(as []netip.Addr) string {
				var s []string
				for _, a := range as {
					s = append(s, a.String())
				}
				return strings.Join(s, " ")
			}
			if str(add) != tc.add || str(del) != tc.del {
				t.Errorf("add %q del %q, want add %q del %q", str(add), str(del), tc.add, tc.del)
			}
		})
	}
}
