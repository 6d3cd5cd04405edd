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
	written  *Writes
	now      func() time.Time
	log      *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, pods coreinformers.PodInformer,
	nodes coreinformers.NodeInformer, endpointSlices discoveryinformers.EndpointSliceInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, services: services.Lister(), pods: pods.Lister(), nodes: nodes.Lister(), slices: endpointSlices.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, endpointSlices.Informer().HasSynced},
		queue:    reconcile.NewQueue("endpointslice"),
		triggers: servicepods.NewTriggerTimes(),
		written:  NewWrites(),
		now:      time.Now, log: log,
	}
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.serviceChanged(obj, true) },
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Service).ResourceVersion != cur.(*corev1.Service).ResourceVersion {
				c.serviceChanged(cur, false)
			}
		},
		DeleteFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
	}); err != nil {
		return nil, fmt.Errorf("add service event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
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
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	// Slices of ours changed or deleted by someone else are put back.
	sliceChanged := func(obj any) {
		es, ok := reconcile.Unwrap(obj).(*discoveryv1.EndpointSlice)
		if ok && es.Labels[discoveryv1.LabelManagedBy] == ControllerName && es.Labels[discoveryv1.LabelServiceName] != "" {
			c.queue.Add(es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName])
		}
	}
	if _, err := endpointSlices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { sliceChanged(cur) },
		DeleteFunc: sliceChanged,
	}); err != nil {
		return nil, fmt.Errorf("add endpointslice event handler: %w", err)
	}
	return c, nil
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

// Writes remembers the revision of every slice a controller wrote (0: deleted), per
// owner key, so that a sync never works from a cache that has not seen them yet: it
// would create a slice twice.
type Writes struct {
	mu   sync.Mutex
	revs map[string]map[string]uint64
}

// NewWrites makes an empty record.
func NewWrites() *Writes { return &Writes{revs: map[string]map[string]uint64{}} }

// Record notes that the slice name of key was written at rev (0: deleted).
func (w *Writes) Record(key, name string, rev uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revs[key] == nil {
		w.revs[key] = map[string]uint64{}
	}
	w.revs[key][name] = rev
}

// Seen reports whether the cache holds every write made for key, as lookup finds slices
// there (their revision, or false when absent); it forgets the writes it finds.
func (w *Writes) Seen(key string, lookup func(name string) (uint64, bool)) bool {
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

// Forget drops the record of key.
func (w *Writes) Forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.revs, key)
}

// Revision is an object's resourceVersion as a number (kindlike's are Raft indexes).
func Revision(o metav1.Object) uint64 {
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
		return Revision(es), true
	}
	if !c.written.Seen(key, lookup) {
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
		c.written.Forget(key)
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
	write, remove := Plan(Meta{
		Namespace: svc.Namespace, GenerateName: svc.Name + "-",
		Labels: servicepods.HeadlessLabels(svc, map[string]string{
			discoveryv1.LabelServiceName: svc.Name,
			discoveryv1.LabelManagedBy:   ControllerName,
		}),
		Owner:       servicepods.OwnerReference(svc),
		Placeholder: true,
	}, desired, existing)
	// New slices first: readers never see a moment with the endpoints in neither.
	for _, es := range write {
		es.Annotations = withTrigger(es.Annotations, trigger)
		if err := c.writeSlice(ctx, key, es); err != nil {
			c.triggers.Observe(key, trigger)
			return err
		}
	}
	for _, es := range remove {
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
	c.written.Record(key, es.Name, 0)
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
	c.written.Record(key, out.Name, Revision(out))
	return nil
}

// Desired is one endpoint a slice should hold, the ports it serves, and what
// identifies it from one sync to the next (its pod's uid).
type Desired struct {
	Endpoint discoveryv1.Endpoint
	Ports    []discoveryv1.EndpointPort
	ID       string
}

// Meta is what every slice of one owner carries.
type Meta struct {
	Namespace, GenerateName string
	Labels                  map[string]string
	Owner                   metav1.OwnerReference
	// Placeholder keeps one empty slice when there are no endpoints, as the
	// endpointslice controller does for Services.
	Placeholder bool
}

// desired lists the Service's endpoints: every selected pod with an address that has
// not finished, terminating ones included (conditions say which they are).
func (c *Controller) desired(svc *corev1.Service) ([]Desired, error) {
	pods, err := c.pods.Pods(svc.Namespace).List(servicepods.Selector(svc))
	if err != nil {
		return nil, err
	}
	var out []Desired
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
		out = append(out, Desired{Endpoint: ep, Ports: ports, ID: string(pod.UID)})
	}
	slices.SortFunc(out, func(a, b Desired) int {
		return cmp.Or(compareIPs(a.Endpoint.Addresses[0], b.Endpoint.Addresses[0]), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Plan fits the desired endpoints into slices, changing as few as it can: an
// endpoint stays in the slice that holds it, new ones fill slices with room before new
// slices are made, slices left empty go (but one placeholder, if Meta asks), and slices
// whose ports no endpoint serves any more go. It returns the slices to create or
// update, and those to delete.
func Plan(meta Meta, desired []Desired, existing []*discoveryv1.EndpointSlice) (write, remove []*discoveryv1.EndpointSlice) {
	groups := map[string][]Desired{}
	groupPorts := map[string][]discoveryv1.EndpointPort{}
	for _, d := range desired {
		k := portsKey(d.Ports)
		groups[k] = append(groups[k], d)
		groupPorts[k] = d.Ports
	}
	placeholder := meta.Placeholder && len(desired) == 0
	if placeholder {
		groups[""] = nil
	}
	fresh := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{GenerateName: meta.GenerateName, Namespace: meta.Namespace},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
	}

	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	existing = slices.Clone(existing)
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	for _, es := range existing {
		k := portsKey(es.Ports)
		if _, ok := groups[k]; !ok || es.AddressType != discoveryv1.AddressTypeIPv4 {
			remove = append(remove, es)
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
		want := map[string]discoveryv1.Endpoint{}
		var order []string
		for _, d := range groups[k] {
			if _, dup := want[d.ID]; !dup {
				order = append(order, d.ID)
			}
			want[d.ID] = d.Endpoint
		}
		placed := map[string]bool{}
		var kept []*discoveryv1.EndpointSlice
		for _, es := range byGroup[k] {
			var eps []discoveryv1.Endpoint
			for _, cur := range es.Endpoints {
				id := EndpointID(cur)
				if ep, ok := want[id]; ok && !placed[id] && len(eps) < MaxEndpointsPerSlice {
					eps = append(eps, ep)
					placed[id] = true
				}
			}
			upd := es.DeepCopy()
			upd.Endpoints = eps
			kept = append(kept, upd)
		}
		var made []*discoveryv1.EndpointSlice
		for _, id := range order {
			if placed[id] {
				continue
			}
			target := roomIn(kept)
			if target == nil {
				target = roomIn(made)
			}
			if target == nil {
				target = fresh()
				made = append(made, target)
			}
			target.Endpoints = append(target.Endpoints, want[id])
			placed[id] = true
		}
		if placeholder && len(kept) == 0 && len(made) == 0 {
			made = append(made, fresh())
		}
		for i, es := range kept {
			orig := byGroup[k][i]
			if len(es.Endpoints) == 0 && !(placeholder && i == 0) {
				remove = append(remove, orig)
				continue
			}
			es.Ports = groupPorts[k]
			es.Labels = meta.Labels
			es.OwnerReferences = []metav1.OwnerReference{meta.Owner}
			if !apiequality.Semantic.DeepEqual(es.Endpoints, orig.Endpoints) || !apiequality.Semantic.DeepEqual(es.Ports, orig.Ports) ||
				!apiequality.Semantic.DeepEqual(es.Labels, orig.Labels) || !apiequality.Semantic.DeepEqual(es.OwnerReferences, orig.OwnerReferences) {
				write = append(write, es)
			}
		}
		for _, es := range made {
			es.Ports = groupPorts[k]
			es.Labels = meta.Labels
			es.OwnerReferences = []metav1.OwnerReference{meta.Owner}
			write = append(write, es)
		}
	}
	return write, remove
}

func roomIn(list []*discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	for _, es := range list {
		if len(es.Endpoints) < MaxEndpointsPerSlice {
			return es
		}
	}
	return nil
}

// EndpointID identifies an endpoint from one sync to the next: by its pod when it has
// one, else by its addresses and hostname.
func EndpointID(ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return string(ep.TargetRef.UID)
	}
	return "address:" + strings.Join(ep.Addresses, ",") + "/" + ptr.Deref(ep.Hostname, "")
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
