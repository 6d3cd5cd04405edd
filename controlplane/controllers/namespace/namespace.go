// Package namespace is the namespace controller: it empties a namespace being deleted
// of every object, then lets the namespace itself go; its conditions say meanwhile
// what it waits for, as kube-controller-manager's do.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// recheck is how soon a namespace whose content is still going is looked at again.
const recheck = 2 * time.Second

// Controller deletes the content of terminating namespaces.
type Controller struct {
	client    kubernetes.Interface
	meta      metadata.Interface
	resources []schema.GroupVersionResource
	lister    corelisters.NamespaceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.WithTicker
	log       *slog.Logger
}

// New makes the controller. resources are the namespaced resources to empty, each
// storage once.
func New(client kubernetes.Interface, meta metadata.Interface, namespaces coreinformers.NamespaceInformer, resources []schema.GroupVersionResource, log *slog.Logger) (*Controller, error) {
	return newController(client, meta, namespaces, resources, clock.RealClock{}, log)
}

// newController is New on clk, which tests set.
func newController(client kubernetes.Interface, meta metadata.Interface, namespaces coreinformers.NamespaceInformer, resources []schema.GroupVersionResource,
	clk clock.WithTicker, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, meta: meta, resources: resources,
		lister: namespaces.Lister(), synced: namespaces.Informer().HasSynced,
		queue: reconcile.NewQueueWithClock("namespace", clk), clock: clk, log: log,
	}
	if _, err := namespaces.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add namespace event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "namespace", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns.Spec.Finalizers) {
		return nil
	}
	left := c.deleteContent(ctx, name)
	if ns, err = c.setConditions(ctx, ns, left); err != nil {
		return err
	}
	if len(left.failures) > 0 {
		return fmt.Errorf("delete the content of namespace %s: %w", name, errors.Join(left.failures...))
	}
	if n := left.total(); n > 0 {
		c.log.Debug("namespace content still terminating", "namespace", name, "objects", n)
		c.queue.AddAfter(name, recheck)
		return nil
	}
	ns = ns.DeepCopy()
	var kept []corev1.FinalizerName
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			kept = append(kept, f)
		}
	}
	ns.Spec.Finalizers = kept
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	c.log.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

// content is what asking a namespace's objects to go left behind.
type content struct {
	// remaining counts the objects of each resource still there (terminating pods,
	// objects waiting for their finalizers).
	remaining map[schema.GroupVersionResource]int
	// finalizers counts the remaining objects that carry each finalizer.
	finalizers map[string]int
	// failures are the API's errors, one for each resource that could not be
	// listed or deleted.
	failures []error
}

func (l content) total() int {
	n := 0
	for _, r := range l.remaining {
		n += r
	}
	return n
}

// deleteContent asks every object in the namespace to go and reports what is still
// there. A resource that fails does not keep the others from going.
func (c *Controller) deleteContent(ctx context.Context, ns string) content {
	background := metav1.DeletePropagationBackground
	left := content{remaining: map[schema.GroupVersionResource]int{}, finalizers: map[string]int{}}
	for _, gvr := range c.resources {
		client := c.meta.Resource(gvr).Namespace(ns)
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			left.failures = append(left.failures, err)
			continue
		}
		if len(list.Items) == 0 {
			continue
		}
		if err := client.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{}); err != nil {
			left.failures = append(left.failures, err)
			continue
		}
		list, err = client.List(ctx, metav1.ListOptions{})
		if err != nil {
			left.failures = append(left.failures, err)
			continue
		}
		if len(list.Items) > 0 {
			left.remaining[gvr] = len(list.Items)
		}
		for _, item := range list.Items {
			for _, f := range item.Finalizers {
				left.finalizers[f]++
			}
		}
	}
	return left
}

func hasFinalizer(fs []corev1.FinalizerName) bool {
	for _, f := range fs {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
