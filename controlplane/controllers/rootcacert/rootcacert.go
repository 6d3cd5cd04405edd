// Package rootcacert publishes the cluster CA into every namespace as the ConfigMap
// kube-root-ca.crt, as Kubernetes does, so pods can verify the API server.
package rootcacert

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name of the published ConfigMap, and its key.
const (
	Name = "kube-root-ca.crt"
	Key  = "ca.crt"
)

// Controller keeps kube-root-ca.crt in every active namespace, holding the CA.
type Controller struct {
	client     kubernetes.Interface
	caPEM      string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	log        *slog.Logger
}

// New makes the controller publishing caPEM.
func New(client kubernetes.Interface, caPEM []byte, namespaces coreinformers.NamespaceInformer, configMaps coreinformers.ConfigMapInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, caPEM: string(caPEM), namespaces: namespaces.Lister(), configMaps: configMaps.Lister(),
		synced: []cache.InformerSynced{namespaces.Informer().HasSynced, configMaps.Informer().HasSynced},
		queue:  reconcile.NewQueue("rootcacert"), log: log,
	}
	if _, err := namespaces.Informer().AddEventHandler(reconcile.Handler(c.queue)); err != nil {
		return nil, fmt.Errorf("add namespace event handler: %w", err)
	}
	onConfigMap := func(obj any) {
		if cm, ok := reconcile.Unwrap(obj).(*corev1.ConfigMap); ok && cm.Name == Name {
			c.queue.Add(cm.Namespace)
		}
	}
	if _, err := configMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { onConfigMap(obj) },
		DeleteFunc: onConfigMap,
	}); err != nil {
		return nil, fmt.Errorf("add configmap event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "rootcacert", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	cm, err := c.configMaps.ConfigMaps(namespace).Get(Name)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace}, Data: map[string]string{Key: c.caPEM}}
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			return nil
		}
	case err != nil:
		return err
	case cm.Data[Key] == c.caPEM && len(cm.Data) == 1:
		return nil
	default:
		cm = cm.DeepCopy()
		cm.Data = map[string]string{Key: c.caPEM}
		_, err = c.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("publish %s in %s: %w", Name, namespace, err)
	}
	return nil
}
