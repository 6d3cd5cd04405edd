// Package endpoint is the Endpoints controller: for every Service with a selector it
// keeps the Endpoints object of the same name listing the selected pods' addresses,
// ready ones under addresses and the rest under notReadyAddresses, each with the
// ports the Service's target ports resolve to on that pod, as kube-controller-manager's
// endpoints controller does. Services without a selector are left to their users.
package endpoint

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
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
	"github.com/kindlike/kindlike/controlplane/controllers/servicepods"
)

// Name is the controller's name.
const Name = "endpoint-controller"

// MaxAddresses is how many addresses one Endpoints object holds; beyond it the
// controller truncates and says so in corev1.EndpointsOverCapacity, as upstream does
// (EndpointSlices hold them all).
const MaxAddresses = 1000

// Controller keeps Services' Endpoints.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	triggers  *servicepods.TriggerTimes
	now       func() time.Time
	log       *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, services coreinformers.ServiceInformer, pods coreinformers.PodInformer,
	endpoints coreinformers.EndpointsInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, services: services.Lister(), pods: pods.Lister(), endpoints: endpoints.Lister(),
		synced:   []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced, endpoints.Informer().HasSynced},
		queue:    reconcile.NewQueue("endpoint"),
		triggers: servicepods.NewTriggerTimes(),
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
	// Endpoints deleted by someone else are put back; other changes by others last
	// until the Service or its pods change, as upstream has it.
	if _, err := endpoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
	}); err != nil {
		return nil, fmt.Errorf("add endpoints event handler: %w", err)
	}
	return c, nil
}

func (c *Controller) serviceChanged(obj any, created bool) {
	svc := obj.(*corev1.Service)
	key := svc.Namespace + "/" + svc.Name
	c.triggers.Observe(key, servicepods.ServiceChangeTime(svc, created, c.now()))
	c.queue.Add(key)
}

// podChanged queues the Services that select the pod now or selected it before.
func (c *Controller) podChanged(old, pod *corev1.Pod) {
	keys := servicepods.ServicesOf(c.services, pod)
	if old != nil {
		keys = append(keys, servicepods.ServicesOf(c.services, old)...)
	}
	at := servicepods.ChangeTime(pod)
	if pod.DeletionTimestamp == nil && old == nil && pod.CreationTimestamp.IsZero() {
		at = c.now()
	}
	for _, k := range keys {
		c.triggers.Observe(k, at)
		c.queue.Add(k)
	}
}

// Run runs workers until ctx ends, and returns when they have stopped.
func (c *Controller) Run(ctx context.Context, workers int) {
	// Endpoints this controller wrote for Services deleted while no leader ran; ones
	// users wrote (without the trigger time) are theirs.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		eps, _ := c.endpoints.List(labels.Everything())
		for _, ep := range eps {
			if _, ours := ep.Annotations[servicepods.TriggerTimeAnnotation]; ours {
				reconcile.Enqueue(c.queue, ep)
			}
		}
	}()
	loop := reconcile.Loop{Name: "endpoint", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
	wg.Wait()
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	trigger, triggered := c.triggers.Take(key)
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteEndpoints(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	if !servicepods.Selected(svc) {
		return nil
	}
	subsets, err := c.subsets(svc)
	if err != nil {
		return err
	}
	truncated := truncate(subsets, MaxAddresses)
	labels := servicepods.HeadlessLabels(svc, nil)

	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, subsets) && apiequality.Semantic.DeepEqual(cur.Labels, labels) &&
		(cur.Annotations[corev1.EndpointsOverCapacity] == "truncated") == truncated {
		return nil
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if cur != nil {
		ep = cur.DeepCopy()
	}
	ep.Subsets = subsets
	ep.Labels = labels
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	if !triggered {
		trigger = c.now()
	}
	ep.Annotations[servicepods.TriggerTimeAnnotation] = servicepods.Format(trigger)
	if truncated {
		ep.Annotations[corev1.EndpointsOverCapacity] = "truncated"
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}
	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{})
	} else {
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err != nil {
		c.triggers.Observe(key, trigger) // still to be reflected
		if apierrors.IsForbidden(err) && cur == nil {
			return nil // the namespace is being deleted
		}
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	return nil
}

func (c *Controller) deleteEndpoints(ctx context.Context, ns, name string) error {
	if _, err := c.endpoints.Endpoints(ns).Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}

// subsets are the Service's endpoints: pods grouped by the ports they resolve to,
// addresses and ports sorted, so that an unchanged set compares equal.
func (c *Controller) subsets(svc *corev1.Service) ([]corev1.EndpointSubset, error) {
	pods, err := c.pods.Pods(svc.Namespace).List(servicepods.Selector(svc))
	if err != nil {
		return nil, err
	}
	publish := svc.Spec.PublishNotReadyAddresses
	groups := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !servicepods.IsEndpoint(pod, publish) {
			continue
		}
		ip := servicepods.IP(pod)
		if ip == "" {
			continue
		}
		var ports []corev1.EndpointPort
		if len(svc.Spec.Ports) == 0 {
			if !servicepods.Headless(svc) {
				continue
			}
		} else {
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				port, ok := servicepods.TargetPort(pod, sp)
				if !ok {
					c.log.Debug("pod has no port for the service's target port", "pod", pod.Namespace+"/"+pod.Name,
						"service", svc.Name, "targetPort", sp.TargetPort.String())
					continue
				}
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
			}
			if len(ports) == 0 {
				continue
			}
		}
		addr := corev1.EndpointAddress{
			IP:        ip,
			Hostname:  servicepods.Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = ptr.To(pod.Spec.NodeName)
		}
		k := portsKey(ports)
		ss, ok := groups[k]
		if !ok {
			ss = &corev1.EndpointSubset{Ports: ports}
			groups[k] = ss
		}
		if publish || servicepods.IsReady(pod) {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]corev1.EndpointSubset, 0, len(keys))
	for _, k := range keys {
		ss := groups[k]
		slices.SortFunc(ss.Addresses, byAddress)
		slices.SortFunc(ss.NotReadyAddresses, byAddress)
		out = append(out, *ss)
	}
	return out, nil
}

func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + ",")
	}
	return b.String()
}

func byAddress(a, b corev1.EndpointAddress) int {
	return cmp.Or(compareIPs(a.IP, b.IP), cmp.Compare(a.TargetRef.Name, b.TargetRef.Name))
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

// truncate keeps at most max addresses: not-ready ones go first; when the ready ones
// alone are too many, every subset keeps its share of max, rounded up, the last one
// what is left. It reports whether anything was dropped.
func truncate(subsets []corev1.EndpointSubset, max int) bool {
	ready, notReady := 0, 0
	for _, ss := range subsets {
		ready += len(ss.Addresses)
		notReady += len(ss.NotReadyAddresses)
	}
	if ready+notReady <= max {
		return false
	}
	readyToo := ready > max
	budget, total := max-ready, notReady
	if readyToo {
		budget, total = max, ready
	}
	left := budget
	for i := range subsets {
		ss := &subsets[i]
		n := len(ss.NotReadyAddresses)
		if readyToo {
			n = len(ss.Addresses)
		}
		share := left
		if i < len(subsets)-1 {
			share = min((n*budget+total-1)/total, left)
		}
		share = min(share, n)
		if readyToo {
			ss.Addresses = ss.Addresses[:share]
			ss.NotReadyAddresses = nil
		} else {
			ss.NotReadyAddresses = ss.NotReadyAddresses[:share]
		}
		left -= share
	}
	return true
}
