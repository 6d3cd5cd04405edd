package cluster

import (
	"errors"
	"fmt"
	"net/netip"
)

// Subnets are picked from defaultPool, in /20 steps: 128 clusters, each with room for
// 2,000 nodes and 2,000 pods. The pool sits clear of Docker's own default pools
// (172.17.0.0/12, 192.168.0.0/16) and of the Service range (10.96.0.0/12).
var defaultPool = netip.MustParsePrefix("10.200.0.0/13")

const defaultSubnetBits = 20

// chooseSubnet returns the first /20 of the pool that overlaps no subnet in use.
func chooseSubnet(inUse []netip.Prefix) (netip.Prefix, error) {
	step := uint32(1) << (32 - defaultSubnetBits)
	base := addrUint(defaultPool.Addr())
	for off := uint32(0); off < uint32(1)<<(32-defaultPool.Bits()); off += step {
		candidate := netip.PrefixFrom(uintAddr(base+off), defaultSubnetBits)
		if overlapping(candidate, inUse) == (netip.Prefix{}) {
			return candidate, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in %s: delete clusters or set networking.subnet", defaultSubnetBits, defaultPool)
}

// overlapping returns the first subnet in use that overlaps p, or the zero Prefix.
func overlapping(p netip.Prefix, inUse []netip.Prefix) netip.Prefix {
	for _, u := range inUse {
		if u.Overlaps(p) {
			return u
		}
	}
	return netip.Prefix{}
}

// Addresses of a cluster subnet: the gateway is the first host address; nodes take
// fixed addresses from the rest of the lower half, in order; the engine gives pods
// addresses from the upper half.

// Gateway is the subnet's first host address.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Addr().Next() }

// PodRange is the upper half of the subnet.
func PodRange(subnet netip.Prefix) netip.Prefix {
	half := uint32(1) << (32 - subnet.Bits() - 1)
	return netip.PrefixFrom(uintAddr(addrUint(subnet.Addr())+half), subnet.Bits()+1)
}

// nodeIP is the i-th (0-based) node address.
func nodeIP(subnet netip.Prefix, i int) (netip.Addr, error) {
	half := uint32(1) << (32 - subnet.Bits() - 1)
	off := uint32(i) + 2
	if i < 0 || off >= half {
		return netip.Addr{}, fmt.Errorf("subnet %s has room for %d nodes", subnet, half-2)
	}
	return uintAddr(addrUint(subnet.Addr()) + off), nil
}

// freeNodeIP is the lowest node address not in used.
func freeNodeIP(subnet netip.Prefix, used []netip.Addr) (netip.Addr, error) {
	taken := map[netip.Addr]bool{}
	for _, a := range used {
		taken[a] = true
	}
	for i := 0; ; i++ {
		ip, err := nodeIP(subnet, i)
		if err != nil {
			return netip.Addr{}, errors.New("no node address left in the cluster's subnet")
		}
		if !taken[ip] {
			return ip, nil
		}
	}
}

func addrUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintAddr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
