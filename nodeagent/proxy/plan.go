package proxy

import (
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// LoadBalancerNodeAnnotation names the node that answers for a LoadBalancer Service's
// ingress addresses: that node adds them to its cluster interface, so the host's ARP
// for them reaches it.
const LoadBalancerNodeAnnotation = "kindlike.dev/load-balancer-node"

// defaultAffinityTimeout is the Service API's default for
// sessionAffinityConfig.clientIP.timeoutSeconds (3 hours).
const defaultAffinityTimeout = 10800 * time.Second

// Chains every plan has. Services are matched in chain "services", reached from the
// nat hooks; traffic that must be refused is matched in "no-endpoints", reached from
// the filter hooks, because reject is not allowed in nat chains.
const (
	chainServices    = "services"
	chainNodePorts   = "nodeports"
	chainNoEndpoints = "no-endpoints"
)

// PlanInput is everything a plan depends on.
type PlanInput struct {
	Services    []*corev1.Service
	Slices      []*discoveryv1.EndpointSlice
	NodeName    string       // endpoints on this node are "local"
	ServiceCIDR netip.Prefix // addresses here that were not DNATed are rejected
}

// endpoint is one backend of one service port, as kube-proxy sees it.
type endpoint struct {
	addr                        netip.AddrPort
	local                       bool
	ready, serving, terminating bool
}

// BuildPlan computes the whole table from the API objects: kube-proxy's semantics,
// with every DNATed connection masqueraded to the node (kube-proxy's
// --masquerade-all), because pods share one L2 network and a backend would otherwise
// answer the client directly, past this node's conntrack.
func BuildPlan(in PlanInput) Plan {
	var p Plan
	var services, nodePorts, noEndpoints []Rule
	var svcChains []Chain
	epChains := map[string]Chain{}
	lbIPs := map[netip.Addr]bool{}

	slices := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range in.Slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		key := s.Namespace + "/" + name
		slices[key] = append(slices[key], s)
	}

	svcs := append([]*corev1.Service(nil), in.Services...)
	sort.Slice(svcs, func(i, j int) bool {
		return svcs[i].Namespace+"/"+svcs[i].Name < svcs[j].Namespace+"/"+svcs[j].Name
	})
	for _, svc := range svcs {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		clusterIP, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !clusterIP.Is4() {
			continue // headless ("None"), unallocated, or IPv6: no rules
		}
		svcKey := svc.Namespace + "/" + svc.Name
		var ingress []netip.Addr
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			for _, ing := range svc.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(ing.IP); err == nil && a.Is4() {
					ingress = append(ingress, a)
					if svc.Annotations[LoadBalancerNodeAnnotation] == in.NodeName && in.NodeName != "" {
						lbIPs[a] = true
					}
				}
			}
		}
		var affinity time.Duration
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = defaultAffinityTimeout
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
		externalLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		p.Services++

		for _, port := range svc.Spec.Ports {
			proto := protocol(port.Protocol)
			if proto == "" {
				continue
			}
			key := svcKey
			if port.Name != "" {
				key += ":" + port.Name
			}
			eps := endpointsFor(slices[svcKey], port, in.NodeName)
			cluster, local, hasAny := categorize(eps)

			// chainFor returns the chain that balances over eps, building it and its
			// endpoint chains once; "" when there is nothing to balance over.
			built := map[string]bool{}
			chainFor := func(prefix string, eps []endpoint) string {
				if len(eps) == 0 {
					return ""
				}
				name := prefix + key
				if built[name] {
					return name
				}
				built[name] = true
				c := Chain{Name: name}
				var epNames []string
				for _, ep := range eps {
					epName, setName := "ep-"+key+"@"+ep.addr.String(), ""
					if affinity > 0 {
						setName = "aff-" + key + "@" + ep.addr.String()
						c.Rules = append(c.Rules, Rule{SAddrSet: setName, Action: Action{Kind: Goto, Target: epName}})
					}
					epNames = append(epNames, epName)
					if _, ok := epChains[epName]; !ok {
						epChains[epName] = endpointChain(epName, setName, proto, ep.addr)
						if setName != "" {
							p.Sets = append(p.Sets, Set{Name: setName, Timeout: affinity})
						}
					}
				}
				// Rule i matches with probability 1/(N-i) among the packets rules
				// 0..i-1 let through, which makes every endpoint's share 1/N.
				for i, epName := range epNames {
					r := Rule{Action: Action{Kind: Goto, Target: epName}}
					if n := len(epNames) - i; n > 1 {
						r.RandomMod = uint32(n)
					}
					c.Rules = append(c.Rules, r)
				}
				svcChains = append(svcChains, c)
				return name
			}

			policyChain := func(isLocal bool) string {
				if isLocal {
					return chainFor("local-", local)
				}
				return chainFor("svc-", cluster)
			}
			hasNodePort := port.NodePort != 0 && (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer)
			internal, internalNone := policyChain(internalLocal), Reject
			external, externalNone := "", Reject
			if hasNodePort || len(ingress) > 0 {
				external = policyChain(externalLocal)
			}
			// With endpoints elsewhere but none here, a Local policy drops, as
			// kube-proxy does: the service exists, this node just may not serve it.
			if hasAny {
				internalNone, externalNone = Drop, Drop
			}

			dst := func(addr netip.Addr) netip.Prefix { return netip.PrefixFrom(addr, 32) }
			route := func(to *[]Rule, r Rule, chain, none string) {
				if chain != "" {
					r.Action = Action{Kind: Jump, Target: chain}
					*to = append(*to, r)
					return
				}
				r.Action = Action{Kind: none}
				noEndpoints = append(noEndpoints, r)
			}
			route(&services, Rule{DAddr: dst(clusterIP), Proto: proto, DPort: uint16(port.Port)}, internal, internalNone)
			for _, a := range ingress {
				route(&services, Rule{DAddr: dst(a), Proto: proto, DPort: uint16(port.Port)}, external, externalNone)
			}
			if hasNodePort {
				r := Rule{Proto: proto, DPort: uint16(port.NodePort)}
				if external == "" {
					// The no-endpoints chain also sees forwarded packets, so it must
					// check the address is ours.
					r.DAddrLocal = true
				}
				route(&nodePorts, r, external, externalNone)
			}
		}
	}
	if len(nodePorts) > 0 {
		services = append(services, Rule{DAddrLocal: true, Action: Action{Kind: Jump, Target: chainNodePorts}})
	}

	jump := func(c string) Rule { return Rule{Action: Action{Kind: Jump, Target: c}} }
	checkNew := Rule{CtNew: true, Action: Action{Kind: Jump, Target: chainNoEndpoints}}
	filter := []Rule{checkNew}
	if in.ServiceCIDR.IsValid() {
		// Leak guard: a service address nobody DNATed is refused here, rather than
		// routed towards the host's default route.
		cidr := in.ServiceCIDR.Masked()
		filter = append(filter,
			Rule{DAddr: cidr, NotDNAT: true, Proto: "tcp", Action: Action{Kind: Reject}},
			Rule{DAddr: cidr, NotDNAT: true, Action: Action{Kind: Reject}})
	}
	p.Chains = []Chain{
		{Name: "nat-prerouting", Hook: &Hook{"nat", "prerouting", -100}, Rules: []Rule{jump(chainServices)}},
		{Name: "nat-output", Hook: &Hook{"nat", "output", -100}, Rules: []Rule{jump(chainServices)}},
		{Name: "nat-postrouting", Hook: &Hook{"nat", "postrouting", 100}, Rules: []Rule{{Marked: true, Action: Action{Kind: Masquerade}}}},
		{Name: "filter-input", Hook: &Hook{"filter", "input", 0}, Rules: []Rule{checkNew}},
		{Name: "filter-forward", Hook: &Hook{"filter", "forward", 0}, Rules: filter},
		{Name: "filter-output", Hook: &Hook{"filter", "output", 0}, Rules: filter},
		{Name: chainServices, Rules: services},
		{Name: chainNodePorts, Rules: nodePorts},
		{Name: chainNoEndpoints, Rules: noEndpoints},
	}
	p.Chains = append(p.Chains, svcChains...)
	names := make([]string, 0, len(epChains))
	for n := range epChains {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p.Chains = append(p.Chains, epChains[n])
	}
	p.Endpoints = len(epChains)
	sort.Slice(p.Sets, func(i, j int) bool { return p.Sets[i].Name < p.Sets[j].Name })
	for a := range lbIPs {
		p.LoadBalancerIPs = append(p.LoadBalancerIPs, a)
	}
	sort.Slice(p.LoadBalancerIPs, func(i, j int) bool { return p.LoadBalancerIPs[i].Less(p.LoadBalancerIPs[j]) })
	return p
}

// endpointChain marks the connection for masquerade, remembers the client for
// affinity, and DNATs to the endpoint.
func endpointChain(name, affinitySet, proto string, to netip.AddrPort) Chain {
	c := Chain{Name: name, Rules: []Rule{{Action: Action{Kind: SetMark}}}}
	if affinitySet != "" {
		c.Rules = append(c.Rules, Rule{Action: Action{Kind: UpdateSet, Target: affinitySet}})
	}
	c.Rules = append(c.Rules, Rule{Proto: proto, Action: Action{Kind: DNAT, To: to}})
	return c
}

func protocol(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP, "":
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return ""
}

// endpointsFor collects the endpoints of one service port from the service's
// slices, sorted, each address once.
func endpointsFor(slices []*discoveryv1.EndpointSlice, port corev1.ServicePort, node string) []endpoint {
	seen := map[netip.AddrPort]int{}
	var eps []endpoint
	for _, s := range slices {
		var number int32
		for _, sp := range s.Ports {
			name, proto := "", corev1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == port.Name && proto == port.Protocol && sp.Port != nil {
				number = *sp.Port
			}
		}
		if number == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !a.Is4() {
				continue
			}
			// The API reads an unset ready or serving as true.
			ep := endpoint{
				addr:        netip.AddrPortFrom(a, uint16(number)),
				local:       e.NodeName != nil && *e.NodeName == node,
				ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
				serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
				terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
			}
			if i, ok := seen[ep.addr]; ok {
				// The same address in two slices (mid-update): trust the readier.
				if ep.ready && !eps[i].ready {
					eps[i] = ep
				}
				continue
			}
			seen[ep.addr] = len(eps)
			eps = append(eps, ep)
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].addr.Compare(eps[j].addr) < 0 })
	return eps
}

// categorize is kube-proxy's CategorizeEndpoints: ready endpoints, or when none are
// ready, the serving terminating ones, so connections still land during a rollout's
// last moments; chosen separately for the cluster and for this node.
func categorize(eps []endpoint) (cluster, local []endpoint, hasAny bool) {
	pick := func(keep func(endpoint) bool) []endpoint {
		var ready, terminating []endpoint
		for _, e := range eps {
			if !keep(e) {
				continue
			}
			if e.ready {
				ready = append(ready, e)
			} else if e.serving && e.terminating {
				terminating = append(terminating, e)
			}
		}
		if len(ready) > 0 {
			return ready
		}
		return terminating
	}
	cluster = pick(func(endpoint) bool { return true })
	local = pick(func(e endpoint) bool { return e.local })
	return cluster, local, len(cluster) > 0
}
