// Package allocation hands out Services' cluster IPs and node ports, as kube-apiserver's
// allocators do, and records each under a key of its own in the store, outside the
// API's key space:
//
//	/kindlike/allocations/serviceips/<ip>          cluster IPs
//	/kindlike/allocations/servicenodeports/<port>  node ports and health check node ports
//
// whose value names the Service holding it. The API server writes these claims in the
// same store transaction as the Service itself, so the Raft log decides who gets an
// address: a claim of a key that exists is refused with the whole write, whichever
// member the two writes came through. Allocations thus survive leader changes and
// restarts with the rest of the state, and need no bitmap of their own to repair.
package allocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/apiserver"
	"github.com/kindlike/kindlike/controlplane/store"
)

// Key prefixes of the claims.
const (
	Prefix          = "/kindlike/allocations/"
	ServiceIPPrefix = Prefix + "serviceips/"
	NodePortPrefix  = Prefix + "servicenodeports/"
)

// kube-apiserver's allocator errors, which clients see in the messages.
var (
	errIPAllocated   = errors.New("provided IP is already allocated")
	errPortAllocated = errors.New("provided port is already allocated")
	errFull          = errors.New("range is full")
)

// Reader reads the claims: this member's state of the store, which compare-and-swap in
// the transaction makes safe to decide from.
type Reader interface {
	Get(ctx context.Context, key string, consistent bool) (store.Entry, error)
	List(ctx context.Context, prefix string, consistent bool) ([]store.Entry, uint64, error)
}

// Owner is the value of a claim: the Service holding it.
type Owner struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

// Services allocates cluster IPs and node ports; it is the API server's
// ServiceAllocator.
type Services struct {
	ips   ipRange
	ports portRange
	store Reader
}

var _ apiserver.ServiceAllocator = (*Services)(nil)

// NewServices allocates from the network's Service range and node port range.
func NewServices(network config.Network, st Reader) (*Services, error) {
	network = network.WithDefaults()
	ips, err := parseIPRange(network.ServiceSubnet)
	if err != nil {
		return nil, err
	}
	ports, err := parsePortRange(network.NodePortRange)
	if err != nil {
		return nil, err
	}
	return &Services{ips: ips, ports: ports, store: st}, nil
}

// IPKey is the claim key of a cluster IP.
func IPKey(ip netip.Addr) string { return ServiceIPPrefix + ip.String() }

// NodePortKey is the claim key of a node port.
func NodePortKey(port int32) string { return NodePortPrefix + strconv.Itoa(int(port)) }

// claim is one key a Service holds, and what to tell its user when it is taken.
type claim struct {
	key string
	// picked says the allocator chose it; taken is the error for a requested one.
	picked bool
	taken  error
}

// Allocate gives svc what it needs: a cluster IP unless it is ExternalName or
// headless, node ports for each port of a NodePort or LoadBalancer Service (unless
// allocateLoadBalancerNodePorts is false), a health check node port for a
// LoadBalancer Service with externalTrafficPolicy Local. Addresses the user asked for
// are checked against the range and the claims this member knows; the transaction
// settles races. On update, what old held and svc no longer does is released, what it
// still holds is kept.
func (a *Services) Allocate(ctx context.Context, svc, old *corev1.Service) (*apiserver.Allocation, error) {
	held := map[string]bool{}
	if old != nil {
		for _, k := range a.keys(old) {
			held[k] = true
		}
	}
	var claims []claim
	// want lists every key svc will hold, so nothing is picked twice.
	want := map[string]bool{}
	add := func(c claim) {
		if !want[c.key] {
			want[c.key] = true
			if !held[c.key] {
				claims = append(claims, c)
			}
		}
	}
	taken, err := a.takenKeys(ctx)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	free := func(key string) bool { return !want[key] && (!taken[key] || held[key]) }

	if err := a.allocateClusterIP(svc, old, add, free); err != nil {
		return nil, err
	}
	if err := a.allocateNodePorts(svc, add, free); err != nil {
		return nil, err
	}
	if err := a.allocateHealthCheck(svc, old, add, free); err != nil {
		return nil, err
	}

	// Requested addresses someone else holds: refused now, as kube-apiserver would.
	for _, c := range claims {
		if !c.picked && taken[c.key] {
			return nil, c.taken
		}
	}
	owner, err := json.Marshal(Owner{Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID})
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	alloc := &apiserver.Allocation{}
	byKey := map[string]claim{}
	for _, c := range claims {
		alloc.Ops = append(alloc.Ops, store.CreateOp(c.key, owner))
		byKey[c.key] = c
	}
	if old != nil {
		released, err := a.releaseOps(ctx, old, want)
		if err != nil {
			return nil, err
		}
		alloc.Ops = append(alloc.Ops, released...)
	}
	alloc.Refused = func(key string) (error, bool) {
		if c, ok := byKey[key]; ok && !c.picked {
			return c.taken, false
		}
		return nil, true // a picked address went to someone else, or a released claim changed
	}
	return alloc, nil
}

// allocateClusterIP gives svc a cluster IP, or checks the one it asks for. On update
// only a Service that had none gets one (it stops being ExternalName); anything else
// about cluster IPs on update is validation's to judge.
func (a *Services) allocateClusterIP(svc, old *corev1.Service, add func(claim), free func(string) bool) error {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName || isHeadless(svc) {
		return nil
	}
	if old != nil && old.Spec.Type != corev1.ServiceTypeExternalName {
		if ip, ok := a.clusterIP(old); ok && len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] == ip.String() {
			add(claim{key: IPKey(ip)}) // kept
		}
		return nil
	}
	if len(spec.ClusterIPs) == 0 {
		ip, ok := a.ips.pick(func(ip netip.Addr) bool { return !free(IPKey(ip)) })
		if !ok {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %v", errFull))
		}
		spec.ClusterIP = ip.String()
		spec.ClusterIPs = []string{ip.String()}
		add(claim{key: IPKey(ip), picked: true})
		return nil
	}
	requested := spec.ClusterIPs[0]
	ip, err := netip.ParseAddr(requested)
	if err != nil || !ip.Is4() {
		return nil // not an address of this cluster's family: validation says so
	}
	invalid := func(reason string) error {
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"), spec.ClusterIPs,
			fmt.Sprintf("failed to allocate IP %s: %s", requested, reason))})
	}
	if !a.ips.contains(ip) {
		return invalid(fmt.Sprintf("the provided IP (%s) is not in the valid range. The range of valid IPs is %s", requested, a.ips.prefix))
	}
	add(claim{key: IPKey(ip), taken: invalid(errIPAllocated.Error())})
	return nil
}

// allocateNodePorts gives node ports to the ports of a NodePort or LoadBalancer
// Service that need one, and checks the ones asked for. Ports with the same number
// (TCP and UDP of one port) share a node port, as kube-apiserver has them.
func (a *Services) allocateNodePorts(svc *corev1.Service, add func(claim), free func(string) bool) error {
	spec := &svc.Spec
	if spec.Type != corev1.ServiceTypeNodePort && spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	allocate := spec.Type == corev1.ServiceTypeNodePort || ptr.Deref(spec.AllocateLoadBalancerNodePorts, true)
	byPort := map[int32]int32{}
	for i := range spec.Ports {
		if np := spec.Ports[i].NodePort; np != 0 {
			if _, ok := byPort[spec.Ports[i].Port]; !ok {
				byPort[spec.Ports[i].Port] = np
			}
		}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.NodePort == 0 {
			if !allocate {
				continue
			}
			if np, ok := byPort[p.Port]; ok {
				p.NodePort = np
				continue
			}
			np, ok := a.ports.pick(func(port int32) bool { return !free(NodePortKey(port)) })
			if !ok {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %v", errFull))
			}
			p.NodePort = np
			byPort[p.Port] = np
			add(claim{key: NodePortKey(np), picked: true})
			continue
		}
		invalid := func(reason string) error {
			return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, reason)})
		}
		if !a.ports.contains(p.NodePort) {
			return invalid(fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", a.ports))
		}
		add(claim{key: NodePortKey(p.NodePort), taken: invalid(errPortAllocated.Error())})
	}
	return nil
}

// allocateHealthCheck gives a LoadBalancer Service with externalTrafficPolicy Local its
// health check node port, or checks the one asked for. kube-apiserver answers a
// refused one with an internal error, and so do we.
func (a *Services) allocateHealthCheck(svc, old *corev1.Service, add func(claim), free func(string) bool) error {
	if !needsHealthCheck(svc) {
		return nil
	}
	hc := svc.Spec.HealthCheckNodePort
	if old != nil && needsHealthCheck(old) && old.Spec.HealthCheckNodePort == hc {
		add(claim{key: NodePortKey(hc)}) // kept; a change is validation's to refuse
		return nil
	}
	if hc == 0 {
		np, ok := a.ports.pick(func(port int32) bool { return !free(NodePortKey(port)) })
		if !ok {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a HealthCheck NodePort %v: %v", 0, errFull))
		}
		svc.Spec.HealthCheckNodePort = np
		add(claim{key: NodePortKey(np), picked: true})
		return nil
	}
	refuse := func(reason error) error {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate requested HealthCheck NodePort %v: %v", hc, reason))
	}
	if !a.ports.contains(hc) {
		return refuse(fmt.Errorf("provided port is not in the valid range. The range of valid ports is %s", a.ports))
	}
	if !free(NodePortKey(hc)) {
		return refuse(errPortAllocated) // one of its own node ports
	}
	add(claim{key: NodePortKey(hc), taken: refuse(errPortAllocated)})
	return nil
}

// Release returns the deletes of the claims svc holds. Only claims naming svc (by
// uid) are released, each at the revision read, so a claim that changed hands is never
// taken from its new holder.
func (a *Services) Release(ctx context.Context, svc *corev1.Service) ([]store.Op, error) {
	return a.releaseOps(ctx, svc, nil)
}

func (a *Services) releaseOps(ctx context.Context, svc *corev1.Service, keep map[string]bool) ([]store.Op, error) {
	var ops []store.Op
	for _, k := range a.keys(svc) {
		if keep[k] {
			continue
		}
		e, err := a.store.Get(ctx, k, false)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("read claim %s: %w", k, err))
		}
		var o Owner
		if json.Unmarshal(e.Value, &o) != nil || o.UID != svc.UID {
			continue
		}
		ops = append(ops, store.DeleteOp(k, e.Rev))
	}
	return ops, nil
}

// keys lists the claims a stored Service holds, derived from its spec alone.
func (a *Services) keys(svc *corev1.Service) []string {
	var out []string
	if ip, ok := a.clusterIP(svc); ok {
		out = append(out, IPKey(ip))
	}
	seen := map[int32]bool{}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !seen[p.NodePort] {
				seen[p.NodePort] = true
				out = append(out, NodePortKey(p.NodePort))
			}
		}
	}
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 && needsHealthCheck(svc) && !seen[hc] {
		out = append(out, NodePortKey(hc))
	}
	return out
}

// clusterIP is the address a Service holds in the range, if any.
func (a *Services) clusterIP(svc *corev1.Service) (netip.Addr, bool) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.ClusterIPs) == 0 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIPs[0])
	if err != nil || !a.ips.contains(ip) {
		return netip.Addr{}, false
	}
	return ip, true
}

// takenKeys is every claim, as of the latest committed write.
func (a *Services) takenKeys(ctx context.Context) (map[string]bool, error) {
	// A linearizable read: a follower's local view lags the leader by up to a commit
	// interval, and a retry after a lost race would then choose from the same stale
	// view, losing again, until its retries ran out (seen with nearly full ranges).
	entries, _, err := a.store.List(ctx, Prefix, true)
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.Key] = true
	}
	return out, nil
}

func isHeadless(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

var serviceKind = corev1.SchemeGroupVersion.WithKind("Service").GroupKind()
