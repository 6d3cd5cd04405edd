package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// addressChanges says which /32 addresses to add to and remove from the cluster
// interface. Only addresses in lbRange are ever touched, so the node's own address and
// anything else on the interface are safe whatever the Services say.
func addressChanges(have []netip.Prefix, want []netip.Addr, lbRange netip.Prefix) (add, del []netip.Addr) {
	if !lbRange.IsValid() {
		return nil, nil
	}
	wanted := map[netip.Addr]bool{}
	for _, a := range want {
		if lbRange.Contains(a) {
			wanted[a] = true
		}
	}
	present := map[netip.Addr]bool{}
	for _, p := range have {
		if p.Bits() != 32 || !lbRange.Contains(p.Addr()) {
			continue
		}
		present[p.Addr()] = true
		if !wanted[p.Addr()] {
			del = append(del, p.Addr())
		}
	}
	for _, a := range want {
		if wanted[a] && !present[a] {
			add = append(add, a)
			present[a] = true
		}
	}
	return add, del
}

// syncAddresses makes the interface's load-balancer addresses those of want.
func syncAddresses(ns netns.NsHandle, link string, lbRange netip.Prefix, want []netip.Addr, log *slog.Logger) error {
	if !lbRange.IsValid() {
		return nil
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("cluster interface %s: %w", link, err)
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", link, err)
	}
	var have []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok {
			have = append(have, netip.PrefixFrom(ip, ones))
		}
	}
	add, del := addressChanges(have, want, lbRange)
	for _, a := range del {
		if err := h.AddrDel(l, addr32(a)); err != nil {
			return fmt.Errorf("remove load-balancer address %s from %s: %w", a, link, err)
		}
		log.Info("removed load-balancer address", "address", a, "interface", link)
	}
	for _, a := range add {
		if err := h.AddrAdd(l, addr32(a)); err != nil {
			return fmt.Errorf("add load-balancer address %s to %s: %w", a, link, err)
		}
		log.Info("added load-balancer address", "address", a, "interface", link)
	}
	return nil
}

func addr32(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
}
