// Package job is the Job controller: it runs a Job's pods to the number of completions
// it asks for, parallelism at a time, counts their successes and failures through the
// batch.kubernetes.io/job-tracking finalizer, and ends the Job Complete or Failed
// (backoff limit, active deadline), as Kubernetes v1.32's job controller does.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Name is the controller's name, as events show it.
const Name = "job-controller"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Kubernetes' pod failure back-off: a Job waits 10 s after its first failure before
// it makes a replacement pod, doubling with each further failure, up to 10 minutes.
const (
	DefaultPodFailureBackOff = 10 * time.Second
	MaxPodFailureBackOff     = 10 * time.Minute
)

// byNamespace indexes pods by namespace, for claiming a Job's pods.
const byNamespace = cache.NamespaceIndex

// Controller runs Jobs.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	orphans  workqueue.TypedRateLimitingInterface[string]
	control  podcontrol.Control
	recorder record.EventRecorder
	now      func() time.Time
	log      *slog.Logger

	// BackOff is the delay after a Job's first pod failure before a replacement.
	BackOff, MaxBackOff time.Duration

	expectations *podcontrol.Expectations
	finalizers   *finalizerExpectations
	backoffs     *backoffStore
}

// New makes the controller.
func New(client kubernetes.Interface, jobs batchinformers.JobInformer, pods coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, jobs: jobs.Lister(), pods: pods.Informer().GetIndexer(),
		synced:   []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced},
		queue:    reconcile.NewQueue("job"),
		orphans:  reconcile.NewQueue("job-orphan-pod"),
		control:  podcontrol.Control{Client: client, Recorder: recorder},
		recorder: recorder, now: time.Now, log: log,
		BackOff: DefaultPodFailureBackOff, MaxBackOff: MaxPodFailureBackOff,
		expectations: podcontrol.NewExpectations(),
		finalizers:   newFinalizerExpectations(),
		backoffs:     newBackoffStore(),
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { reconcile.Enqueue(c.queue, obj) },
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, fmt.Errorf("add job event handler: %w", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("add pod event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		orphans := reconcile.Loop{Name: "job-orphan-pod", Queue: c.orphans, Sync: c.syncOrphanPod, Log: c.log}
		orphans.Run(ctx, 1, c.synced...)
	}()
	loop := reconcile.Loop{Name: "job", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
	wg.Wait()
}

// jobOf returns the key of the Job controlling pod, if any.
func jobOf(pod *corev1.Pod) (string, bool) {
	return podcontrol.OwnerKey(pod, controllerKind)
}

// controllingJob returns the key of pod's Job when that Job (same uid) is in the cache.
func (c *Controller) controllingJob(pod *corev1.Pod) (string, bool) {
	key, ok := jobOf(pod)
	if !ok {
		return "", false
	}
	job, err := c.jobs.Jobs(pod.Namespace).Get(metav1.GetControllerOfNoCopy(pod).Name)
	// A finished Job counts nothing more: its pods are as good as orphans.
	if err != nil || job.UID != metav1.GetControllerOfNoCopy(pod).UID || finished(job) {
		return "", false
	}
	return key, true
}

func (c *Controller) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, ok := c.controllingJob(pod)
	if !ok {
		c.maybeOrphan(pod)
		return
	}
	c.expectations.CreationObserved(key)
	if pod.DeletionTimestamp != nil {
		c.expectations.DeletionObserved(key, podcontrol.Key(pod))
	}
	c.queue.Add(key)
}

func (c *Controller) updatePod(oldObj, obj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	if hasTrackingFinalizer(old) && !hasTrackingFinalizer(pod) {
		if key, ok := jobOf(pod); ok {
			c.finalizers.observed(key, pod.UID)
		}
	}
	if oldKey, ok := jobOf(old); ok {
		if newKey, ok := jobOf(pod); !ok || newKey != oldKey {
			c.queue.Add(oldKey)
		}
	}
	key, ok := c.controllingJob(pod)
	if !ok {
		c.maybeOrphan(pod)
		return
	}
	if pod.DeletionTimestamp != nil {
		c.expectations.DeletionObserved(key, podcontrol.Key(pod))
	}
	c.queue.Add(key)
}

func (c *Controller) deletePod(obj any) {
	obj = reconcile.Unwrap(obj)
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, ok := jobOf(pod)
	if !ok {
		return
	}
	c.expectations.DeletionObserved(key, podcontrol.Key(pod))
	c.finalizers.observed(key, pod.UID)
	c.queue.Add(key)
}

// deleteJob queues the Job (to forget it) and its pods that still hold the tracking
// finalizer, which nobody will count now.
func (c *Controller) deleteJob(obj any) {
	reconcile.Enqueue(c.queue, obj)
	obj = reconcile.Unwrap(obj)
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	objs, _ := c.pods.ByIndex(byNamespace, job.Namespace)
	for _, o := range objs {
		pod := o.(*corev1.Pod)
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(pod) {
			c.orphans.Add(podcontrol.Key(pod))
		}
	}
}

// maybeOrphan queues a pod holding the tracking finalizer without a Job to count it.
func (c *Controller) maybeOrphan(pod *corev1.Pod) {
	if hasTrackingFinalizer(pod) {
		c.orphans.Add(podcontrol.Key(pod))
	}
}

// syncOrphanPod removes the tracking finalizer of a pod whose Job is gone or finished.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	obj, exists, err := c.pods.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.Kind == controllerKind.Kind {
		job, err := c.jobs.Jobs(pod.Namespace).Get(ref.Name)
		switch {
		case err == nil && job.UID == ref.UID && !finished(job):
			return nil // its Job counts it
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
	}
	return c.removeFinalizer(ctx, pod)
}

// finalizerExpectations remember, per Job, the pods whose tracking finalizer is being
// removed: they are counted already, though the cache may still show the finalizer.
type finalizerExpectations struct {
	mu sync.Mutex
	m  map[string]sets.Set[string]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{m: map[string]sets.Set[string]{}}
}

func (f *finalizerExpectations) expect(key string, uids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[key] == nil {
		f.m[key] = sets.New[string]()
	}
	f.m[key].Insert(uids...)
}

func (f *finalizerExpectations) observed(key string, uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.m[key]; s != nil {
		s.Delete(string(uid))
		if s.Len() == 0 {
			delete(f.m, key)
		}
	}
}

func (f *finalizerExpectations) get(key string) sets.Set[string] {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[key].Clone()
}

func (f *finalizerExpectations) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}
