package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

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

// DeleteNetwork removes a network by name. The engine refuses while endpoints are
// attached, and a container removed in the middle of its start can leave one behind
// with no container on it ("has active endpoints"): those are disconnected by force,
// then the removal is tried again.
func (p *Provider) DeleteNetwork(ctx context.Context, name string) error {
	err := p.cli.NetworkRemove(ctx, name)
	for attempt := 0; err != nil && strings.Contains(err.Error(), "active endpoints") && attempt < 5; attempt++ {
		if n, ierr := p.cli.NetworkInspect(ctx, name, network.InspectOptions{}); ierr == nil {
			for id, ep := range n.Containers {
				target := ep.Name
				if target == "" {
					target = id
				}
				_ = p.cli.NetworkDisconnect(ctx, name, target, true)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
		err = p.cli.NetworkRemove(ctx, name)
	}
	if err != nil && strings.Contains(err.Error(), "active endpoints") {
		return fmt.Errorf("remove network %s: Docker counts an endpoint on it that no container holds, a fault of the Docker daemon that restarting it clears (for example `sudo systemctl restart docker`); then run the delete again: %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, notFound(err))
	}
	return nil
}
