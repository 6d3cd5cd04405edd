// Package endpointslicemirroring mirrors the Endpoints users write for Services
// without a selector into EndpointSlices, as kube-controller-manager's
// endpointslicemirroring controller does: kube-proxy and cluster DNS read only slices,
// so a Service pointing at an address outside the cluster works the same way.
package endpointslicemirroring

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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

	"github.com/kindlike/kindlike/controlplane/controllers/endpointslice"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// ControllerName is the managed-by label value of mirrored slices.
const ControllerName = "endpointslicemirroring-controller.k8s.io"

// MaxAddresses is how many addresses of one Endpoints are mirrored, as upstream.
const MaxAddresses = 1000

// Controller mirrors Endpoints into EndpointSlices.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	written   *endpointslice.Writes
	log       *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, endpoints coreinformers.EndpointsInformer,
	endpointSlices discoveryinformers.EndpointSliceInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, services: services.Lister(), endpoints: endpoints.Lister(), slices: endpointSlices.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, endpoints.Informer().HasSynced,
			endpointSlices.Informer().HasSynced},
		queue:   reconcile.NewQueue("endpointslicemirroring"),
		written: endpointslice.NewWrites(),
		log:     log,
	}
	// Endpoints and Services share their key.
	if _, err := endpoints.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add endpoints event handler: %w", err)
	}
	if _, err := services.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add service event handler: %w", err)
	}
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

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "endpointslicemirroring", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
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
		return endpointslice.Revision(es), true
	}
	if !c.written.Seen(key, lookup) {
		c.queue.AddAfter(key, 50*time.Millisecond)
		return nil
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName,
	}))
	if err != nil {
		return err
	}
	ep, epErr := c.endpoints.Endpoints(ns).Get(name)
	svc, svcErr := c.services.Services(ns).Get(name)
	if epErr != nil || svcErr != nil || !mirrored(svc, ep) {
		if (epErr != nil && !apierrors.IsNotFound(epErr)) || (svcErr != nil && !apierrors.IsNotFound(svcErr)) {
			return cmp.Or(epErr, svcErr)
		}
		for _, es := range existing {
			if err := c.deleteSlice(ctx, key, es); err != nil {
				return err
			}
		}
		return nil
	}
	labels := map[string]string{}
	for k, v := range ep.Labels {
		labels[k] = v
	}
	labels[discoveryv1.LabelServiceName] = name
	labels[discoveryv1.LabelManagedBy] = ControllerName
	write, remove := endpointslice.Plan(endpointslice.Meta{
		Namespace: ns, GenerateName: name + "-", Labels: labels,
		Owner: *metav1.NewControllerRef(ep, corev1.SchemeGroupVersion.WithKind("Endpoints")),
	}, desired(ep), existing)
	for _, es := range write {
		if t, ok := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
			if es.Annotations == nil {
				es.Annotations = map[string]string{}
			}
			es.Annotations[corev1.EndpointsLastChangeTriggerTime] = t
		}
		if err := c.writeSlice(ctx, key, es); err != nil {
			return err
		}
	}
	for _, es := range remove {
		if err := c.deleteSlice(ctx, key, es); err != nil {
			return err
		}
	}
	return nil
}

// mirrored: Endpoints of an existing Service without a selector, not marked to be
// skipped (the kubernetes Service's, which has a slice of its own).
func mirrored(svc *corev1.Service, ep *corev1.Endpoints) bool {
	return svc.Spec.Selector == nil && svc.Spec.Type != corev1.ServiceTypeExternalName &&
		ep.Labels[discoveryv1.LabelSkipMirror] != "true"
}

// desired turns each subset's addresses into endpoints with that subset's ports:
// addresses ready, notReadyAddresses not, at most MaxAddresses of IPv4 ones.
func desired(ep *corev1.Endpoints) []endpointslice.Desired {
	var out []endpointslice.Desired
	for _, ss := range ep.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range ss.Ports {
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(p.Protocol), AppProtocol: p.AppProtocol})
		}
		slices.SortFunc(ports, func(a, b discoveryv1.EndpointPort) int { return cmp.Compare(*a.Name, *b.Name) })
		add := func(a corev1.EndpointAddress, ready bool) {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil || !ip.Is4() || len(out) >= MaxAddresses {
				return
			}
			e := discoveryv1.Endpoint{
				Addresses:  []string{a.IP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
				NodeName:   a.NodeName,
				TargetRef:  a.TargetRef,
			}
			if a.Hostname != "" {
				e.Hostname = ptr.To(a.Hostname)
			}
			d := endpointslice.Desired{Endpoint: e, Ports: ports}
			d.ID = endpointslice.EndpointID(e)
			out = append(out, d)
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
	}
	return out
}

func (c *Controller) deleteSlice(ctx context.Context, key string, es *discoveryv1.EndpointSlice) error {
	err := c.client.DiscoveryV1().EndpointSlices(es.Namespace).Delete(ctx, es.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &es.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete mirrored endpointslice %s/%s: %w", es.Namespace, es.Name, err)
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
		return fmt.Errorf("write mirrored endpointslice for %s: %w", key, err)
	}
	c.written.Record(key, out.Name, endpointslice.Revision(out))
	return nil
}
