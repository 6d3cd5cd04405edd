// Package kubernetesservice keeps the `kubernetes` Service in default pointing at the
// live control planes, as kube-apiserver's lease endpoint reconciler does: every member
// keeps a Lease in kube-system naming its address (Keeper), and the leader (Controller)
// makes sure the Service exists and that its Endpoints and EndpointSlice list the
// address of every member whose Lease has not expired.
package kubernetesservice

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Names and labels of what the package writes.
const (
	// ServiceName is the Service in default that reaches the API.
	ServiceName = "kubernetes"
	// LeasePrefix starts the name of each member's Lease in kube-system: the member's
	// name follows.
	LeasePrefix = "kube-apiserver-"
	// IdentityLabel marks the members' Leases, as kube-apiserver marks its identity
	// Leases, with the value IdentityValue.
	IdentityLabel = "apiserver.kubernetes.io/identity"
	IdentityValue = "kube-apiserver"
	// AddressAnnotation holds the member's address on its Lease.
	AddressAnnotation = "kindlike.dev/advertise-address"

	portName    = "https"
	servicePort = 443
	key         = metav1.NamespaceDefault + "/" + ServiceName
)

// Controller is the leader's side: the Service, its Endpoints and its EndpointSlice.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	leases    coordlisters.LeaseLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	clusterIP netip.Addr
	apiPort   int32
	self      netip.Addr // the leader's own address, listed whatever its Lease says
	now       func() time.Time
	log       *slog.Logger
}

// New makes the controller for a cluster whose kubernetes Service has clusterIP and
// whose members serve the API on apiPort; self is this member's address (invalid when
// unknown).
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, endpoints coreinformers.EndpointsInformer,
	slices discoveryinformers.EndpointSliceInformer, leases coordinformers.LeaseInformer,
	clusterIP netip.Addr, apiPort int32, self netip.Addr, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, services: services.Lister(), endpoints: endpoints.Lister(), slices: slices.Lister(), leases: leases.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, endpoints.Informer().HasSynced,
			slices.Informer().HasSynced, leases.Informer().HasSynced},
		queue:     reconcile.NewQueue("kubernetes-service"),
		clusterIP: clusterIP, apiPort: apiPort, self: self, now: time.Now, log: log,
	}
	ours := func(obj any) {
		m, ok := reconcile.Unwrap(obj).(metav1.Object)
		if !ok {
			return
		}
		switch {
		case m.GetNamespace() == metav1.NamespaceDefault && m.GetName() == ServiceName,
			m.GetNamespace() == metav1.NamespaceSystem && m.GetLabels()[IdentityLabel] == IdentityValue:
			c.queue.Add(key)
		}
	}
	handler := reconcile.OnChange(ours)
	for _, inf := range []cache.SharedIndexInformer{services.Informer(), endpoints.Informer(), slices.Informer(), leases.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("add event handler: %w", err)
		}
	}
	return c, nil
}

// Run reconciles until ctx ends. Its queue holds a single key, which no two workers
// ever sync at once: more than one worker only waits.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.queue.Add(key)
	loop := reconcile.Loop{Name: "kubernetes-service", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, _ string) error {
	if err := c.ensureService(ctx); err != nil {
		return err
	}
	addrs, next := c.liveAddresses(ctx)
	if err := c.ensureEndpoints(ctx, addrs); err != nil {
		return err
	}
	if err := c.ensureSlice(ctx, addrs); err != nil {
		return err
	}
	if next > 0 {
		c.queue.AddAfter(key, next)
	}
	return nil
}

// desiredService is the kubernetes Service as kube-apiserver creates it.
func (c *Controller) desiredService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: ServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       c.clusterIP.String(),
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{
				Name: portName, Protocol: corev1.ProtocolTCP, Port: servicePort, TargetPort: intstr.FromInt32(c.apiPort),
			}},
		},
	}
}

// ensureService creates the Service when it is missing and puts its port back when a
// user changed it, as kube-apiserver does; anything else users may change.
func (c *Controller) ensureService(ctx context.Context) error {
	want := c.desiredService()
	svc, err := c.services.Services(metav1.NamespaceDefault).Get(ServiceName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, want, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("create the kubernetes Service: %w", err)
	}
	if err != nil {
		return err
	}
	if len(svc.Spec.Ports) == 1 && svc.Spec.Ports[0].Name == portName && svc.Spec.Ports[0].Port == servicePort &&
		svc.Spec.Ports[0].Protocol == corev1.ProtocolTCP && svc.Spec.Ports[0].TargetPort == want.Spec.Ports[0].TargetPort {
		return nil
	}
	svc = svc.DeepCopy()
	svc.Spec.Ports = want.Spec.Ports
	if _, err := c.client.CoreV1().Services(metav1.NamespaceDefault).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("restore the kubernetes Service's port: %w", err)
	}
	return nil
}

// liveAddresses are the addresses of the members whose Lease is current, sorted, and
// how long until the first of those Leases expires (0: none will). Leases expired for
// a whole duration more are deleted, as kube-apiserver's master leases expire.
func (c *Controller) liveAddresses(ctx context.Context) ([]string, time.Duration) {
	leases, err := c.leases.Leases(metav1.NamespaceSystem).List(labels.SelectorFromSet(labels.Set{IdentityLabel: IdentityValue}))
	if err != nil {
		return nil, 0
	}
	now := c.now()
	seen := map[string]bool{}
	if c.self.IsValid() {
		seen[c.self.String()] = true
	}
	var next time.Duration
	for _, l := range leases {
		addr, err := netip.ParseAddr(l.Annotations[AddressAnnotation])
		if err != nil || !addr.Is4() {
			continue
		}
		left := expiry(l).Sub(now)
		if left <= 0 {
			if -left > duration(l) {
				c.deleteExpired(ctx, l)
			}
			continue
		}
		seen[addr.String()] = true
		if next == 0 || left < next {
			next = left
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
	if next > 0 {
		next += 100 * time.Millisecond
	}
	return out, next
}

func (c *Controller) deleteExpired(ctx context.Context, l *coordinationv1.Lease) {
	err := c.client.CoordinationV1().Leases(l.Namespace).Delete(ctx, l.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion},
	})
	if err == nil {
		c.log.Info("deleted the expired lease of a control plane", "lease", l.Name, "address", l.Annotations[AddressAnnotation])
	}
}

func duration(l *coordinationv1.Lease) time.Duration {
	return time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second
}

func expiry(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(duration(l))
}

func (c *Controller) ports() []corev1.EndpointPort {
	return []corev1.EndpointPort{{Name: portName, Port: c.apiPort, Protocol: corev1.ProtocolTCP}}
}

func (c *Controller) ensureEndpoints(ctx context.Context, addrs []string) error {
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name: ServiceName, Namespace: metav1.NamespaceDefault,
			// kube-apiserver writes the EndpointSlice itself: no mirroring.
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"},
		},
	}
	if len(addrs) > 0 {
		ss := corev1.EndpointSubset{Ports: c.ports()}
		for _, a := range addrs {
			ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: a})
		}
		want.Subsets = []corev1.EndpointSubset{ss}
	}
	cur, err := c.endpoints.Endpoints(metav1.NamespaceDefault).Get(ServiceName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().Endpoints(metav1.NamespaceDefault).Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the kubernetes Endpoints: %w", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && cur.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets = want.Subsets
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	upd.Labels[discoveryv1.LabelSkipMirror] = "true"
	if _, err := c.client.CoreV1().Endpoints(metav1.NamespaceDefault).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update the kubernetes Endpoints: %w", err)
	}
	c.log.Info("kubernetes Service endpoints", "addresses", addrs)
	return nil
}

func (c *Controller) ensureSlice(ctx context.Context, addrs []string) error {
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: ServiceName, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: ServiceName},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(c.apiPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, a := range addrs {
		want.Endpoints = append(want.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		})
	}
	cur, err := c.slices.EndpointSlices(metav1.NamespaceDefault).Get(ServiceName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the kubernetes EndpointSlice: %w", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		cur.Labels[discoveryv1.LabelServiceName] == ServiceName && cur.AddressType == want.AddressType {
		return nil
	}
	if cur.AddressType != want.AddressType {
		// The address type cannot change: replace the slice.
		if err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Delete(ctx, ServiceName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		_, err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	upd := cur.DeepCopy()
	upd.Endpoints, upd.Ports = want.Endpoints, want.Ports
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	upd.Labels[discoveryv1.LabelServiceName] = ServiceName
	if _, err := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update the kubernetes EndpointSlice: %w", err)
	}
	return nil
}
