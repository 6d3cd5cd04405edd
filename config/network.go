package config

import (
	"fmt"
	"net/netip"
)

// Network is the cluster's address plan, the same on every node: `kindlike create
// cluster` writes it into every node's config. Control planes allocate from it
// (ClusterIPs, NodePorts, node podCIDRs, LoadBalancer addresses); agents and kube-proxy
// program the nodes' routes and rules from it.
type Network struct {
	// Subnet is the cluster's Docker network. Nodes take fixed addresses from its lower
	// half; pods from PodSubnet.
	Subnet string `json:"subnet,omitempty"`
	// PodSubnet is the cluster CIDR: every node's spec.podCIDR is carved from it, and
	// its pods' addresses come from that podCIDR.
	PodSubnet string `json:"podSubnet,omitempty"`
	// NodeCIDRMaskSize is the prefix length of each node's podCIDR.
	NodeCIDRMaskSize int `json:"nodeCIDRMaskSize,omitempty"`
	// ServiceSubnet is the range ClusterIPs come from; its first address is the
	// kubernetes Service's, its tenth kube-dns's.
	ServiceSubnet string `json:"serviceSubnet,omitempty"`
	// NodePortRange is the range of node ports, "30000-32767".
	NodePortRange string `json:"nodePortRange,omitempty"`
	// LoadBalancerRange is the addresses on the cluster network that LoadBalancer
	// Services get as their EXTERNAL-IP, reachable from the host.
	LoadBalancerRange string `json:"loadBalancerRange,omitempty"`
	// ClusterDomain is the DNS domain of the cluster, cluster.local.
	ClusterDomain string `json:"clusterDomain,omitempty"`
}

// Defaults of the address plan, as kubeadm has them.
const (
	DefaultServiceSubnet    = "10.96.0.0/12"
	DefaultNodePortRange    = "30000-32767"
	DefaultClusterDomain    = "cluster.local"
	DefaultNodeCIDRMaskSize = 24
)

// NetworkFor is the address plan of a cluster on subnet: pods in its upper half,
// LoadBalancer addresses in the last 256 addresses (at most) of its lower half, the
// rest of the lower half for nodes.
func NetworkFor(subnet netip.Prefix) Network {
	subnet = subnet.Masked()
	half := subnet.Bits() + 1
	lower := netip.PrefixFrom(subnet.Addr(), half)
	upper := netip.PrefixFrom(addAddr(subnet.Addr(), 1<<(32-half)), half)
	lbBits := max(24, half+1)
	lb := netip.PrefixFrom(addAddr(lower.Addr(), 1<<(32-half)-1<<(32-lbBits)), lbBits)
	return Network{
		Subnet:            subnet.String(),
		PodSubnet:         upper.String(),
		NodeCIDRMaskSize:  max(DefaultNodeCIDRMaskSize, half),
		ServiceSubnet:     DefaultServiceSubnet,
		NodePortRange:     DefaultNodePortRange,
		LoadBalancerRange: lb.String(),
		ClusterDomain:     DefaultClusterDomain,
	}
}

// WithDefaults fills what a config written by an older kindlike lacks.
func (n Network) WithDefaults() Network {
	if n.Subnet != "" {
		if s, err := netip.ParsePrefix(n.Subnet); err == nil {
			d := NetworkFor(s)
			setDefault(&n.PodSubnet, d.PodSubnet)
			setDefault(&n.NodeCIDRMaskSize, d.NodeCIDRMaskSize)
			setDefault(&n.LoadBalancerRange, d.LoadBalancerRange)
		}
	}
	setDefault(&n.ServiceSubnet, DefaultServiceSubnet)
	setDefault(&n.NodePortRange, DefaultNodePortRange)
	setDefault(&n.ClusterDomain, DefaultClusterDomain)
	return n
}

// ServiceIP is the i-th address of the Service range (1: the kubernetes Service,
// 10: kube-dns).
func (n Network) ServiceIP(i int) (netip.Addr, error) {
	p, err := netip.ParsePrefix(n.ServiceSubnet)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service subnet %q: %w", n.ServiceSubnet, err)
	}
	a := addAddr(p.Masked().Addr(), uint32(i))
	if !p.Contains(a) {
		return netip.Addr{}, fmt.Errorf("service subnet %s has no address %d", p, i)
	}
	return a, nil
}

// ClusterDNS is the kube-dns Service's address, the tenth of the Service range.
func (n Network) ClusterDNS() (netip.Addr, error) { return n.ServiceIP(10) }

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func addAddr(a netip.Addr, off uint32) netip.Addr {
	b := a.As4()
	u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	u += off
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
