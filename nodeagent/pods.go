package nodeagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// uidIndex finds pods by UID: pod workers are keyed by UID, so a pod deleted and
// created again under the same name is a new pod.
const uidIndex = "uid"

// startInformers starts watching the pods bound to this node, and the ConfigMaps,
// Secrets, PersistentVolumeClaims and PersistentVolumes pods read, and waits until the caches are filled: nothing is removed before
// the agent knows every pod it should run.
func (a *agent) startInformers(ctx context.Context) error {
	byNode := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.node.Name).String()
		}))
	a.pods = byNode.Core().V1().Pods().Informer()
	if err := a.pods.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}}); err != nil {
		return err
	}
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok && a.workers != nil {
			a.workers.enqueue(string(p.UID))
		}
	}
	if _, err := a.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	all := informers.NewSharedInformerFactory(a.client, 0)
	cms, secrets := all.Core().V1().ConfigMaps(), all.Core().V1().Secrets()
	a.source.configMaps, a.source.secrets = cms.Lister(), secrets.Lister()
	// A changed ConfigMap or Secret may fix a pod waiting for it, or change files
	// mounted from it: look at the namespace's pods again.
	byNamespace := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(interface{ GetNamespace() string })
		if !ok || a.workers == nil {
			return
		}
		for _, o := range a.pods.GetStore().List() {
			if p := o.(*corev1.Pod); p.Namespace == m.GetNamespace() {
				a.workers.enqueue(string(p.UID))
			}
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: byNamespace, UpdateFunc: func(_, o any) { byNamespace(o) }, DeleteFunc: byNamespace}
	// Services give pods started after them their environment variables.
	svcs := all.Core().V1().Services()
	a.services = svcs.Lister()
	// A claim bound lets the namespace's pods waiting for it mount it.
	claims, pvs := all.Core().V1().PersistentVolumeClaims(), all.Core().V1().PersistentVolumes()
	a.source.claims, a.source.volumes = claims.Lister(), pvs.Lister()
	for _, inf := range []cache.SharedIndexInformer{cms.Informer(), secrets.Informer(), claims.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	// A PersistentVolume being deleted may have a Docker volume to remove.
	if _, err := pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { a.reclaimSoon() },
	}); err != nil {
		return err
	}
	byNode.Start(ctx.Done())
	all.Start(ctx.Done())
	synced := []cache.InformerSynced{a.pods.HasSynced, cms.Informer().HasSynced, secrets.Informer().HasSynced,
		claims.Informer().HasSynced, pvs.Informer().HasSynced, svcs.Informer().HasSynced}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("watch pods of node %s: %w", a.node.Name, ctx.Err())
	}
	return nil
}

// podByUID is the pod with uid as the watch cache has it, nil if it has none.
func (a *agent) podByUID(uid string) *corev1.Pod {
	objs, err := a.pods.GetIndexer().ByIndex(uidIndex, uid)
	if err != nil || len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Pod)
}

// podByName is the pod namespace/name bound to this node, nil if there is none.
func (a *agent) podByName(namespace, name string) *corev1.Pod {
	obj, ok, err := a.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Pod)
}

// housekeeping looks at every pod now and then, whatever signalled: the pods the API
// binds here, and the pods Docker still has containers or volumes of (which the
// API may have forgotten while the agent was away).
func (a *agent) housekeeping(ctx context.Context) {
	for {
		uids := map[string]bool{}
		for _, o := range a.pods.GetStore().List() {
			uids[string(o.(*corev1.Pod).UID)] = true
		}
		if ctrs, err := a.rt.AllContainers(ctx); err == nil {
			for _, c := range ctrs {
				uids[c.Pod.UID] = true
			}
		} else if ctx.Err() == nil {
			a.log.Warn("listing pod containers", "err", err)
		}
		if vols, err := a.rt.PodVolumes(ctx); err == nil {
			for _, v := range vols {
				uids[v.PodUID] = true
			}
		}
		for uid := range uids {
			if uid != "" {
				a.workers.enqueue(uid)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.SyncInterval):
		}
	}
}

// findNodeContainer inspects the node's container, for its network and address.
func (a *agent) findNodeContainer(ctx context.Context) error {
	var n runtime.NodeContainer
	err := retry(ctx, 5*time.Second, func() error {
		var err error
		n, err = a.nodeContainer(ctx)
		if err != nil {
			a.log.Warn("cannot inspect the node container; retrying", "container", a.cfg.NodeContainer, "err", err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("find node container %s (pods run beside it, in its PID namespace and on its network): %w", a.cfg.NodeContainer, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.address = a.cfg.Address
	if a.address == "" {
		a.address = n.IP
	}
	return nil
}

// nodeContainer inspects the node's container afresh: a restart may give it a new
// address.
func (a *agent) nodeContainer(ctx context.Context) (runtime.NodeContainer, error) {
	n, err := a.rt.Node(ctx, a.cfg.NodeContainer, "kindlike-"+a.node.Cluster)
	if err == nil {
		a.mu.Lock()
		a.nodeCtr = n
		a.mu.Unlock()
	}
	return n, err
}

// lastNodeContainer is the node's container as last inspected: its ID, which pod
// containers need, survives its restarts.
func (a *agent) lastNodeContainer(ctx context.Context) (runtime.NodeContainer, error) {
	a.mu.Lock()
	n := a.nodeCtr
	a.mu.Unlock()
	if n.ID != "" {
		return n, nil
	}
	return a.nodeContainer(ctx)
}
