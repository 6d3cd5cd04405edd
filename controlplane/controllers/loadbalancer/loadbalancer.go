// Package loadbalancer gives LoadBalancer Services an external address on the cluster
// network, as MetalLB's layer-2 mode does on a real cluster: it hands out an address
// from the cluster's LoadBalancer range (or the spec.loadBalancerIP asked for, when it
// is in the range and free), writes it into status.loadBalancer.ingress with ipMode
// VIP, and names in the Service's NodeAnnotation the Ready node whose kube-proxy
// answers ARP for it, moving it when that node stops being Ready. Which address a
// Service has lives only in its status, so a new leader starts from the statuses.
package loadbalancer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// NodeAnnotation names, on a LoadBalancer Service, the node that answers ARP for its
// address. kube-proxy on that node puts the address on its interface.
const NodeAnnotation = "kindlike.dev/load-balancer-node"

// Name is the component its events come from.
const Name = "kindlike-loadbalancer"

// Controller assigns LoadBalancer addresses and the nodes announcing them.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	pool     netip.Prefix
	log      *slog.Logger

	// allocating makes address decisions one at a time, whatever the workers.
	allocating sync.Mutex
	// assigned records the addresses this controller wrote and the cache may not
	// show yet, so that two Services synced in a row never get the same one.
	mu       sync.Mutex
	assigned map[netip.Addr]string
}

// New makes the controller handing out addresses from pool (Network.LoadBalancerRange).
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, nodes coreinformers.NodeInformer,
	endpointSlices discoveryinformers.EndpointSliceInformer, recorder record.EventRecorder, pool netip.Prefix, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, services: services.Lister(), nodes: nodes.Lister(), slices: endpointSlices.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, nodes.Informer().HasSynced,
			endpointSlices.Informer().HasSynced},
		queue:    reconcile.NewQueue("loadbalancer"),
		recorder: recorder, pool: pool.Masked(), log: log,
		assigned: map[netip.Addr]string{},
	}
	if _, err := services.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add service event handler: %w", err)
	}
	// A node's readiness decides who announces: every LoadBalancer Service is looked at.
	nodeChanged := func(any) { c.enqueueAll() }
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: nodeChanged,
		UpdateFunc: func(old, cur any) {
			if ready(old.(*corev1.Node)) != ready(cur.(*corev1.Node)) || !apiequality.Semantic.DeepEqual(old.(*corev1.Node).Labels, cur.(*corev1.Node).Labels) {
				c.enqueueAll()
			}
		},
		DeleteFunc: nodeChanged,
	}); err != nil {
		return nil, fmt.Errorf("add node event handler: %w", err)
	}
	// With externalTrafficPolicy Local only nodes with a ready endpoint announce.
	sliceChanged := func(obj any) {
		if es, ok := reconcile.Unwrap(obj).(*discoveryv1.EndpointSlice); ok && es.Labels[discoveryv1.LabelServiceName] != "" {
			c.queue.Add(es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName])
		}
	}
	if _, err := endpointSlices.Informer().AddEventHandler(reconcile.OnChange(sliceChanged)); err != nil {
		return nil, fmt.Errorf("add endpointslice event handler: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueueAll() {
	all, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range all {
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			reconcile.Enqueue(c.queue, svc)
		}
	}
}

// Run runs workers until ctx ends. Addresses are handed out one Service at a time
// whatever their number; the writes and announcements are what workers overlap.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "loadbalancer", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// ours reports whether the Service is a LoadBalancer this controller serves: one
// without a loadBalancerClass, as MetalLB's default.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil && svc.DeletionTimestamp == nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !ours(svc) {
		c.forget(key)
		if _, ok := svc.Annotations[NodeAnnotation]; ok && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return c.setNode(ctx, svc, "")
		}
		return nil
	}
	ip, err := c.address(svc, key)
	if err != nil {
		return err
	}
	if !ip.IsValid() {
		return nil // pending; the event says why
	}
	if svc, err = c.setStatus(ctx, svc, ip); err != nil {
		return err
	}
	node := c.announcer(svc, ip)
	if node == svc.Annotations[NodeAnnotation] {
		return nil
	}
	return c.setNode(ctx, svc, node)
}

// inUse maps the addresses of the pool that Services hold to the Service holding each:
// statuses as the cache has them, and this controller's own recent writes. When two
// Services show one address, the older keeps it.
func (c *Controller) inUse() (map[netip.Addr]string, error) {
	all, err := c.services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *corev1.Service) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	used := map[netip.Addr]string{}
	for _, svc := range all {
		if !ours(svc) {
			continue
		}
		if ip, ok := c.statusIP(svc); ok {
			if _, taken := used[ip]; !taken {
				used[ip] = svc.Namespace + "/" + svc.Name
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ip, key := range c.assigned {
		used[ip] = key
	}
	return used, nil
}

// statusIP is the Service's current address from the pool, if it has one.
func (c *Controller) statusIP(svc *corev1.Service) (netip.Addr, bool) {
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil && c.usable(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// usable: in the pool, and neither its first (network) nor its last (broadcast)
// address, which some clients treat specially.
func (c *Controller) usable(a netip.Addr) bool {
	if !c.pool.Contains(a) || a == c.pool.Addr() {
		return false
	}
	return c.pool.Contains(a.Next())
}

// address decides the Service's address: the one asked for if it can have it, else
// the one it holds, else the lowest free one. The zero Addr leaves it pending.
func (c *Controller) address(svc *corev1.Service, key string) (netip.Addr, error) {
	c.allocating.Lock()
	defer c.allocating.Unlock()
	used, err := c.inUse()
	if err != nil {
		return netip.Addr{}, err
	}
	free := func(a netip.Addr) bool { owner, ok := used[a]; return !ok || owner == key }
	if want := svc.Spec.LoadBalancerIP; want != "" {
		a, err := netip.ParseAddr(want)
		switch {
		case err != nil || !c.usable(a):
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "AllocationFailed", "Failed to allocate IP for %q: %q is not in the load balancer range %s", key, want, c.pool)
			return netip.Addr{}, nil
		case !free(a):
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "AllocationFailed", "Failed to allocate IP for %q: %q is already in use by %s", key, want, used[a])
			return netip.Addr{}, nil
		}
		return c.hold(key, a), nil
	}
	if a, ok := c.statusIP(svc); ok && free(a) {
		return c.hold(key, a), nil
	}
	for a := c.pool.Addr().Next(); c.usable(a); a = a.Next() {
		if free(a) {
			return c.hold(key, a), nil
		}
	}
	c.recorder.Eventf(svc, corev1.EventTypeWarning, "AllocationFailed", "Failed to allocate IP for %q: no available IPs in %s", key, c.pool)
	return netip.Addr{}, nil
}

func (c *Controller) hold(key string, a netip.Addr) netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ip, k := range c.assigned {
		if k == key && ip != a {
			delete(c.assigned, ip)
		}
	}
	c.assigned[a] = key
	return a
}

// forget drops what the controller remembers of a Service that is gone or no longer
// a LoadBalancer: its address is free again (its status no longer holds it).
func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ip, k := range c.assigned {
		if k == key {
			delete(c.assigned, ip)
		}
	}
}

func (c *Controller) setStatus(ctx context.Context, svc *corev1.Service, ip netip.Addr) (*corev1.Service, error) {
	want := corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: ip.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}}
	if apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer, want) {
		return svc, nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer = want
	out, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("write the load balancer address of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	c.log.Info("load balancer address assigned", "service", svc.Namespace+"/"+svc.Name, "ip", ip)
	c.recorder.Eventf(out, corev1.EventTypeNormal, "IPAllocated", "Assigned IP [%q]", ip.String())
	return out, nil
}

// announcer is the node that answers ARP for ip: among the Ready nodes that may (with
// externalTrafficPolicy Local, only those with a ready endpoint of the Service), the
// first by a hash of node and address, so that Services spread over the nodes and
// each lands on the same node whichever leader decides, and comes back to it.
func (c *Controller) announcer(svc *corev1.Service, ip netip.Addr) string {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return ""
	}
	var local map[string]bool
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		local = c.nodesWithEndpoints(svc)
	}
	best, bestHash := "", [sha256.Size]byte{}
	for _, n := range nodes {
		if !ready(n) || n.DeletionTimestamp != nil {
			continue
		}
		if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; excluded {
			continue
		}
		if local != nil && !local[n.Name] {
			continue
		}
		h := sha256.Sum256([]byte(n.Name + "#" + ip.String()))
		if best == "" || slices.Compare(h[:], bestHash[:]) < 0 {
			best, bestHash = n.Name, h
		}
	}
	return best
}

func (c *Controller) nodesWithEndpoints(svc *corev1.Service) map[string]bool {
	out := map[string]bool{}
	list, err := c.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
	if err != nil {
		return out
	}
	for _, es := range list {
		for _, ep := range es.Endpoints {
			if ep.NodeName != nil && ptr.Deref(ep.Conditions.Ready, false) {
				out[*ep.NodeName] = true
			}
		}
	}
	return out
}

// setNode writes the announcing node into the Service's annotation ("" removes it).
func (c *Controller) setNode(ctx context.Context, svc *corev1.Service, node string) error {
	upd := svc.DeepCopy()
	if node == "" {
		delete(upd.Annotations, NodeAnnotation)
	} else {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[NodeAnnotation] = node
	}
	out, err := c.client.CoreV1().Services(svc.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("name the announcing node of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	switch {
	case node != "":
		c.log.Info("load balancer address announced", "service", svc.Namespace+"/"+svc.Name, "node", node)
		c.recorder.Eventf(out, corev1.EventTypeNormal, "nodeAssigned", "announcing from node %q with protocol %q", node, "layer2")
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		c.recorder.Eventf(out, corev1.EventTypeWarning, "NoAnnouncingNode", "no Ready node can announce %s", svc.Status.LoadBalancer.Ingress[0].IP)
	}
	return nil
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
