package cronjob

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func cronJob(schedule string, created string, last string) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default", UID: "cj-uid", CreationTimestamp: metav1.NewTime(at(created))},
		Spec: batchv1.CronJobSpec{Schedule: schedule, ConcurrencyPolicy: batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3), FailedJobsHistoryLimit: ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}},
	}
	if last != "" {
		cj.Status.LastScheduleTime = &metav1.Time{Time: at(last)}
	}
	return cj
}

func TestScheduleTimes(t *testing.T) {
	tests := []struct {
		name                 string
		cj                   *batchv1.CronJob
		now                  string
		wantDue              string // "" for none
		wantRequeue          time.Duration
		wantMissedAtLeast    int
		wantNeverAgain       bool
		startingDeadlineSecs *int64
		timeZone             string
	}{
		{name: "first run", cj: cronJob("* * * * *", "2025-01-15T10:00:30Z", ""), now: "2025-01-15T10:01:05Z",
			wantDue: "2025-01-15T10:01:00Z", wantRequeue: 55*time.Second + nextScheduleDelta, wantMissedAtLeast: 1},
		{name: "not yet", cj: cronJob("*/5 * * * *", "2025-01-15T10:00:30Z", ""), now: "2025-01-15T10:03:00Z",
			wantRequeue: 2*time.Minute + nextScheduleDelta},
		{name: "already ran this minute", cj: cronJob("* * * * *", "2025-01-15T10:00:30Z", "2025-01-15T10:01:00Z"), now: "2025-01-15T10:01:30Z",
			wantRequeue: 30*time.Second + nextScheduleDelta},
		{name: "missed several: only the latest runs", cj: cronJob("* * * * *", "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z"), now: "2025-01-15T10:05:30Z",
			wantDue: "2025-01-15T10:05:00Z", wantRequeue: 30*time.Second + nextScheduleDelta, wantMissedAtLeast: 5},
		{name: "missed beyond the starting deadline", cj: cronJob("* * * * *", "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z"), now: "2025-01-15T10:05:30Z",
			startingDeadlineSecs: ptr.To[int64](10), wantRequeue: 30*time.Second + nextScheduleDelta},
		{name: "within the starting deadline", cj: cronJob("* * * * *", "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z"), now: "2025-01-15T10:05:30Z",
			startingDeadlineSecs: ptr.To[int64](60), wantDue: "2025-01-15T10:05:00Z", wantRequeue: 30*time.Second + nextScheduleDelta},
		{name: "a controller down for days", cj: cronJob("* * * * *", "2025-01-01T00:00:00Z", "2025-01-10T00:00:00Z"), now: "2025-01-15T10:05:30Z",
			wantDue: "2025-01-15T10:05:00Z", wantRequeue: 30*time.Second + nextScheduleDelta, wantMissedAtLeast: tooManyMissed + 1},
		{name: "hourly", cj: cronJob("@hourly", "2025-01-15T09:10:00Z", ""), now: "2025-01-15T10:00:02Z",
			wantDue: "2025-01-15T10:00:00Z", wantRequeue: time.Hour - 2*time.Second + nextScheduleDelta, wantMissedAtLeast: 1},
		{name: "time zone", cj: cronJob("0 9 * * *", "2025-01-14T12:00:00Z", ""), timeZone: "Asia/Tokyo", now: "2025-01-15T00:00:01Z",
			wantDue: "2025-01-15T00:00:00Z", wantRequeue: 24*time.Hour - time.Second + nextScheduleDelta, wantMissedAtLeast: 1},
		{name: "February 30th never comes", cj: cronJob("0 0 30 2 *", "2025-01-14T12:00:00Z", ""), now: "2025-03-01T00:00:00Z", wantNeverAgain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cj.Spec.StartingDeadlineSeconds = tt.startingDeadlineSecs
			if tt.timeZone != "" {
				tt.cj.Spec.TimeZone = &tt.timeZone
			}
			sched, err := schedule(tt.cj)
			if err != nil {
				t.Fatal(err)
			}
			now := at(tt.now)
			due := nextScheduleTime(tt.cj, sched, now, nil)
			switch {
			case tt.wantDue == "" && due != nil:
				t.Errorf("due %v, want none", due)
			case tt.wantDue != "" && (due == nil || !due.Equal(at(tt.wantDue))):
				t.Errorf("due %v, want %s", due, tt.wantDue)
			}
			if st := mostRecent(tt.cj, sched, now, true); st.missed < tt.wantMissedAtLeast {
				t.Errorf("missed %d, want at least %d", st.missed, tt.wantMissedAtLeast)
			}
			after := requeueAfter(tt.cj, sched, now)
			switch {
			case tt.wantNeverAgain && after != nil:
				t.Errorf("requeue after %v, want never", *after)
			case !tt.wantNeverAgain && (after == nil || *after != tt.wantRequeue):
				t.Errorf("requeue after %v, want %v", after, tt.wantRequeue)
			}
		})
	}
}

// fixture is a controller on a fake clientset whose caches the test fills.
type fixture struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
}

func newFixture(t *testing.T, now time.Time, cj *batchv1.CronJob, jobs ...*batchv1.Job) *fixture {
	t.Helper()
	objs := []runtime.Object{cj}
	for _, j := range jobs {
		objs = append(objs, j)
	}
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	c, err := New(client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs(), recorder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	_ = factory.Batch().V1().CronJobs().Informer().GetStore().Add(cj)
	for _, j := range jobs {
		_ = factory.Batch().V1().Jobs().Informer().GetStore().Add(j)
	}
	return &fixture{c: c, client: client, recorder: recorder, factory: factory}
}

func (f *fixture) sync(t *testing.T) *batchv1.CronJob {
	t.Helper()
	if err := f.c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	cj, err := f.client.BatchV1().CronJobs("default").Get(context.Background(), "hello", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

func (f *fixture) jobNames(t *testing.T) []string {
	t.Helper()
	list, err := f.client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

func (f *fixture) events() string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

// ownedJob is a Job of the CronJob started at scheduled, finished as cond says.
func ownedJob(cj *batchv1.CronJob, scheduled string, cond batchv1.JobConditionType) *batchv1.Job {
	j, _ := jobFromTemplate(cj, at(scheduled))
	j.UID = types.UID("uid-" + j.Name)
	j.Status.StartTime = &metav1.Time{Time: at(scheduled)}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at(scheduled).Add(10 * time.Second))}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at(scheduled).Add(10 * time.Second)}
		}
	}
	return j
}

func TestSyncCreatesTheDueJob(t *testing.T) {
	cj := cronJob("*/1 * * * *", "2025-01-15T10:00:30Z", "")
	f := newFixture(t, at("2025-01-15T10:01:05Z"), cj)
	got := f.sync(t)
	want := jobName(cj, at("2025-01-15T10:01:00Z"))
	if names := f.jobNames(t); len(names) != 1 || names[0] != want {
		t.Fatalf("jobs %v, want [%s]", names, want)
	}
	if want != "hello-28948921" {
		t.Errorf("job name %s: want <cronjob>-<minutes since the epoch>", want)
	}
	job, _ := f.client.BatchV1().Jobs("default").Get(context.Background(), want, metav1.GetOptions{})
	if a := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; a != "2025-01-15T10:01:00Z" {
		t.Errorf("scheduled timestamp annotation %q", a)
	}
	if job.Labels["app"] != "hello" || !metav1.IsControlledBy(job, cj) {
		t.Errorf("job lacks the template's labels or the controller reference: %+v", job.ObjectMeta)
	}
	if len(got.Status.Active) != 1 || got.Status.Active[0].Name != want || !got.Status.LastScheduleTime.Equal(&metav1.Time{Time: at("2025-01-15T10:01:00Z")}) {
		t.Errorf("status %+v", got.Status)
	}
	if ev := f.events(); !strings.Contains(ev, "Normal SuccessfulCreate Created job "+want) {
		t.Errorf("events:\n%s", ev)
	}
}

func TestSyncConcurrencyAndHistory(t *testing.T) {
	const prev, due = "2025-01-15T10:00:00Z", "2025-01-15T10:01:00Z"
	now := at("2025-01-15T10:01:02Z")
	tests := []struct {
		name       string
		policy     batchv1.ConcurrencyPolicy
		suspend    bool
		running    bool // the previous run is still active
		finished   []string
		wantJobs   []string
		wantEvents []string
	}{
		{name: "allow runs beside the active job", policy: batchv1.AllowConcurrent, running: true,
			wantJobs: []string{"hello-28948920", "hello-28948921"}, wantEvents: []string{"SuccessfulCreate Created job hello-28948921"}},
		{name: "forbid waits", policy: batchv1.ForbidConcurrent, running: true,
			wantJobs: []string{"hello-28948920"}, wantEvents: []string{"JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid"}},
		{name: "replace deletes the active job", policy: batchv1.ReplaceConcurrent, running: true,
			wantJobs: []string{"hello-28948921"}, wantEvents: []string{"SuccessfulDelete Deleted job hello-28948920", "SuccessfulCreate Created job hello-28948921"}},
		{name: "suspended", policy: batchv1.AllowConcurrent, suspend: true, running: true, wantJobs: []string{"hello-28948920"}},
		{name: "completed job leaves the active list", policy: batchv1.ForbidConcurrent,
			wantJobs: []string{"hello-28948920", "hello-28948921"}, wantEvents: []string{"SawCompletedJob Saw completed job: hello-28948920, condition: Complete", "SuccessfulCreate"}},
		{name: "history limit", policy: batchv1.AllowConcurrent,
			finished:   []string{"2025-01-15T09:56:00Z", "2025-01-15T09:57:00Z", "2025-01-15T09:58:00Z", "2025-01-15T09:59:00Z"},
			wantJobs:   []string{"hello-28948918", "hello-28948919", "hello-28948920", "hello-28948921"},
			wantEvents: []string{"SuccessfulDelete Deleted job hello-28948916", "SuccessfulDelete Deleted job hello-28948917"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := cronJob("* * * * *", "2025-01-15T09:00:00Z", prev)
			cj.Spec.ConcurrencyPolicy = tt.policy
			cj.Spec.Suspend = &tt.suspend
			var jobs []*batchv1.Job
			cond := batchv1.JobComplete
			if tt.running {
				cond = ""
			}
			last := ownedJob(cj, prev, cond)
			ref, _ := jobRef(last)
			cj.Status.Active = []corev1.ObjectReference{*ref}
			jobs = append(jobs, last)
			for _, s := range tt.finished {
				jobs = append(jobs, ownedJob(cj, s, batchv1.JobComplete))
			}
			f := newFixture(t, now, cj, jobs...)
			got := f.sync(t)
			if names := f.jobNames(t); strings.Join(names, ",") != strings.Join(tt.wantJobs, ",") {
				t.Errorf("jobs %v, want %v", names, tt.wantJobs)
			}
			ev := f.events()
			for _, w := range tt.wantEvents {
				if !strings.Contains(ev, w) {
					t.Errorf("no event %q in:\n%s", w, ev)
				}
			}
			if !tt.suspend && !got.Status.LastScheduleTime.Equal(&metav1.Time{Time: at(due)}) && tt.policy != batchv1.ForbidConcurrent {
				t.Errorf("lastScheduleTime %v, want %s", got.Status.LastScheduleTime, due)
			}
		})
	}
}

// TestSyncAfterLeaderChange: a leader created the Job and stopped before writing the
// CronJob's status; the next one finds the Job by its name and does not run twice.
func TestSyncAfterLeaderChange(t *testing.T) {
	cj := cronJob("* * * * *", "2025-01-15T10:00:30Z", "")
	job := ownedJob(cj, "2025-01-15T10:01:00Z", "")
	f := newFixture(t, at("2025-01-15T10:01:20Z"), cj) // the job is not in the cache yet
	_, _ = f.client.BatchV1().Jobs("default").Create(context.Background(), job, metav1.CreateOptions{})
	got := f.sync(t)
	if names := f.jobNames(t); len(names) != 1 {
		t.Errorf("jobs %v, want only %s", names, job.Name)
	}
	if len(got.Status.Active) != 1 || got.Status.Active[0].Name != job.Name || got.Status.LastScheduleTime == nil {
		t.Errorf("status %+v, want the existing job active", got.Status)
	}
}
