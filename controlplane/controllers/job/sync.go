package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
)

const (
	// managedBy is the spec.managedBy value (or its absence) this controller handles.
	managedBy = "kubernetes.io/job-controller"
	// maxUncounted bounds status.uncountedTerminatedPods, as Kubernetes does.
	maxUncounted = 500
	// maxPodChangesPerSync bounds the pods created or deleted in one sync.
	maxPodChangesPerSync = 500

	msgBackoffLimit = "Job has reached the specified backoff limit"
	msgDeadline     = "Job was active longer than specified deadline"
	msgCompletions  = "Reached expected number of succeeded pods"
)

// state is what one sync learned about a Job and its pods.
type state struct {
	job         *batchv1.Job
	pods        []*corev1.Pod
	active      []*corev1.Pod
	ready       int32
	terminating int32
	// uncounted are the uids in status.uncountedTerminatedPods when the sync began.
	uncountedSucceeded, uncountedFailed sets.Set[string]
	// removing are pods whose finalizer this controller is removing already.
	removing             sets.Set[string]
	succeeded, failed    int32
	prevSucceededIndexes map[int]bool
	succeededIndexes     map[int]bool
	// finished is the condition the Job is heading for, once set.
	finished *batchv1.JobCondition
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		c.finalizers.forget(key)
		c.backoffs.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if finished(shared) {
		c.backoffs.forget(key)
		return nil
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != managedBy {
		return nil // another controller runs it
	}
	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read expectations before the pods: a pod that shows up in between only defers
	// the work to the next sync.
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.podsOf(ctx, job)
	if err != nil {
		return err
	}
	now := c.now()
	s := &state{job: job, pods: pods, removing: c.finalizers.get(key)}
	for _, p := range pods {
		if podcontrol.IsActive(p) {
			s.active = append(s.active, p)
			if podutils.IsPodReady(p) {
				s.ready++
			}
		}
		if p.DeletionTimestamp != nil && !podcontrol.IsTerminal(p) {
			s.terminating++
		}
	}
	s.uncountedSucceeded = uidSet(job.Status.UncountedTerminatedPods.Succeeded)
	s.uncountedFailed = uidSet(job.Status.UncountedTerminatedPods.Failed)
	active := int32(len(s.active))
	newSucceeded, newFailed := s.newlyFinished()
	s.succeeded = job.Status.Succeeded + int32(len(newSucceeded)+s.uncountedSucceeded.Len())
	s.failed = job.Status.Failed + int32(len(newFailed)+s.uncountedFailed.Len())

	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = &metav1.Time{Time: now}
	}
	nextBackoff := c.backoffs.get(key).next(newSucceeded, newFailed, now)

	s.finished = condition(job, batchv1.JobSuccessCriteriaMet)
	if s.finished == nil {
		if ft := condition(job, batchv1.JobFailureTarget); ft != nil {
			s.finished = newCondition(batchv1.JobFailed, ft.Reason, ft.Message, now)
		}
	}
	if s.finished == nil {
		switch {
		case s.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit, now)
		case pastActiveDeadline(job, now):
			s.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, msgDeadline, now)
		case job.Spec.ActiveDeadlineSeconds != nil && !suspended(job):
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
			c.queue.AddAfter(key, left)
		}
	}
	if indexed(job) {
		s.prevSucceededIndexes, s.succeededIndexes = s.indexesSucceeded()
		s.succeeded = int32(len(s.succeededIndexes))
	}

	var manageErr error
	suspendChanged := false
	if s.finished != nil {
		deletedReady, deleted, err := c.deleteActive(ctx, job, s.active)
		if deleted != active || !satisfied {
			// Pods may remain, or be missing from the cache: not finished yet.
			s.finished = nil
		}
		active -= deleted
		s.terminating += deleted
		s.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manage(ctx, key, s, nextBackoff, now)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// A work queue: done when one pod succeeded and the others have stopped.
			complete = s.succeeded > 0 && active == 0
		} else {
			complete = s.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			s.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletions, now)
		case managed && suspended(job):
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case managed:
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts the time a Job is continuously active.
				job.Status.StartTime = &metav1.Time{Time: now}
			}
		}
	}

	needsUpdate := suspendChanged || active != job.Status.Active || !ptr.Equal(&s.ready, job.Status.Ready) ||
		!ptr.Equal(&s.terminating, job.Status.Terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(s.ready)
	job.Status.Terminating = ptr.To(s.terminating)
	if err := c.trackStatus(ctx, key, s, needsUpdate, nextBackoff, now); err != nil {
		return fmt.Errorf("tracking status of job %s: %w", key, err)
	}
	return manageErr
}

// podsOf returns the pods the Job owns, adopting orphans its selector matches.
func (c *Controller) podsOf(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s selector: %w", job.Namespace, job.Name, err)
	}
	objs, err := c.pods.ByIndex(byNamespace, job.Namespace)
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if sel.Matches(labels.Set(p.Labels)) || metav1.IsControlledBy(p, job) {
			pods = append(pods, p)
		}
	}
	return podcontrol.Claim(ctx, job, controllerKind, sel, pods, podcontrol.PodPatcher(c.client, job.Namespace))
}

// newlyFinished returns the pods that succeeded or failed and are not counted yet.
func (s *state) newlyFinished() (succeeded, failed []*corev1.Pod) {
	for _, p := range s.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || s.removing.Has(uid) {
			continue
		}
		if indexed(s.job) {
			if i := completionIndex(p); i == noIndex || i >= int(*s.job.Spec.Completions) {
				continue
			}
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedSucceeded.Has(uid):
			succeeded = append(succeeded, p)
		case podFailed(p, s.job) && !s.uncountedFailed.Has(uid):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// indexesSucceeded returns the indexes the status lists and those plus the indexes of
// succeeded pods not counted yet.
func (s *state) indexesSucceeded() (prev, all map[int]bool) {
	completions := int(*s.job.Spec.Completions)
	prev, _ = parseIndexes(s.job.Status.CompletedIndexes, completions)
	all = map[int]bool{}
	for i := range prev {
		all[i] = true
	}
	for _, p := range s.pods {
		if i := completionIndex(p); p.Status.Phase == corev1.PodSucceeded && i != noIndex && i < completions && hasTrackingFinalizer(p) {
			all[i] = true
		}
	}
	return prev, all
}

// manage creates or deletes pods toward the number the Job wants running, and
// returns how many are active then.
func (c *Controller) manage(ctx context.Context, key string, s *state, bo backoff, now time.Time) (int32, error) {
	job := s.job
	active := int32(len(s.active))
	if suspended(job) {
		readyGone, gone, err := c.deletePods(ctx, key, job, s.active)
		s.terminating += gone
		s.ready -= readyGone
		return active - gone, err
	}
	want := wantActive(job, active, s.succeeded)
	rm := podsForRemoval(job, s.active, int(max(active-want, 0)), s.succeededIndexes)
	if len(rm) > maxPodChangesPerSync {
		rm = rm[:maxPodChangesPerSync]
	}
	if len(rm) > 0 {
		// Deleting and creating in one sync could fight; deletion goes first.
		readyGone, gone, err := c.deletePods(ctx, key, job, rm)
		s.terminating += gone
		s.ready -= readyGone
		return active - gone, err
	}
	var terminating int32
	if ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed {
		terminating = s.terminating
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if wait := bo.remaining(now, c.BackOff, c.MaxBackOff); wait > 0 {
		c.queue.AddAfter(key, wait)
		return active, nil
	}
	diff = min(diff, maxPodChangesPerSync)
	var indexes []int
	if indexed(job) {
		indexes = pendingIndexes(int(diff), int(*job.Spec.Completions), s.succeededIndexes, s.active)
		diff = int32(len(indexes))
	}
	c.expectations.ExpectCreations(key, int(diff))
	tpl := job.Spec.Template.DeepCopy()
	if !hasString(tpl.Finalizers, batchv1.JobTrackingFinalizer) {
		tpl.Finalizers = append(tpl.Finalizers, batchv1.JobTrackingFinalizer)
	}
	// Slow start: batches of 1, 2, 4, ..., stopping at the first batch with a failure,
	// so a Job that cannot create pods (quota, admission) makes few doomed requests.
	var errs []error
	for batch := int32(1); diff > 0; batch *= 2 {
		batch = min(batch, diff)
		failed := 0
		for range batch {
			pod := podcontrol.NewPod(tpl, job, controllerKind)
			if len(indexes) > 0 {
				i := indexes[0]
				indexes = indexes[1:]
				t := tpl.DeepCopy()
				indexedTemplate(job, t, i)
				pod = podcontrol.NewPod(t, job, controllerKind)
				pod.GenerateName = indexedGenerateName(job.Name, i)
			}
			if _, err := c.control.Create(ctx, pod, job); err != nil {
				c.expectations.CreationObserved(key)
				failed++
				errs = append(errs, err)
				continue
			}
			active++
		}
		diff -= batch
		if failed > 0 {
			for range diff {
				c.expectations.CreationObserved(key)
			}
			break
		}
	}
	return active, errors.Join(errs...)
}

// wantActive is how many pods a running Job wants: parallelism, never more than the
// completions still missing; a work queue (no completions) starts no new pods once
// one has succeeded.
func wantActive(job *batchv1.Job, active, succeeded int32) int32 {
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(min(*job.Spec.Completions-succeeded, parallelism), 0)
}

// podsForRemoval picks at least n active pods to delete, the least advanced first;
// for an indexed Job also every pod with a bad, done or repeated index.
func podsForRemoval(job *batchv1.Job, active []*corev1.Pod, n int, succeeded map[int]bool) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if indexed(job) {
		rm, left = surplusIndexed(active, int(*job.Spec.Completions), succeeded)
	} else {
		left = append(left, active...)
	}
	if len(rm) < n {
		sort.SliceStable(left, func(i, j int) bool { return lessAdvanced(left[i], left[j]) })
		rm = append(rm, left[:min(n-len(rm), len(left))]...)
	}
	return rm
}

// lessAdvanced orders pods as Kubernetes picks them for deletion: unscheduled before
// scheduled, pending before running, not ready before ready, newer before older.
func lessAdvanced(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	rank := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	if rank[a.Status.Phase] != rank[b.Status.Phase] {
		return rank[a.Status.Phase] < rank[b.Status.Phase]
	}
	if podutils.IsPodReady(a) != podutils.IsPodReady(b) {
		return !podutils.IsPodReady(a)
	}
	return b.CreationTimestamp.Before(&a.CreationTimestamp)
}

// deletePods removes pods the Job no longer wants (scale-down, suspension): their
// finalizer first, so they are not counted as failures.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (readyGone, gone int32, err error) {
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = podcontrol.Key(p)
	}
	c.expectations.ExpectDeletions(key, keys...)
	var errs []error
	for _, p := range pods {
		err := c.removeFinalizer(ctx, p)
		if err == nil {
			err = c.control.Delete(ctx, p.Namespace, p.Name, job)
		}
		if err != nil {
			c.expectations.DeletionObserved(key, podcontrol.Key(p))
			errs = append(errs, err)
			continue
		}
		gone++
		if podutils.IsPodReady(p) {
			readyGone++
		}
	}
	return readyGone, gone, errors.Join(errs...)
}

// deleteActive deletes the pods of a Job that is failing, keeping their finalizers:
// they are counted as failed once gone.
func (c *Controller) deleteActive(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (readyGone, gone int32, err error) {
	var errs []error
	for _, p := range pods {
		if err := c.control.Delete(ctx, p.Namespace, p.Name, job); err != nil {
			errs = append(errs, err)
			continue
		}
		gone++
		if podutils.IsPodReady(p) {
			readyGone++
		}
	}
	return readyGone, gone, errors.Join(errs...)
}

// trackStatus counts finished pods through status.uncountedTerminatedPods, as
// Kubernetes does so that no pod is counted twice or lost:
//  1. finished pods that still hold the tracking finalizer are added to the uncounted
//     lists, and the status written;
//  2. their finalizers are removed;
//  3. pods listed as uncounted that no longer hold the finalizer move to the counters;
//  4. the Job gets its final condition once nothing is uncounted or terminating.
func (c *Controller) trackStatus(ctx context.Context, key string, s *state, needsFlush bool, bo backoff, now time.Time) error {
	job := s.job
	uncounted := job.Status.UncountedTerminatedPods
	withFinalizer := sets.New[string]()
	for _, p := range s.pods {
		if hasTrackingFinalizer(p) && !s.removing.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	var toRemove []*corev1.Pod
	var newIndexes []int
	full := false
	for _, p := range s.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || s.removing.Has(uid) {
			continue // counted in an earlier sync
		}
		failed := podFailed(p, job)
		if job.DeletionTimestamp == nil && s.finished == nil && p.Status.Phase != corev1.PodSucceeded && !failed {
			continue // still running
		}
		toRemove = append(toRemove, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncountedFailed.Has(uid):
			if indexed(job) {
				if i := completionIndex(p); i != noIndex && i < int(*job.Spec.Completions) && !s.prevSucceededIndexes[i] {
					newIndexes = append(newIndexes, i)
					needsFlush = true
				}
			} else if !s.uncountedSucceeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (s.finished != nil && s.finished.Type != batchv1.JobSuccessCriteriaMet):
			// A Job that is failing counts every pod it stops as failed.
			i := completionIndex(p)
			if !s.uncountedFailed.Has(uid) && (!indexed(job) || (i != noIndex && i < int(*job.Spec.Completions))) {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncounted {
			full = true // the rest in the next sync
			break
		}
	}
	if indexed(job) {
		for _, i := range newIndexes {
			s.succeededIndexes[i] = true
		}
		done := formatIndexes(s.succeededIndexes)
		if done != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(len(s.succeededIndexes))
		job.Status.CompletedIndexes = done
	}
	// The interim conditions are written before any finalizer goes, so a leader
	// change cannot lose why the Job is ending.
	if s.finished != nil && s.finished.Type == batchv1.JobFailureTarget {
		job.Status.Conditions = append(job.Status.Conditions, *s.finished)
		needsFlush = true
		s.finished = newCondition(batchv1.JobFailed, s.finished.Reason, s.finished.Message, now)
	}
	if s.finished != nil && s.finished.Type == batchv1.JobSuccessCriteriaMet {
		if condition(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *s.finished)
			needsFlush = true
		}
		s.finished = newCondition(batchv1.JobComplete, s.finished.Reason, s.finished.Message, now)
	}

	var err error
	if needsFlush {
		if job, err = c.updateStatus(ctx, job); err != nil {
			return fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		s.job = job
		c.backoffs.set(key, bo)
		needsFlush = false
	}
	var rmErrs []error
	if len(toRemove) > 0 {
		uids := make([]string, len(toRemove))
		for i, p := range toRemove {
			uids[i] = string(p.UID)
		}
		c.finalizers.expect(key, uids...)
		for _, p := range toRemove {
			if err := c.removeFinalizer(ctx, p); err != nil {
				c.finalizers.observed(key, p.UID)
				rmErrs = append(rmErrs, err)
				continue
			}
			withFinalizer.Delete(string(p.UID))
		}
	}
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr := errors.Join(rmErrs...); rmErr != nil {
		if needsFlush {
			if _, err := c.updateStatus(ctx, job); err != nil {
				return fmt.Errorf("removing uncounted pods from status: %w", err)
			}
		}
		return rmErr
	}
	done := !full && s.enactFinished(now)
	if done {
		needsFlush = true
	}
	if needsFlush {
		if job, err = c.updateStatus(ctx, job); err != nil {
			return fmt.Errorf("removing uncounted pods from status: %w", err)
		}
		if done {
			c.recordFinished(job, s.finished)
		}
	}
	return nil
}

// countUncounted moves the uncounted pods that no longer hold the finalizer to the
// counters, and reports whether any did.
func countUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if kept := keep(u.Succeeded); len(kept) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(kept))
		u.Succeeded, changed = kept, true
	}
	if kept := keep(u.Failed); len(kept) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(kept))
		u.Failed, changed = kept, true
	}
	return changed
}

// enactFinished gives the Job its Complete or Failed condition once every finished
// pod is counted and none is still terminating.
func (s *state) enactFinished(now time.Time) bool {
	if s.finished == nil {
		return false
	}
	job := s.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if s.terminating > 0 {
		return false
	}
	setCondition(job, s.finished.Type, corev1.ConditionTrue, s.finished.Reason, s.finished.Message, now)
	if s.finished.Type == batchv1.JobComplete {
		job.Status.CompletionTime = &condition(job, batchv1.JobComplete).LastTransitionTime
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		c.log.Info("job completed", "job", job.Namespace+"/"+job.Name)
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
	c.log.Info("job failed", "job", job.Namespace+"/"+job.Name, "reason", cond.Reason)
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
	}})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove tracking finalizer of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure pods do not fail, their
// containers restart; those restarts count against the backoff limit.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

func pastActiveDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return false
	}
	return now.Sub(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// podFailed: a pod that failed, or, unless the Job replaces only failed pods, one being
// deleted before it succeeded (it may never get to report Failed).
func podFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func suspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

// finished says whether a Job has its Complete or Failed condition.
func finished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// condition returns the Job's condition of type t when it is True.
func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

// setCondition sets or adds a condition, and says whether anything changed. A False
// condition is never added, only set.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		*c = *newCondition(t, reason, message, now)
		c.Status = status
		return true
	}
	if status == corev1.ConditionFalse {
		return false
	}
	job.Status.Conditions = append(job.Status.Conditions, *newCondition(t, reason, message, now))
	return true
}

func uidSet(uids []types.UID) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range uids {
		s.Insert(string(u))
	}
	return s
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
