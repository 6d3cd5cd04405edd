// Package ttlafterfinished is the TTL-after-finished controller: it deletes a finished
// Job (and, through the garbage collector, its pods) once spec.ttlSecondsAfterFinished
// have passed since it completed or failed, as Kubernetes does.
package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/reconcile"
)

// Controller deletes expired finished Jobs.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	now    func() time.Time
	log    *slog.Logger
}

// New makes the controller.
func New(client kubernetes.Interface, jobs batchinformers.JobInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client: client, jobs: jobs.Lister(),
		synced: []cache.InformerSynced{jobs.Informer().HasSynced},
		queue:  reconcile.NewQueue("ttlafterfinished"), now: time.Now, log: log,
	}
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && needsCleanup(j) {
			reconcile.Enqueue(c.queue, j)
		}
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("add job event handler: %w", err)
	}
	return c, nil
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop := reconcile.Loop{Name: "ttlafterfinished", Queue: c.queue, Sync: c.sync, Log: c.log}
	loop.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(key, job); err != nil || !expired {
		return err
	}
	// The cache may be old: a Job whose TTL was just raised must survive. Check the
	// API's copy, and delete exactly that version.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(key, fresh); err != nil || !expired {
		return err
	}
	c.log.Info("deleting finished job past its TTL", "job", key)
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete job %s: %w", key, err)
	}
	return nil
}

// expired says whether job's TTL ran out; if it will later, it asks to be synced then.
func (c *Controller) expired(key string, job *batchv1.Job) (bool, error) {
	if !needsCleanup(job) {
		return false, nil
	}
	left, err := timeLeft(job, c.now())
	if err != nil {
		return false, err
	}
	if left > 0 {
		c.queue.AddAfter(key, left)
		return false, nil
	}
	return true, nil
}

// needsCleanup: a Job with a TTL that finished and is not being deleted already.
func needsCleanup(j *batchv1.Job) bool {
	return j.Spec.TTLSecondsAfterFinished != nil && j.DeletionTimestamp == nil && !finishTime(j).IsZero()
}

// timeLeft is how long until the Job expires (zero or less: it has).
func timeLeft(j *batchv1.Job, now time.Time) (time.Duration, error) {
	finished := finishTime(j)
	if finished.IsZero() {
		return 0, fmt.Errorf("unable to find the time when the Job %s/%s finished", j.Namespace, j.Name)
	}
	return finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), nil
}

// finishTime is when the Job's Complete or Failed condition became True.
func finishTime(j *batchv1.Job) time.Time {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
