package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// TableName is the nftables table (family ip) the proxy owns. It replaces the table
// whole on every sync and never reads or writes any other table: Docker's embedded DNS
// rules live in the same network namespace.
const TableName = "kindlike"

// MasqueradeMark is the packet mark bit that asks the postrouting chain to masquerade
// a packet, the bit kube-proxy uses. Only marked packets are masqueraded, so other NAT
// in the namespace (Docker's DNS) keeps its own addresses.
const MasqueradeMark uint32 = 0x4000

// Plan is the whole content of the proxy's table: what one sync programs.
type Plan struct {
	Chains []Chain
	Sets   []Set
	// Services and Endpoints count what the plan balances to, for the sync log line.
	Services, Endpoints int
	// LoadBalancerIPs are the addresses this node should answer for on the cluster
	// interface, sorted.
	LoadBalancerIPs []netip.Addr
}

// Chain is one nftables chain. A base chain has a Hook; a regular chain is only
// reached by jump or goto.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Hook attaches a base chain to the netfilter hooks.
type Hook struct {
	Type     string // "nat" or "filter"
	Hook     string // "prerouting", "input", "forward", "output", "postrouting"
	Priority int32
}

// Set is a dynamic set of client addresses, for ClientIP session affinity: an address
// stays in the set for Timeout after its last connection.
type Set struct {
	Name    string
	Timeout time.Duration
}

// Verdict kinds: what a rule does once its matches hold.
const (
	Jump       = "jump"
	Goto       = "goto"
	Drop       = "drop"
	Reject     = "reject"
	DNAT       = "dnat"
	Masquerade = "masquerade"
	SetMark    = "mark"   // sets MasqueradeMark and continues
	UpdateSet  = "update" // adds ip saddr to Action.Target and continues
)

// Rule is one nftables rule in the small vocabulary the proxy needs. Zero fields do
// not match; every set field must hold for the action to run.
type Rule struct {
	CtNew      bool         // ct state new
	Marked     bool         // meta mark & 0x4000 != 0
	SAddrSet   string       // ip saddr @set
	DAddr      netip.Prefix // ip daddr (a /32 is one address)
	NotDNAT    bool         // ct status & dnat == 0: the connection was not DNATed
	DAddrLocal bool         // fib daddr type local: a local address of this node
	Proto      string       // "tcp", "udp", "sctp": meta l4proto
	DPort      uint16       // <proto> dport; needs Proto
	RandomMod  uint32       // numgen random mod N == 0: true with probability 1/N

	Action Action
}

// Action is a rule's statement. Reject answers TCP with a reset when the rule matches
// Proto tcp, and anything else with ICMP port unreachable.
type Action struct {
	Kind   string
	Target string         // chain of jump/goto, set of update
	To     netip.AddrPort // dnat destination
}

// String renders the rule as nft would print it, near enough for a reader who knows
// nft.
func (r Rule) String() string {
	var b []string
	if r.CtNew {
		b = append(b, "ct state new")
	}
	if r.Marked {
		b = append(b, fmt.Sprintf("meta mark & %#x != 0", MasqueradeMark))
	}
	if r.SAddrSet != "" {
		b = append(b, "ip saddr @"+r.SAddrSet)
	}
	if r.DAddr.IsValid() {
		if r.DAddr.IsSingleIP() {
			b = append(b, "ip daddr "+r.DAddr.Addr().String())
		} else {
			b = append(b, "ip daddr "+r.DAddr.String())
		}
	}
	if r.NotDNAT {
		b = append(b, "ct status & dnat == 0")
	}
	if r.DAddrLocal {
		b = append(b, "fib daddr type local")
	}
	switch {
	case r.Proto != "" && r.DPort != 0:
		b = append(b, fmt.Sprintf("%s dport %d", r.Proto, r.DPort))
	case r.Proto != "":
		b = append(b, "meta l4proto "+r.Proto)
	}
	if r.RandomMod != 0 {
		b = append(b, fmt.Sprintf("numgen random mod %d == 0", r.RandomMod))
	}
	b = append(b, r.Action.string(r.Proto))
	return strings.Join(b, " ")
}

func (a Action) string(proto string) string {
	switch a.Kind {
	case Jump, Goto:
		return a.Kind + " " + a.Target
	case Reject:
		if proto == "tcp" {
			return "reject with tcp reset"
		}
		return "reject with icmp port-unreachable"
	case DNAT:
		return "dnat to " + a.To.String()
	case SetMark:
		return fmt.Sprintf("meta mark set mark | %#x", MasqueradeMark)
	case UpdateSet:
		return "update @" + a.Target + " { ip saddr }"
	default:
		return a.Kind
	}
}

// Format writes the plan as nft-like text, as `kindlike kube-proxy rules` prints the
// kernel's table.
func (p Plan) Format() string { return state{plan: p}.format() }
