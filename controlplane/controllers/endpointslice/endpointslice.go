// Package endpointslice is the EndpointSlice controller: for every Service with a
// selector it keeps discovery.k8s.io/v1 EndpointSlices listing the selected pods, at
// most MaxEndpointsPerSlice to a slice, each endpoint with its conditions (ready,
// serving, terminating), node and hostname, pods grouped by the ports the Service's
// target ports resolve to on them, as kube-controller-manager's endpointslice
// controller does. kube-proxy and cluster DNS read these.
package endpointslice

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
	"github.com/kindlike/kindlike/controlplane/controllers/servicepods"
)

// ControllerName is the managed-by label value of the slices this controller owns.
const ControllerName = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is kube-controller-manager's default --max-endpoints-per-slice.
const MaxEndpointsPerSlice = 100

// Controller keeps Services' EndpointSlices.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	triggers *servicepods.TriggerTimes
	written  *writes
	now      func() time.Time
	log      *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, pods coreinformers.PodInformer,
	nodes coreinformers.NodeInformer, endpointSlices discoveryinformers.EndpointSliceInformer, log *slog.Logger) *Controller {
	c := &Controller{
		client: client, services: services.Lister(), pods: pods.Lister(), nodes: nodes.Lister(), slices: endpointSlices.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, endpointSlices.Informer().HasSynced},
		queue:    reconcile.NewQueue("endpointslice"),
		triggers: servicepods.NewTriggerTimes(),
		written:  &writes{revs: map[string]map[string]uint64{}},
		now:      time.Now, log: log,
	}
	_, _ = services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.serviceChanged(obj, true) },
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Service).ResourceVersion != cur.(*corev1.Service).ResourceVersion {
				c.serviceChanged(cur, false)
			}
		},
		DeleteFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podChanged(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) {
			if o, p := old.(*corev1.Pod), cur.(*corev1.Pod); o.ResourceVersion != p.ResourceVersion {
				c.podChanged(o, p)
			}
		},
		DeleteFunc: func(obj any) {
			if pod, ok := reconcile.Unwrap(obj).(*corev1.Pod); ok {
				c.podChanged(nil, pod)
			}
		},
	})
	// Slices of ours changed or deleted by someone else are put back.
	sliceChanged := func(obj any) {
		es, ok := reconcile.Unwrap(obj).(*discoveryv1.EndpointSlice)
		if ok && es.Labels[discoveryv1.LabelManagedBy] == ControllerName && es.Labels[discoveryv1.LabelServiceName] != "" {
			c.queue.Add(es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName])
		}
	}
	_, _ = endpointSlices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { sliceChanged(cur) },
		DeleteFunc: sliceChanged,
	})
	return c
}

func (c *Controller) serviceChanged(obj any, created bool) {
	svc := obj.(*corev1.Service)
	key := svc.Namespace + "/" + svc.Name
	c.triggers.Observe(key, servicepods.ServiceChangeTime(svc, created, c.now()))
	c.queue.Add(key)
}

func (c *Controller) podChanged(old, pod *corev1.Pod) {
	keys := servicepods.ServicesOf(c.services, pod)
	if old != nil {
		keys = append(keys, servicepods.ServicesOf(c.services, old)...)
	}
	at := servicepods.ChangeTime(pod)
	for _, k := range keys {
		c.triggers.Observe(k, at)
		c.queue.Add(k)
	}
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "endpointslice", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

// writes remembers the revision of every slice the controller wrote (0: deleted), per
// Service, so that a sync never works from a cache that has not seen them yet: it
// would create a slice twice.
type writes struct {
	mu   sync.Mutex
	revs map[string]map[string]uint64
}

func (w *writes) record(key, name string, rev uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revs[key] == nil {
		w.revs[key] = map[string]uint64{}
	}
	w.revs[key][name] = rev
}

// seen reports whether the cache holds every write made for key; it forgets the
// writes it finds there.
func (w *writes) seen(key string, lookup func(name string) (uint64, bool)) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, rev := range w.revs[key] {
		cur, ok := lookup(name)
		if rev == 0 && ok || rev != 0 && (!ok || cur < rev) {
			return false
		}
		delete(w.revs[key], name)
	}
	delete(w.revs, key)
	return true
}

func (w *writes) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.revs, key)
}

func revision(o metav1.Object) uint64 {
	rv, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return rv
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	lookup := func(n string) (uint64, bool) {
		es, err := c.slices.EndpointSlices(ns).Get(n)
		if err != nil {
			return 0, false
		}
		return revision(es), true
	}
	if !c.written.seen(key, lookup) {
		c.queue.AddAfter(key, 50*time.Millisecond)
		return nil
	}
	trigger, triggered := c.triggers.Take(key)
	if !triggered {
		trigger = c.now()
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName,
	}))
	if err != nil {
		return err
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.written.forget(key)
		for _, es := range existing {
			if err := c.deleteSlice(ctx, key, es); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !servicepods.Selected(svc) {
		return nil
	}
	desired, err := c.desired(svc)
	if err != nil {
		return err
	}
	plan := planSlices(svc, desired, existing)
	// New slices first: readers never see a moment with the endpoints in neither.
	for _, es := range plan.write {
		es.Annotations = withTrigger(es.Annotations, trigger)
		if err := c.writeSlice(ctx, key, es); err != nil {
			c.triggers.Observe(key, trigger)
			return err
		}
	}
	for _, es := range plan.delete {
		if err := c.deleteSlice(ctx, key, es); err != nil {
			c.triggers.Observe(key, trigger)
			return err
		}
	}
	return nil
}

func withTrigger(a map[string]string, t time.Time) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	a[servicepods.TriggerTimeAnnotation] = servicepods.Format(t)
	return a
}

func (c *Controller) deleteSlice(ctx context.Context, key string, es *discoveryv1.EndpointSlice) error {
	err := c.client.DiscoveryV1().EndpointSlices(es.Namespace).Delete(ctx, es.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &es.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpointslice %s/%s: %w", es.Namespace, es.Name, err)
	}
	c.written.record(key, es.Name, 0)
	return nil
}

func (c *Controller) writeSlice(ctx context.Context, key string, es *discoveryv1.EndpointSlice) error {
	var out *discoveryv1.EndpointSlice
	var err error
	if es.ResourceVersion == "" {
		out, err = c.client.DiscoveryV1().EndpointSlices(es.Namespace).Create(ctx, es, metav1.CreateOptions{})
		if apierrors.IsForbidden(err) {
			return nil // the namespace is being deleted
		}
	} else {
		out, err = c.client.DiscoveryV1().EndpointSlices(es.Namespace).Update(ctx, es, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write endpointslice for %s: %w", key, err)
	}
	c.written.record(key, out.Name, revision(out))
	return nil
}

// endpoint is one desired endpoint and the ports its pod resolves the Service's to.
type endpoint struct {
	ep    discoveryv1.Endpoint
	ports []discoveryv1.EndpointPort
	uid   types.UID
}

// desired lists the Service's endpoints: every selected pod with an address that has
// not finished, terminating ones included (conditions say which they are).
func (c *Controller) desired(svc *corev1.Service) ([]endpoint, error) {
	pods, err := c.pods.Pods(svc.Namespace).List(servicepods.Selector(svc))
	if err != nil {
		return nil, err
	}
	var out []endpoint
	for _, pod := range pods {
		if !servicepods.IsEndpoint(pod, true) {
			continue
		}
		ip := servicepods.IP(pod)
		if ip == "" {
			continue
		}
		serving := servicepods.IsReady(pod)
		terminating := pod.DeletionTimestamp != nil
		// "ready" is never true for a terminating pod, unless the Service publishes
		// pods whatever their state.
		ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
		ep := discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if h := servicepods.Hostname(pod, svc); h != "" {
			ep.Hostname = ptr.To(h)
		}
		if pod.Spec.NodeName != "" {
			ep.NodeName = ptr.To(pod.Spec.NodeName)
			if node, err := c.nodes.Get(pod.Spec.NodeName); err == nil {
				if zone := node.Labels[corev1.LabelTopologyZone]; zone != "" {
					ep.Zone = ptr.To(zone)
				}
			}
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := servicepods.TargetPort(pod, sp)
			if !ok {
				continue
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(port), Protocol: ptr.To(sp.Protocol), AppProtocol: sp.AppProtocol})
		}
		out = append(out, endpoint{ep: ep, ports: ports, uid: pod.UID})
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(compareIPs(a.ep.Addresses[0], b.ep.Addresses[0]), cmp.Compare(a.uid, b.uid))
	})
	return out, nil
}

// plan is what a sync writes: slices to create or update, and to delete.
type plan struct {
	write  []*discoveryv1.EndpointSlice
	delete []*discoveryv1.EndpointSlice
}

// planSlices fits the desired endpoints into slices, changing as few as it can: an
// endpoint stays in the slice that holds it, new ones fill slices with room before new
// slices are made, slices left empty go, and a Service with no endpoints keeps one
// empty slice, as upstream's placeholder.
func planSlices(svc *corev1.Service, desired []endpoint, existing []*discoveryv1.EndpointSlice) plan {
	var p plan
	groups := map[string][]endpoint{}
	groupPorts := map[string][]discoveryv1.EndpointPort{}
	for _, e := range desired {
		k := portsKey(e.ports)
		groups[k] = append(groups[k], e)
		groupPorts[k] = e.ports
	}
	placeholder := len(desired) == 0
	if placeholder {
		groups[""] = nil
	}
	labels := servicepods.HeadlessLabels(svc, map[string]string{
		discoveryv1.LabelServiceName: svc.Name,
		discoveryv1.LabelManagedBy:   ControllerName,
	})
	owner := servicepods.OwnerReference(svc)

	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	for _, es := range existing {
		k := portsKey(es.Ports)
		if _, ok := groups[k]; !ok || es.AddressType != discoveryv1.AddressTypeIPv4 {
			p.delete = append(p.delete, es)
			continue
		}
		byGroup[k] = append(byGroup[k], es)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want := map[types.UID]discoveryv1.Endpoint{}
		var order []types.UID
		for _, e := range groups[k] {
			want[e.uid] = e.ep
			order = append(order, e.uid)
		}
		placed := map[types.UID]bool{}
		var kept []*discoveryv1.EndpointSlice
		for _, es := range byGroup[k] {
			var eps []discoveryv1.Endpoint
			for _, cur := range es.Endpoints {
				uid := endpointUID(cur)
				if ep, ok := want[uid]; ok && !placed[uid] && len(eps) < MaxEndpointsPerSlice {
					eps = append(eps, ep)
					placed[uid] = true
				}
			}
			upd := es.DeepCopy()
			upd.Endpoints = eps
			kept = append(kept, upd)
		}
		var fresh []*discoveryv1.EndpointSlice
		for _, uid := range order {
			if placed[uid] {
				continue
			}
			target := roomIn(kept)
			if target == nil {
				target = roomIn(fresh)
			}
			if target == nil {
				target = &discoveryv1.EndpointSlice{
					ObjectMeta:  metav1.ObjectMeta{GenerateName: svc.Name + "-", Namespace: svc.Namespace},
					AddressType: discoveryv1.AddressTypeIPv4,
				}
				fresh = append(fresh, target)
			}
			target.Endpoints = append(target.Endpoints, want[uid])
			placed[uid] = true
		}
		if placeholder && len(kept) == 0 && len(fresh) == 0 {
			fresh = append(fresh, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{GenerateName: svc.Name + "-", Namespace: svc.Namespace},
				AddressType: discoveryv1.AddressTypeIPv4,
			})
		}
		for i, es := range kept {
			orig := byGroup[k][i]
			if len(es.Endpoints) == 0 && !(placeholder && i == 0) {
				p.delete = append(p.delete, orig)
				continue
			}
			es.Ports = groupPorts[k]
			es.Labels = labels
			es.OwnerReferences = []metav1.OwnerReference{owner}
			if !apiequality.Semantic.DeepEqual(es.Endpoints, orig.Endpoints) || !apiequality.Semantic.DeepEqual(es.Ports, orig.Ports) ||
				!apiequality.Semantic.DeepEqual(es.Labels, orig.Labels) || !apiequality.Semantic.DeepEqual(es.OwnerReferences, orig.OwnerReferences) {
				p.write = append(p.write, es)
			}
		}
		for _, es := range fresh {
			es.Ports = groupPorts[k]
			es.Labels = labels
			es.OwnerReferences = []metav1.OwnerReference{owner}
			p.write = append(p.write, es)
		}
	}
	return p
}

func roomIn(list []*discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	for _, es := range list {
		if len(es.Endpoints) < MaxEndpointsPerSlice {
			return es
		}
	}
	return nil
}

// endpointUID identifies an endpoint by its pod; one without (written by someone
// else) by its address, which no desired endpoint matches.
func endpointUID(ep discoveryv1.Endpoint) types.UID {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return ep.TargetRef.UID
	}
	return types.UID("address:" + strings.Join(ep.Addresses, ","))
}

func portsKey(ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(ptr.Deref(p.Name, "") + "/" + string(ptr.Deref(p.Protocol, corev1.ProtocolTCP)) + "/" +
			strconv.Itoa(int(ptr.Deref(p.Port, 0))) + "/" + ptr.Deref(p.AppProtocol, "") + ",")
	}
	return b.String()
}

// compareIPs orders dotted quads numerically.
func compareIPs(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}
