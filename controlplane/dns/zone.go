package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Cache indexes that let a query be answered without scanning every object.
const (
	byClusterIP = "clusterIP"   // Service by each of its cluster IPs
	byService   = "service"     // EndpointSlice by "namespace/service"
	byAddress   = "hostAddress" // EndpointSlice by the address of each endpoint with a hostname
)

// zone is the cluster domain's data: informer caches and the names they define.
type zone struct {
	factory   informers.SharedInformerFactory
	services  cache.Indexer
	slices    cache.Indexer
	hasSynced []cache.InformerSynced
	origin    string // "cluster.local."
	ttl       uint32
	// serial is the SOA serial: the time of the last change seen, so that a
	// secondary (or a curious human) can tell the data moved.
	serial atomic.Uint32
}

func newZone(factory informers.SharedInformerFactory, origin string, ttl time.Duration) (*zone, error) {
	z := &zone{factory: factory, origin: origin, ttl: uint32(ttl / time.Second)}
	z.serial.Store(uint32(time.Now().Unix()))
	svcInf := factory.Core().V1().Services().Informer()
	if err := svcInf.AddIndexers(cache.Indexers{byClusterIP: serviceClusterIPs}); err != nil {
		return nil, fmt.Errorf("index services: %w", err)
	}
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := sliceInf.AddIndexers(cache.Indexers{byService: sliceService, byAddress: sliceHostAddresses}); err != nil {
		return nil, fmt.Errorf("index endpointslices: %w", err)
	}
	touch := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { z.serial.Store(uint32(time.Now().Unix())) },
		UpdateFunc: func(any, any) { z.serial.Store(uint32(time.Now().Unix())) },
		DeleteFunc: func(any) { z.serial.Store(uint32(time.Now().Unix())) },
	}
	for _, inf := range []cache.SharedIndexInformer{svcInf, sliceInf} {
		if _, err := inf.AddEventHandler(touch); err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		z.hasSynced = append(z.hasSynced, inf.HasSynced)
	}
	z.services = svcInf.GetIndexer()
	z.slices = sliceInf.GetIndexer()
	return z, nil
}

func serviceClusterIPs(obj any) ([]string, error) {
	svc := obj.(*corev1.Service)
	var ips []string
	for _, ip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && !slices.Contains(ips, a.String()) {
			ips = append(ips, a.String())
		}
	}
	return ips, nil
}

func sliceService(obj any) ([]string, error) {
	s := obj.(*discoveryv1.EndpointSlice)
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func sliceHostAddresses(obj any) ([]string, error) {
	s := obj.(*discoveryv1.EndpointSlice)
	var keys []string
	for _, ep := range s.Endpoints {
		if ep.Hostname == nil || *ep.Hostname == "" {
			continue
		}
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				keys = append(keys, ip.String())
			}
		}
	}
	return keys, nil
}

func (z *zone) counts() (services, slices int) {
	return len(z.services.ListKeys()), len(z.slices.ListKeys())
}

// answer answers req from the caches, or says (false) that the name is not ours and
// belongs upstream: outside the cluster domain, or a reverse name of no cluster address.
func (z *zone) answer(req *dns.Msg, synced bool) (*dns.Msg, bool) {
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	resp := new(dns.Msg).SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if ip, ok := reverseAddr(name); ok {
		// Reverse names fall through upstream unless they are a cluster address, as
		// CoreDNS's "fallthrough in-addr.arpa ip6.arpa" does: node and external
		// addresses keep their own PTRs.
		if q.Qtype != dns.TypePTR || !synced {
			return nil, false
		}
		targets := z.ptrTargets(ip)
		if len(targets) == 0 {
			return nil, false
		}
		for _, t := range targets {
			resp.Answer = append(resp.Answer, &dns.PTR{Hdr: z.hdr(q.Name, dns.TypePTR), Ptr: t})
		}
		return resp, true
	}
	if !dns.IsSubDomain(z.origin, name) {
		return nil, false
	}
	if !synced {
		resp.Rcode = dns.RcodeServerFailure
		return resp, true
	}
	rrs, extra, exists := z.lookup(q.Name, strings.TrimSuffix(strings.TrimSuffix(name, z.origin), "."))
	if !exists {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{z.soa()}
		return resp, true
	}
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if t == q.Qtype || q.Qtype == dns.TypeANY && t != dns.TypeSOA {
			resp.Answer = append(resp.Answer, rr)
		}
	}
	// A name with a CNAME has no other data: whatever was asked, the alias answers.
	if len(resp.Answer) == 0 && len(rrs) > 0 && rrs[0].Header().Rrtype == dns.TypeCNAME {
		resp.Answer = rrs[:1]
	}
	if len(resp.Answer) == 0 {
		resp.Ns = []dns.RR{z.soa()}
	} else if q.Qtype == dns.TypeSRV {
		resp.Extra = extra
	}
	return resp, true
}

func (z *zone) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: z.ttl}
}

func (z *zone) soa() dns.RR {
	return &dns.SOA{
		Hdr:     z.hdr(z.origin, dns.TypeSOA),
		Ns:      "ns.dns." + z.origin,
		Mbox:    "hostmaster." + z.origin,
		Serial:  z.serial.Load(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  z.ttl,
	}
}

// lookup returns every record at owner (as asked, for its case) whose name relative
// to the zone is rel, the address records of SRV targets, and whether the name exists
// at all: an existing name with no record of the asked type is NODATA, not NXDOMAIN.
func (z *zone) lookup(owner, rel string) (rrs, extra []dns.RR, exists bool) {
	if rel == "" {
		return []dns.RR{z.soa()}, nil, true
	}
	labels := dns.SplitDomainName(rel)
	n := len(labels)
	switch {
	case rel == "dns-version":
		// The version of the Kubernetes DNS schema served, as the specification asks.
		return []dns.RR{&dns.TXT{Hdr: z.hdr(owner, dns.TypeTXT), Txt: []string{"1.1.0"}}}, nil, true
	case labels[n-1] == "svc":
		return z.lookupService(owner, labels[:n-1])
	case labels[n-1] == "pod":
		return z.lookupPod(owner, labels[:n-1])
	}
	return nil, nil, false
}

// lookupPod answers <dashed-ip>.<ns>.pod from the name alone, as CoreDNS's "pods
// insecure" (kube-dns's behaviour) does.
func (z *zone) lookupPod(owner string, labels []string) ([]dns.RR, []dns.RR, bool) {
	switch len(labels) {
	case 0, 1: // pod.<zone> and <ns>.pod.<zone> are empty non-terminals
		return nil, nil, true
	case 2:
		ip, ok := dashedAddr(labels[0])
		if !ok {
			return nil, nil, false
		}
		return []dns.RR{z.addrRR(owner, ip)}, nil, true
	}
	return nil, nil, false
}

// lookupService answers names under svc: labels are what precedes "svc", outermost last.
func (z *zone) lookupService(owner string, labels []string) ([]dns.RR, []dns.RR, bool) {
	n := len(labels)
	switch n {
	case 0:
		return nil, nil, true
	case 1:
		objs, _ := z.services.ByIndex(cache.NamespaceIndex, labels[0])
		return nil, nil, len(objs) > 0
	}
	if n > 4 {
		return nil, nil, false
	}
	svc := z.service(labels[n-1], labels[n-2])
	if svc == nil {
		return nil, nil, false
	}
	svcName := strings.Join(labels[n-2:], ".") + ".svc." + z.origin
	switch n {
	case 2:
		return z.serviceRecords(owner, svcName, svc)
	case 3:
		if strings.HasPrefix(labels[0], "_") {
			// _<proto>.<svc>: an empty non-terminal when some named port uses proto.
			for _, p := range z.ports(svc) {
				if p.name != "" && "_"+p.proto == labels[0] {
					return nil, nil, true
				}
			}
			return nil, nil, false
		}
		var rrs []dns.RR
		for _, ep := range z.endpoints(svc) {
			if ep.label() == labels[0] {
				rrs = append(rrs, z.addrRR(owner, ep.addr))
			}
		}
		return rrs, nil, len(rrs) > 0
	default: // _<port>._<proto>.<svc>
		port, ok1 := strings.CutPrefix(labels[0], "_")
		proto, ok2 := strings.CutPrefix(labels[1], "_")
		if !ok1 || !ok2 {
			return nil, nil, false
		}
		return z.srvRecords(owner, svcName, svc, func(p namedPort) bool { return p.name == port && p.proto == proto })
	}
}

func (z *zone) service(ns, name string) *corev1.Service {
	obj, ok, _ := z.services.GetByKey(ns + "/" + name)
	if !ok {
		return nil
	}
	return obj.(*corev1.Service)
}

func (z *zone) serviceRecords(owner, svcName string, svc *corev1.Service) ([]dns.RR, []dns.RR, bool) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return []dns.RR{&dns.CNAME{Hdr: z.hdr(owner, dns.TypeCNAME), Target: dns.Fqdn(svc.Spec.ExternalName)}}, nil, true
	}
	var rrs []dns.RR
	if headless(svc) {
		for _, ep := range z.endpoints(svc) {
			rrs = append(rrs, z.addrRR(owner, ep.addr))
		}
	} else {
		ips, _ := serviceClusterIPs(svc)
		for _, ip := range ips {
			rrs = append(rrs, z.addrRR(owner, netip.MustParseAddr(ip)))
		}
	}
	srvs, extra, _ := z.srvRecords(owner, svcName, svc, func(namedPort) bool { return true })
	// A Service exists as a name even with no endpoint: NODATA lets the client's
	// search list stop here, as CoreDNS does unless told "ignore empty_service".
	return append(rrs, srvs...), extra, true
}

// srvRecords lists the SRV records of svc's ports that match: to the service name
// for a cluster IP, to each endpoint's name for a headless service.
func (z *zone) srvRecords(owner, svcName string, svc *corev1.Service, match func(namedPort) bool) (rrs, extra []dns.RR, exists bool) {
	type srv struct {
		target string
		port   uint16
		addr   netip.Addr
	}
	var srvs []srv
	if headless(svc) {
		for _, ep := range z.endpoints(svc) {
			for _, p := range ep.ports {
				if match(p) {
					srvs = append(srvs, srv{ep.label() + "." + svcName, p.port, ep.addr})
				}
			}
		}
	} else {
		ips, _ := serviceClusterIPs(svc)
		for _, p := range z.ports(svc) {
			if match(p) {
				srvs = append(srvs, srv{target: svcName, port: p.port})
			}
		}
		if len(srvs) > 0 {
			for _, ip := range ips {
				extra = append(extra, z.addrRR(svcName, netip.MustParseAddr(ip)))
			}
		}
	}
	// Equal weights that add up to about 100, as CoreDNS gives.
	weight := uint16(max(1, 100/max(1, len(srvs))))
	seen := map[string]bool{}
	for _, s := range srvs {
		rrs = append(rrs, &dns.SRV{Hdr: z.hdr(owner, dns.TypeSRV), Priority: 0, Weight: weight, Port: s.port, Target: s.target})
		if s.addr.IsValid() && !seen[s.target+s.addr.String()] {
			seen[s.target+s.addr.String()] = true
			extra = append(extra, z.addrRR(s.target, s.addr))
		}
	}
	return rrs, extra, len(rrs) > 0
}

func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// namedPort is a port as DNS names it: lower-case name and protocol.
type namedPort struct {
	name, proto string
	port        uint16
}

func newPort(name *string, proto *corev1.Protocol, port int32) namedPort {
	p := namedPort{proto: "tcp", port: uint16(port)}
	if name != nil {
		p.name = strings.ToLower(*name)
	}
	if proto != nil && *proto != "" {
		p.proto = strings.ToLower(string(*proto))
	}
	return p
}

func (z *zone) ports(svc *corev1.Service) []namedPort {
	var ps []namedPort
	for _, p := range svc.Spec.Ports {
		ps = append(ps, newPort(&p.Name, &p.Protocol, p.Port))
	}
	return ps
}

type endpoint struct {
	addr     netip.Addr
	hostname string
	ports    []namedPort // target ports, from the EndpointSlice
}

// label is the endpoint's name under its service: its hostname (a StatefulSet pod's
// name when the pod sets subdomain), else its address with dashes, as CoreDNS names it.
func (e endpoint) label() string {
	if e.hostname != "" {
		return strings.ToLower(e.hostname)
	}
	if e.addr.Is4() {
		return strings.ReplaceAll(e.addr.String(), ".", "-")
	}
	return strings.ReplaceAll(e.addr.String(), ":", "-")
}

// endpoints are svc's endpoint addresses from its EndpointSlices: the ready ones, or
// all of them when the Service publishes not-ready addresses. An address in more than
// one slice (while the controller moves it) counts once.
func (z *zone) endpoints(svc *corev1.Service) []endpoint {
	objs, _ := z.slices.ByIndex(byService, svc.Namespace+"/"+svc.Name)
	var eps []endpoint
	index := map[netip.Addr]int{}
	for _, obj := range objs {
		s := obj.(*discoveryv1.EndpointSlice)
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var ports []namedPort
		for _, p := range s.Ports {
			if p.Port != nil {
				ports = append(ports, newPort(p.Name, p.Protocol, *p.Port))
			}
		}
		for _, e := range s.Endpoints {
			// A nil Ready means unknown, which the API says to read as ready.
			if !svc.Spec.PublishNotReadyAddresses && e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				if i, ok := index[ip]; ok {
					for _, p := range ports {
						if !slices.Contains(eps[i].ports, p) {
							eps[i].ports = append(eps[i].ports, p)
						}
					}
					continue
				}
				ep := endpoint{addr: ip, ports: ports}
				if e.Hostname != nil {
					ep.hostname = *e.Hostname
				}
				index[ip] = len(eps)
				eps = append(eps, ep)
			}
		}
	}
	return eps
}

// ptrTargets are the names of a cluster address: the services it is a cluster IP of,
// and the named endpoints of headless services it is the address of.
func (z *zone) ptrTargets(ip netip.Addr) []string {
	var names []string
	objs, _ := z.services.ByIndex(byClusterIP, ip.String())
	for _, obj := range objs {
		svc := obj.(*corev1.Service)
		names = append(names, svc.Name+"."+svc.Namespace+".svc."+z.origin)
	}
	objs, _ = z.slices.ByIndex(byAddress, ip.String())
	for _, obj := range objs {
		s := obj.(*discoveryv1.EndpointSlice)
		svc := z.service(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
		if svc == nil || !headless(svc) {
			continue
		}
		for _, ep := range z.endpoints(svc) {
			name := ep.label() + "." + svc.Name + "." + svc.Namespace + ".svc." + z.origin
			if ep.addr == ip && ep.hostname != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

func (z *zone) addrRR(owner string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: z.hdr(owner, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: z.hdr(owner, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

// dashedAddr reads a pod name label: 10-244-1-5, or fd00--5 for IPv6.
func dashedAddr(label string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
		return ip, true
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && !ip.Is4In6() {
		return ip, true
	}
	return netip.Addr{}, false
}

// reverseAddr reads a full reverse name (4.3.2.1.in-addr.arpa., or 32 nibbles under
// ip6.arpa.); partial ones are zone cuts that are not ours.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(l)
		ip, err := netip.ParseAddr(strings.Join(l, "."))
		return ip, err == nil && ip.Is4()
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		slices.Reverse(l)
		var b strings.Builder
		for i, nib := range l {
			if len(nib) != 1 {
				return netip.Addr{}, false
			}
			if i > 0 && i%4 == 0 {
				b.WriteByte(':')
			}
			b.WriteString(nib)
		}
		ip, err := netip.ParseAddr(b.String())
		return ip, err == nil && ip.Is6()
	}
	return netip.Addr{}, false
}
