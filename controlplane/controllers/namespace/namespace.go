// Package namespace is the namespace controller: it empties a namespace being deleted
// of every object, then lets the namespace itself go.
package namespace

import (
	"context"
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
	remaining, err := c.deleteContent(ctx, name)
	if err != nil {
		return err
	}
	if remaining > 0 {
		c.log.Debug("namespace content still terminating", "namespace", name, "objects", remaining)
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

// deleteContent asks every object in the namespace to go and returns how many are
// still there (terminating pods, objects waiting for finalizers).
func (c *Controller) deleteContent(ctx context.Context, ns string) (int, error) {
	background := metav1.DeletePropagationBackground
	remaining := 0
	for _, gvr := range c.resources {
		client := c.meta.Resource(gvr).Namespace(ns)
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, err)
		}
		if len(list.Items) == 0 {
			continue
		}
		if err := client.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{}); err != nil {
			return 0, fmt.Errorf("delete %s in %s: %w", gvr.Resource, ns, err)
		}
		left, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, err)
		}
		remaining += len(left.Items)
	}
	return remaining, nil
}

func hasFinalizer(fs []corev1.FinalizerName) bool {
	for _, f := range fs {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
