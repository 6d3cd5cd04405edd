package allocation

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// ipRange is the Service range: every address but the network's and the broadcast
// address, as kube-apiserver's allocator has it. Offsets count from the first usable
// address.
type ipRange struct {
	prefix netip.Prefix
	base   uint32 // first usable address
	size   uint32 // usable addresses
	// static is the lower band (kube-apiserver's reservation for addresses users ask
	// for, the kubernetes and kube-dns Services' among them): dynamic allocation takes
	// it only when the rest is full.
	static uint32
}

func parseIPRange(s string) (ipRange, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return ipRange{}, fmt.Errorf("service subnet %q: want an IPv4 CIDR", s)
	}
	p = p.Masked()
	if p.Bits() > 30 {
		return ipRange{}, fmt.Errorf("service subnet %s is too small", p)
	}
	r := ipRange{prefix: p, base: toUint(p.Addr()) + 1, size: 1<<(32-p.Bits()) - 2}
	r.static = min(max(16, r.size/16), 256)
	return r, nil
}

func (r ipRange) contains(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	u := toUint(a)
	return u >= r.base && u < r.base+r.size
}

func (r ipRange) at(off uint32) netip.Addr { return fromUint(r.base + off) }

// pick returns a free address chosen at random outside the lower band (the lower band
// when the rest is full), or false when none is free.
func (r ipRange) pick(taken func(netip.Addr) bool) (netip.Addr, bool) {
	off, ok := pickOffset(r.size, r.static, func(off uint32) bool { return taken(r.at(off)) })
	return r.at(off), ok
}

// portRange is the node port range, "30000-32767".
type portRange struct {
	base, size uint32
	static     uint32 // lower band, as for addresses
}

func parsePortRange(s string) (portRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if !ok || err1 != nil || err2 != nil || a == 0 || b < a {
		return portRange{}, fmt.Errorf("node port range %q: want FIRST-LAST", s)
	}
	r := portRange{base: uint32(a), size: uint32(b-a) + 1}
	r.static = min(max(16, r.size/32), 128)
	return r, nil
}

func (r portRange) contains(p int32) bool {
	return p > 0 && uint32(p) >= r.base && uint32(p) < r.base+r.size
}

func (r portRange) String() string {
	return fmt.Sprintf("%d-%d", r.base, r.base+r.size-1)
}

func (r portRange) pick(taken func(int32) bool) (int32, bool) {
	off, ok := pickOffset(r.size, r.static, func(off uint32) bool { return taken(int32(r.base + off)) })
	return int32(r.base + off), ok
}

// pickOffset chooses a free offset in [0, size): first a few random tries in the upper
// band [static, size), then a scan of it from a random start, then the lower band. A
// random choice, not the next free one, keeps a freshly released address from being
// handed out again at once.
func pickOffset(size, static uint32, taken func(uint32) bool) (uint32, bool) {
	if static >= size {
		static = 0
	}
	upper := size - static
	for range 32 {
		if off := static + rand.Uint32N(upper); !taken(off) {
			return off, true
		}
	}
	start := rand.Uint32N(upper)
	for i := range upper {
		if off := static + (start+i)%upper; !taken(off) {
			return off, true
		}
	}
	for off := range static {
		if !taken(off) {
			return off, true
		}
	}
	return 0, false
}

func toUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromUint(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
