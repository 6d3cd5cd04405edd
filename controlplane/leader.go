package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/record"

	"github.com/kindlike/kindlike/controlplane/addons"
	"github.com/kindlike/kindlike/controlplane/controllers/cronjob"
	"github.com/kindlike/kindlike/controlplane/controllers/daemonset"
	"github.com/kindlike/kindlike/controlplane/controllers/deployment"
	"github.com/kindlike/kindlike/controlplane/controllers/disruption"
	"github.com/kindlike/kindlike/controlplane/controllers/endpoint"
	"github.com/kindlike/kindlike/controlplane/controllers/endpointslice"
	"github.com/kindlike/kindlike/controlplane/controllers/endpointslicemirroring"
	"github.com/kindlike/kindlike/controlplane/controllers/garbagecollector"
	"github.com/kindlike/kindlike/controlplane/controllers/job"
	"github.com/kindlike/kindlike/controlplane/controllers/kubernetesservice"
	"github.com/kindlike/kindlike/controlplane/controllers/loadbalancer"
	"github.com/kindlike/kindlike/controlplane/controllers/namespace"
	"github.com/kindlike/kindlike/controlplane/controllers/nodelifecycle"
	"github.com/kindlike/kindlike/controlplane/controllers/persistentvolume"
	"github.com/kindlike/kindlike/controlplane/controllers/podgc"
	"github.com/kindlike/kindlike/controlplane/controllers/replicaset"
	"github.com/kindlike/kindlike/controlplane/controllers/rootcacert"
	"github.com/kindlike/kindlike/controlplane/controllers/serviceaccount"
	"github.com/kindlike/kindlike/controlplane/controllers/statefulset"
	"github.com/kindlike/kindlike/controlplane/controllers/ttlafterfinished"
	"github.com/kindlike/kindlike/controlplane/controllers/volumeprotection"
	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/scheduler"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SystemNamespaces exist in every cluster from the start.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// lead runs what only the Raft leader runs, until ctx ends with the leadership.
func (cp *ControlPlane) lead(ctx context.Context) {
	log := cp.log.With("role", "leader")
	log.Info("became leader; starting controllers")
	defer log.Info("leadership lost or member stopping; controllers stopped")
	client, err := kubernetes.NewForConfig(cp.loopback)
	if err != nil {
		log.Error("leader client", "err", err)
		return
	}
	meta, err := metadata.NewForConfig(cp.loopback)
	if err != nil {
		log.Error("leader metadata client", "err", err)
		return
	}
	if err := ensureNamespaces(ctx, client); err != nil {
		log.Error("creating system namespaces", "err", err)
	}
	if err := persistentvolume.EnsureDefaultClass(ctx, client); err != nil {
		log.Error("creating the default storage class", "err", err)
	}
	addonsCfg := cp.cfg.Addons
	addonsCfg.Network = cp.cfg.Network
	wgAddons := sync.WaitGroup{}
	wgAddons.Add(1)
	go func() {
		defer wgAddons.Done()
		if err := addons.Ensure(ctx, client, addonsCfg, log); err != nil && ctx.Err() == nil {
			log.Error("add-ons", "err", err)
		}
	}()
	defer wgAddons.Wait()

	factory := informers.NewSharedInformerFactory(client, 0)
	metaFactory := metadatainformer.NewSharedInformerFactory(meta, 0)
	// A controller that cannot be built (an informer refused its handlers) leaves this
	// leadership without controllers rather than with some silently missing.
	var buildErr error
	built := func(name string, err error) {
		if err != nil {
			buildErr = errors.Join(buildErr, fmt.Errorf("%s: %w", name, err))
		}
	}
	nsController, err := namespace.New(client, meta, factory.Core().V1().Namespaces(), namespacedResources(), log)
	built("namespace", err)
	saController, err := serviceaccount.New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts(), log)
	built("serviceaccount", err)
	caController, err := rootcacert.New(client, cp.cfg.CA, factory.Core().V1().Namespaces(), factory.Core().V1().ConfigMaps(), log)
	built("rootcacert", err)
	gc, err := garbagecollector.New(meta, collectedResources(metaFactory), log)
	built("garbagecollector", err)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	nodeRecorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})
	sched, err := scheduler.New(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: scheduler.Name}), log)
	if err == nil {
		err = sched.UseClaims(factory.Core().V1().PersistentVolumeClaims(), factory.Storage().V1().StorageClasses())
	}
	built("scheduler", err)
	volumes, err := persistentvolume.New(client, factory.Core().V1().PersistentVolumes(), factory.Core().V1().PersistentVolumeClaims(),
		factory.Storage().V1().StorageClasses(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: persistentvolume.Name}),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: persistentvolume.Provisioner}), log)
	built("persistentvolume", err)
	nodes, err := nodelifecycle.New(client, factory.Core().V1().Nodes(), factory.Coordination().V1().Leases(),
		factory.Core().V1().Pods(), nodeRecorder, cp.cfg.Timing, log)
	built("nodelifecycle", err)
	jobs, err := job.New(client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: job.Name}), log)
	built("job", err)
	cronJobs, err := cronjob.New(client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: cronjob.Name}), log)
	built("cronjob", err)
	ttl, err := ttlafterfinished.New(client, factory.Batch().V1().Jobs(), log)
	built("ttlafterfinished", err)
	// Pods of a deleted node go after the node monitor's grace period, Kubernetes'
	// 40 s quarantine scaled like the other node clocks.
	podGC, err := podgc.New(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(), podgc.Options{
		Quarantine: cp.cfg.Timing.NodeMonitorGracePeriod.Duration,
		Period:     cp.cfg.Timing.NodeMonitorGracePeriod.Duration / 2,
	}, log)
	built("podgc", err)
	pods := factory.Core().V1().Pods()
	rsController, err := replicaset.NewReplicaSets(client, factory.Apps().V1().ReplicaSets(), pods,
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "replicaset-controller"}), log)
	built("replicaset", err)
	rcController, err := replicaset.NewReplicationControllers(client, factory.Core().V1().ReplicationControllers(), pods,
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "replication-controller"}), log)
	built("replicationcontroller", err)
	deployController, err := deployment.New(client, factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), pods,
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: deployment.Name}), log)
	built("deployment", err)
	statefulSets, err := statefulset.New(client, factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(),
		factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: statefulset.Name}), log)
	built("statefulset", err)
	daemonSets, err := daemonset.New(client, factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(),
		factory.Core().V1().Nodes(), factory.Apps().V1().ControllerRevisions(),
		broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: daemonset.Name}), log)
	built("daemonset", err)
	budgets, err := disruption.New(client, factory.Policy().V1().PodDisruptionBudgets(), pods, factory.Apps().V1().ReplicaSets(),
		factory.Apps().V1().Deployments(), factory.Apps().V1().StatefulSets(), factory.Core().V1().ReplicationControllers(), log)
	built("disruption", err)
	protection, err := volumeprotection.New(client, factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().PersistentVolumes(),
		factory.Core().V1().Pods(), log)
	built("volumeprotection", err)
	endpoints, err := endpoint.New(client, factory.Core().V1().Services(), pods, factory.Core().V1().Endpoints(), log)
	built("endpoint", err)
	endpointSlices, err := endpointslice.New(client, factory.Core().V1().Services(), pods, factory.Core().V1().Nodes(),
		factory.Discovery().V1().EndpointSlices(), log)
	built("endpointslice", err)
	mirroring, err := endpointslicemirroring.New(client, factory.Core().V1().Services(), factory.Core().V1().Endpoints(),
		factory.Discovery().V1().EndpointSlices(), log)
	built("endpointslicemirroring", err)
	var loadBalancers *loadbalancer.Controller
	if pool, err := netip.ParsePrefix(cp.cfg.Network.LoadBalancerRange); err != nil {
		log.Warn("no LoadBalancer range: LoadBalancer Services stay pending", "range", cp.cfg.Network.LoadBalancerRange)
	} else {
		loadBalancers, err = loadbalancer.New(client, factory.Core().V1().Services(), factory.Core().V1().Nodes(),
			factory.Discovery().V1().EndpointSlices(),
			broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: loadbalancer.Name}), pool, log)
		built("loadbalancer", err)
	}
	var kubernetesService *kubernetesservice.Controller
	if ip, err := cp.cfg.Network.ServiceIP(1); err != nil {
		log.Error("no address for the kubernetes Service", "err", err)
	} else {
		kubernetesService, err = kubernetesservice.New(client, factory.Core().V1().Services(), factory.Core().V1().Endpoints(),
			factory.Discovery().V1().EndpointSlices(), factory.Coordination().V1().Leases(), ip, cp.apiPort(), cp.address, log)
		built("kubernetesservice", err)
	}
	if buildErr != nil {
		log.Error("building controllers; none run until the next leadership", "err", buildErr)
		return
	}

	factory.Start(ctx.Done())
	metaFactory.Start(ctx.Done())
	var wg sync.WaitGroup
	runs := []func(context.Context){
		func(ctx context.Context) { nsController.Run(ctx, 2) },
		func(ctx context.Context) { saController.Run(ctx, 1) },
		func(ctx context.Context) { caController.Run(ctx, 1) },
		func(ctx context.Context) { gc.Run(ctx, 4) },
		func(ctx context.Context) { nodes.Run(ctx, 2) },
		func(ctx context.Context) { volumes.Run(ctx, 1) },
		func(ctx context.Context) { jobs.Run(ctx, 4) },
		func(ctx context.Context) { cronJobs.Run(ctx, 2) },
		func(ctx context.Context) { ttl.Run(ctx, 2) },
		func(ctx context.Context) { podGC.Run(ctx, 4) },
		func(ctx context.Context) { rsController.Run(ctx, 4) },
		func(ctx context.Context) { rcController.Run(ctx, 2) },
		func(ctx context.Context) { deployController.Run(ctx, 4) },
		func(ctx context.Context) { statefulSets.Run(ctx, 2) },
		func(ctx context.Context) { daemonSets.Run(ctx, 2) },
		func(ctx context.Context) { budgets.Run(ctx, 2) },
		func(ctx context.Context) { protection.Run(ctx, 2) },
		func(ctx context.Context) { endpoints.Run(ctx, 2) },
		func(ctx context.Context) { endpointSlices.Run(ctx, 2) },
		func(ctx context.Context) { mirroring.Run(ctx, 1) },
		func(ctx context.Context) { sched.Run(ctx, 16) },
	}
	if kubernetesService != nil {
		runs = append(runs, func(ctx context.Context) { kubernetesService.Run(ctx, 1) })
	}
	if loadBalancers != nil {
		runs = append(runs, func(ctx context.Context) { loadBalancers.Run(ctx, 1) })
	}
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	metaFactory.Shutdown()
}

// ensureNamespaces creates the system namespaces that are missing, retrying until the
// API answers (the leader's own API may still be catching up).
func ensureNamespaces(ctx context.Context, client kubernetes.Interface) error {
	for _, name := range SystemNamespaces {
		for {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("namespace %s: %w", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// namespacedResources are the resources a namespace holds, each storage once.
func namespacedResources() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range registry.All() {
		if r.Namespaced && r.StoredAs == nil {
			out = append(out, r.GVR())
		}
	}
	return out
}

// collectedResources are the resources the garbage collector follows, each with its
// informer from factory.
func collectedResources(factory metadatainformer.SharedInformerFactory) []garbagecollector.Resource {
	var out []garbagecollector.Resource
	for _, r := range registry.All() {
		if r.StoredAs == nil && r != registry.Events {
			out = append(out, garbagecollector.Resource{GVR: r.GVR(), Kind: r.Kind, Namespaced: r.Namespaced,
				Informer: factory.ForResource(r.GVR()).Informer()})
		}
	}
	return out
}
