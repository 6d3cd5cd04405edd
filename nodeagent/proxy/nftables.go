package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ctStatusDNAT is IPS_DST_NAT: conntrack sets it on connections a DNAT rule rewrote.
const ctStatusDNAT uint32 = 1 << 5

// icmpPortUnreachable is the ICMP destination-unreachable code a refused UDP or SCTP
// client sees as ECONNREFUSED.
const icmpPortUnreachable = 3

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

var hookNumbers = map[string]nftables.ChainHook{
	"prerouting":  *nftables.ChainHookPrerouting,
	"input":       *nftables.ChainHookInput,
	"forward":     *nftables.ChainHookForward,
	"output":      *nftables.ChainHookOutput,
	"postrouting": *nftables.ChainHookPostrouting,
}

// programmer writes plans to, and reads the table back from, one network namespace:
// netns is a namespace file descriptor, 0 for the caller's own.
type programmer struct {
	netns int
}

func (p programmer) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if p.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(p.netns))
	}
	return nftables.New(opts...)
}

func table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
}

// apply replaces the table with the plan in one netlink batch, which the kernel
// commits atomically: packets see the old rules or the new, never a mix or none.
func (p programmer) apply(plan Plan) error {
	c, err := p.conn()
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	remembered, err := p.affinityClients()
	if err != nil {
		return err
	}
	t := table()
	// Adding first makes the delete valid when the table does not exist yet.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	chains := map[string]*nftables.Chain{}
	for _, ch := range plan.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t}
		if h := ch.Hook; h != nil {
			num, ok := hookNumbers[h.Hook]
			if !ok {
				return fmt.Errorf("chain %s: unknown hook %q", ch.Name, h.Hook)
			}
			prio := nftables.ChainPriority(h.Priority)
			nc.Hooknum, nc.Priority, nc.Type = &num, &prio, nftables.ChainType(h.Type)
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	sets := map[string]*nftables.Set{}
	for _, s := range plan.Sets {
		ns := &nftables.Set{Table: t, Name: s.Name, KeyType: nftables.TypeIPAddr, Dynamic: true, HasTimeout: true, Timeout: s.Timeout}
		if err := c.AddSet(ns, remembered[s.Name]); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		sets[s.Name] = ns
	}
	for _, ch := range plan.Chains {
		for _, r := range ch.Rules {
			exprs, err := encode(r, sets)
			if err != nil {
				return fmt.Errorf("chain %s: rule %q: %w", ch.Name, r, err)
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: chains[ch.Name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replace table ip %s: %w", TableName, err)
	}
	return nil
}

// affinityClients reads the clients each affinity set remembers, with the time they
// have left, so that rewriting the table does not make every client's next
// connection pick an endpoint afresh. A client remembered between this read and the
// commit is forgotten once: the price of rewriting the table whole.
func (p programmer) affinityClients() (map[string][]nftables.SetElement, error) {
	c, err := p.conn()
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	t, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err != nil {
		return nil, nil // no table yet: nothing remembered
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("read affinity sets: %w", err)
	}
	out := map[string][]nftables.SetElement{}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("read affinity set %s: %w", s.Name, err)
		}
		for _, el := range els {
			if el.Expires > 0 {
				out[s.Name] = append(out[s.Name], nftables.SetElement{Key: el.Key, Timeout: el.Expires})
			}
		}
	}
	return out, nil
}

func native32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// match loads a value into register 1, masks it when mask is set, and compares.
func match(load expr.Any, mask []byte, op expr.CmpOp, data []byte) []expr.Any {
	e := []expr.Any{load}
	if mask != nil {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)), Mask: mask, Xor: make([]byte, len(mask))})
	}
	return append(e, &expr.Cmp{Op: op, Register: 1, Data: data})
}

func encode(r Rule, sets map[string]*nftables.Set) ([]expr.Any, error) {
	var e []expr.Any
	saddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	if r.CtNew {
		e = append(e, match(&expr.Ct{Register: 1, Key: expr.CtKeySTATE}, native32(expr.CtStateBitNEW), expr.CmpOpNeq, native32(0))...)
	}
	if r.Marked {
		e = append(e, match(&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, native32(MasqueradeMark), expr.CmpOpNeq, native32(0))...)
	}
	if r.SAddrSet != "" {
		s, ok := sets[r.SAddrSet]
		if !ok {
			return nil, fmt.Errorf("no set %s", r.SAddrSet)
		}
		e = append(e, saddr, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID})
	}
	if r.DAddr.IsValid() {
		daddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
		var mask []byte
		if !r.DAddr.IsSingleIP() {
			mask = binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-r.DAddr.Bits()))
		}
		a := r.DAddr.Masked().Addr().As4()
		e = append(e, match(daddr, mask, expr.CmpOpEq, a[:])...)
	}
	if r.NotDNAT {
		e = append(e, match(&expr.Ct{Register: 1, Key: expr.CtKeySTATUS}, native32(ctStatusDNAT), expr.CmpOpEq, native32(0))...)
	}
	if r.DAddrLocal {
		e = append(e, match(&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true}, nil, expr.CmpOpEq, native32(unix.RTN_LOCAL))...)
	}
	if r.Proto != "" {
		n, ok := protoNumbers[r.Proto]
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q", r.Proto)
		}
		e = append(e, match(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, nil, expr.CmpOpEq, []byte{n})...)
		if r.DPort != 0 {
			dport := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
			e = append(e, match(dport, nil, expr.CmpOpEq, binaryutil.BigEndian.PutUint16(r.DPort))...)
		}
	}
	if r.RandomMod != 0 {
		e = append(e, match(&expr.Numgen{Register: 1, Modulus: r.RandomMod, Type: unix.NFT_NG_RANDOM}, nil, expr.CmpOpEq, native32(0))...)
	}
	// Counters let `kindlike kube-proxy rules` show which rules traffic took.
	e = append(e, &expr.Counter{})
	switch a := r.Action; a.Kind {
	case Jump:
		e = append(e, &expr.Verdict{Kind: expr.VerdictJump, Chain: a.Target})
	case Goto:
		e = append(e, &expr.Verdict{Kind: expr.VerdictGoto, Chain: a.Target})
	case Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case Reject:
		if r.Proto == "tcp" {
			e = append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
		} else {
			e = append(e, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable})
		}
	case DNAT:
		ip := a.To.Addr().As4()
		e = append(e,
			&expr.Immediate{Register: 1, Data: ip[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(a.To.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2})
	case Masquerade:
		e = append(e, &expr.Masq{})
	case SetMark:
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native32(^MasqueradeMark), Xor: native32(MasqueradeMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	case UpdateSet:
		s, ok := sets[a.Target]
		if !ok {
			return nil, fmt.Errorf("no set %s", a.Target)
		}
		e = append(e, saddr, &expr.Dynset{SrcRegKey: 1, SetName: s.Name, SetID: s.ID, Operation: unix.NFT_DYNSET_OP_UPDATE})
	default:
		return nil, fmt.Errorf("unknown action %q", a.Kind)
	}
	return e, nil
}

// state is the table as read back from the kernel: the plan it encodes, plus what
// only the kernel knows (counters, remembered affinity clients).
type state struct {
	plan     Plan
	counters map[string][]expr.Counter // by chain, per rule
	elements map[string][]string       // by set
}

var errNoTable = errors.New("no table ip " + TableName)

// read decodes the table from the kernel. Expressions the proxy never writes show as
// "unknown" rather than failing, so a hand-edited table still prints.
func (p programmer) read() (state, error) {
	st := state{counters: map[string][]expr.Counter{}, elements: map[string][]string{}}
	c, err := p.conn()
	if err != nil {
		return st, fmt.Errorf("open nftables: %w", err)
	}
	t, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file") {
			return st, errNoTable
		}
		return st, fmt.Errorf("read table ip %s: %w", TableName, err)
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return st, fmt.Errorf("read sets: %w", err)
	}
	for _, s := range sets {
		st.plan.Sets = append(st.plan.Sets, Set{Name: s.Name, Timeout: s.Timeout})
		els, err := c.GetSetElements(s)
		if err != nil {
			return st, fmt.Errorf("read set %s: %w", s.Name, err)
		}
		for _, el := range els {
			if a, ok := netip.AddrFromSlice(el.Key); ok {
				st.elements[s.Name] = append(st.elements[s.Name], fmt.Sprintf("%s expires %s", a, el.Expires.Round(time.Second)))
			}
		}
	}
	sort.Slice(st.plan.Sets, func(i, j int) bool { return st.plan.Sets[i].Name < st.plan.Sets[j].Name })
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return st, fmt.Errorf("read chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != TableName {
			continue
		}
		out := Chain{Name: ch.Name}
		if ch.Hooknum != nil {
			out.Hook = &Hook{Type: string(ch.Type), Hook: hookName(*ch.Hooknum)}
			if ch.Priority != nil {
				out.Hook.Priority = int32(*ch.Priority)
			}
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return st, fmt.Errorf("read chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			rule, counter := decode(r.Exprs)
			out.Rules = append(out.Rules, rule)
			st.counters[ch.Name] = append(st.counters[ch.Name], counter)
		}
		st.plan.Chains = append(st.plan.Chains, out)
	}
	return st, nil
}

func hookName(h nftables.ChainHook) string {
	for name, n := range hookNumbers {
		if n == h {
			return name
		}
	}
	return fmt.Sprintf("hook%d", h)
}

// decode is encode's inverse for the expressions encode writes.
func decode(exprs []expr.Any) (Rule, expr.Counter) {
	var r Rule
	var counter expr.Counter
	var loaded string // what register 1 holds
	var imm [2][]byte // immediates in registers 1 and 2, for dnat
	var unknown []string
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Ct:
			loaded = map[expr.CtKey]string{expr.CtKeySTATE: "ctstate", expr.CtKeySTATUS: "ctstatus"}[e.Key]
		case *expr.Meta:
			switch {
			case e.SourceRegister && e.Key == expr.MetaKeyMARK:
				r.Action = Action{Kind: SetMark}
			case e.Key == expr.MetaKeyMARK:
				loaded = "mark"
			case e.Key == expr.MetaKeyL4PROTO:
				loaded = "l4proto"
			default:
				loaded = ""
			}
		case *expr.Payload:
			switch {
			case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 12:
				loaded = "saddr"
			case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 16:
				loaded = "daddr"
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2:
				loaded = "dport"
			default:
				loaded = ""
			}
		case *expr.Fib:
			loaded = "fib"
		case *expr.Numgen:
			loaded, r.RandomMod = "numgen", e.Modulus
		case *expr.Bitwise:
			if loaded == "daddr" && len(e.Mask) == 4 {
				ones := 0
				for _, b := range e.Mask {
					for ; b&0x80 != 0; b <<= 1 {
						ones++
					}
				}
				loaded = fmt.Sprintf("daddr/%d", ones)
			}
		case *expr.Cmp:
			switch {
			case loaded == "ctstate":
				r.CtNew = true
			case loaded == "ctstatus":
				r.NotDNAT = true
			case loaded == "mark":
				r.Marked = true
			case loaded == "fib":
				r.DAddrLocal = true
			case loaded == "l4proto" && len(e.Data) == 1:
				for name, n := range protoNumbers {
					if n == e.Data[0] {
						r.Proto = name
					}
				}
			case loaded == "dport" && len(e.Data) == 2:
				r.DPort = binary.BigEndian.Uint16(e.Data)
			case strings.HasPrefix(loaded, "daddr") && len(e.Data) == 4:
				bits := 32
				fmt.Sscanf(loaded, "daddr/%d", &bits)
				r.DAddr = netip.PrefixFrom(netip.AddrFrom4([4]byte(e.Data)), bits)
			case loaded == "numgen":
			default:
				unknown = append(unknown, "cmp")
			}
		case *expr.Lookup:
			r.SAddrSet = e.SetName
		case *expr.Counter:
			counter = *e
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictJump:
				r.Action = Action{Kind: Jump, Target: e.Chain}
			case expr.VerdictGoto:
				r.Action = Action{Kind: Goto, Target: e.Chain}
			case expr.VerdictDrop:
				r.Action = Action{Kind: Drop}
			default:
				unknown = append(unknown, fmt.Sprintf("verdict %d", e.Kind))
			}
		case *expr.Reject:
			r.Action = Action{Kind: Reject}
		case *expr.Immediate:
			if e.Register == 1 || e.Register == 2 {
				imm[e.Register-1] = e.Data
			}
		case *expr.NAT:
			if e.Type == expr.NATTypeDestNAT && len(imm[0]) == 4 && len(imm[1]) == 2 {
				r.Action = Action{Kind: DNAT, To: netip.AddrPortFrom(netip.AddrFrom4([4]byte(imm[0])), binary.BigEndian.Uint16(imm[1]))}
			} else {
				unknown = append(unknown, "nat")
			}
		case *expr.Masq:
			r.Action = Action{Kind: Masquerade}
		case *expr.Dynset:
			r.Action = Action{Kind: UpdateSet, Target: e.SetName}
		default:
			unknown = append(unknown, fmt.Sprintf("%T", e))
		}
	}
	if len(unknown) > 0 {
		r.Action = Action{Kind: "unknown(" + strings.Join(unknown, ", ") + ")"}
	}
	return r, counter
}

// format writes the table as nft-like text, with counters and affinity clients.
func (st state) format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for _, s := range st.plan.Sets {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout %s\n", s.Name, s.Timeout)
		if els := st.elements[s.Name]; len(els) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(els, ", "))
		}
		b.WriteString("\t}\n")
	}
	for _, c := range st.plan.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Hook != nil {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d;\n", c.Hook.Type, c.Hook.Hook, c.Hook.Priority)
		}
		for i, r := range c.Rules {
			line := r.String()
			if cs := st.counters[c.Name]; i < len(cs) {
				line = fmt.Sprintf("%s  # packets %d bytes %d", line, cs[i].Packets, cs[i].Bytes)
			}
			fmt.Fprintf(&b, "\t\t%s\n", line)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}
