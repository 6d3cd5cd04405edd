package docker

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/network"

	"github.com/kindlike/kindlike/cluster"
)

// Subnets lists every IPv4 subnet the engine's networks use.
func (p *Provider) Subnets(ctx context.Context) ([]netip.Prefix, error) {
	nets, err := p.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var out []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if s, err := netip.ParsePrefix(c.Subnet); err == nil && s.Addr().Is4() {
				out = append(out, s.Masked())
			}
		}
	}
	return out, nil
}

// CreateNetwork makes the cluster's bridge network. The engine hands out addresses
// only from the upper half (pods); nodes take fixed ones from the lower half.
func (p *Provider) CreateNetwork(ctx context.Context, clusterName string, subnet netip.Prefix) error {
	name := cluster.NetworkName(clusterName)
	_, err := p.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet:  subnet.String(),
			IPRange: cluster.PodRange(subnet).String(),
			Gateway: cluster.Gateway(subnet).String(),
		}}},
		Labels: labels(clusterName, ""),
	})
	if err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// Network returns the subnet of the cluster's network.
func (p *Provider) Network(ctx context.Context, clusterName string) (netip.Prefix, bool, error) {
	nets, err := p.cli.NetworkList(ctx, network.ListOptions{Filters: clusterFilter(clusterName)})
	if err != nil {
		return netip.Prefix{}, false, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if n.Name != cluster.NetworkName(clusterName) {
			continue
		}
		for _, c := range n.IPAM.Config {
			if s, err := netip.ParsePrefix(c.Subnet); err == nil && s.Addr().Is4() {
				return s, true, nil
			}
		}
	}
	return netip.Prefix{}, false, nil
}

// DeleteNetwork removes a network by name.
func (p *Provider) DeleteNetwork(ctx context.Context, name string) error {
	if err := p.cli.NetworkRemove(ctx, name); err != nil {
		return fmt.Errorf("remove network %s: %w", name, notFound(err))
	}
	return nil
}
