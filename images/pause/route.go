package main

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// routeVia makes gateway, the pod's own node, the pod's default route. Docker gives
// every container on the cluster network the bridge's gateway (the host) as its
// default route; a Kubernetes pod instead sends what is not on its own network to its
// node, where kube-proxy's rules turn Service addresses into pod addresses. Traffic
// to other pods stays direct: the cluster network's own route is kept.
func routeVia(gateway string) error {
	gw := net.ParseIP(gateway).To4()
	if gw == nil {
		return fmt.Errorf("gateway %q is not an IPv4 address", gateway)
	}
	routes, err := netlink.RouteGet(gw)
	if err != nil {
		return fmt.Errorf("route to %s: %w", gw, err)
	}
	if len(routes) == 0 {
		return fmt.Errorf("no route to %s", gw)
	}
	link := routes[0].LinkIndex
	def := &netlink.Route{LinkIndex: link, Gw: gw, Scope: netlink.SCOPE_UNIVERSE}
	if err := netlink.RouteReplace(def); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}
