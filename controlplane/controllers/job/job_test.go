package job

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
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
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var now = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// newJob is a Job as the API server stores it: defaulted, with the generated selector.
func newJob(completions, parallelism *int32, mutate ...func(*batchv1.Job)) *batchv1.Job {
	labels := map[string]string{batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "pi", "controller-uid": "job-uid", "job-name": "pi"}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions: completions, Parallelism: parallelism, BackoffLimit: ptr.To[int32](6),
			CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "pi", Image: "perl"}}}},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: now.Add(-time.Minute)}},
	}
	for _, m := range mutate {
		m(j)
	}
	return j
}

// pod is one of the Job's pods in phase, holding the tracking finalizer.
func pod(name string, phase corev1.PodPhase, mutate ...func(*corev1.Pod)) *corev1.Pod {
	j := newJob(nil, nil)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: j.Spec.Template.Labels,
			Finalizers:      []string{batchv1.JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(j, controllerKind)}},
		Spec:   corev1.PodSpec{NodeName: "w1"},
		Status: corev1.PodStatus{Phase: phase},
	}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		code := int32(0)
		if phase == corev1.PodFailed {
			code = 1
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "pi", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, FinishedAt: metav1.NewTime(now.Add(-time.Second))}}}}
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

type result struct {
	job     *batchv1.Job
	pods    map[string]*corev1.Pod // by name, what the API holds after the sync
	created []*corev1.Pod
	events  string
}

// syncOnce runs one sync of a fresh controller over job and pods.
func syncOnce(t *testing.T, job *batchv1.Job, pods ...*corev1.Pod) result {
	t.Helper()
	objs := []runtime.Object{job}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewSimpleClientset(objs...)
	var created []*corev1.Pod
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, len(created))
		}
		p.UID = types.UID("uid-" + p.Name)
		created = append(created, p)
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	c, err := New(client, factory.Batch().V1().Jobs(), factory.Core().V1().Pods(), recorder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	_ = factory.Batch().V1().Jobs().Informer().GetStore().Add(job)
	for _, p := range pods {
		_ = factory.Core().V1().Pods().Informer().GetStore().Add(p)
	}
	if err := c.sync(context.Background(), "default/pi"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	ctx := context.Background()
	got, err := client.BatchV1().Jobs("default").Get(ctx, "pi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	out := result{job: got, pods: map[string]*corev1.Pod{}, created: created}
	for i := range list.Items {
		out.pods[list.Items[i].Name] = &list.Items[i]
	}
	close(recorder.Events)
	var ev []string
	for e := range recorder.Events {
		ev = append(ev, e)
	}
	out.events = strings.Join(ev, "\n")
	return out
}

func conditions(j *batchv1.Job) string {
	var out []string
	for _, c := range j.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(out, " ")
}

func TestSyncAccounting(t *testing.T) {
	running := func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	tests := []struct {
		name        string
		job         *batchv1.Job
		pods        []*corev1.Pod
		wantCreated int
		// succeeded/failed/active/ready
		wantCounts     [4]int32
		wantConditions string
		wantGone       []string // pods deleted or released from the finalizer
		wantEvents     []string
		check          func(*testing.T, result)
	}{
		{
			name: "starts parallelism pods", job: newJob(ptr.To[int32](3), ptr.To[int32](2)),
			wantCreated: 2, wantCounts: [4]int32{0, 0, 2, 0}, wantEvents: []string{"Normal SuccessfulCreate Created pod: pi-"},
			check: func(t *testing.T, r result) {
				for _, p := range r.created {
					if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) || p.Labels["job-name"] != "pi" || !strings.HasPrefix(p.Name, "pi-") {
						t.Errorf("created pod %s: finalizers %v labels %v", p.Name, p.Finalizers, p.Labels)
					}
				}
			},
		},
		{
			name: "counts a success and replaces nothing beyond completions", job: newJob(ptr.To[int32](3), ptr.To[int32](2)),
			pods:        []*corev1.Pod{pod("a", corev1.PodSucceeded), pod("b", corev1.PodRunning, running)},
			wantCreated: 1, wantCounts: [4]int32{1, 0, 2, 1},
			check: func(t *testing.T, r result) {
				if slices.Contains(r.pods["a"].Finalizers, batchv1.JobTrackingFinalizer) {
					t.Error("counted pod a still holds the tracking finalizer")
				}
				if !slices.Contains(r.pods["b"].Finalizers, batchv1.JobTrackingFinalizer) {
					t.Error("running pod b lost its tracking finalizer")
				}
			},
		},
		{
			name: "completes", job: newJob(ptr.To[int32](3), ptr.To[int32](2), func(j *batchv1.Job) { j.Status.Succeeded = 2 }),
			pods:       []*corev1.Pod{pod("c", corev1.PodSucceeded)},
			wantCounts: [4]int32{3, 0, 0, 0}, wantConditions: "SuccessCriteriaMet=True/CompletionsReached Complete=True/CompletionsReached",
			wantEvents: []string{"Normal Completed Job completed"},
			check: func(t *testing.T, r result) {
				if r.job.Status.CompletionTime == nil || !r.job.Status.CompletionTime.Time.Equal(now) {
					t.Errorf("completionTime %v", r.job.Status.CompletionTime)
				}
			},
		},
		{
			name: "a counted pod is not counted again", job: newJob(ptr.To[int32](3), ptr.To[int32](1), func(j *batchv1.Job) {
				j.Status.Succeeded = 1
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"uid-a"}}
			}),
			// a's finalizer was removed after it was listed as uncounted: it moves to the counter.
			pods:        []*corev1.Pod{pod("a", corev1.PodSucceeded, func(p *corev1.Pod) { p.Finalizers = nil })},
			wantCreated: 1, wantCounts: [4]int32{2, 0, 1, 0},
		},
		{
			name: "backoff limit exceeded", job: newJob(ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
				j.Spec.BackoffLimit = ptr.To[int32](1)
				j.Status.Failed = 1
			}),
			pods:       []*corev1.Pod{pod("f", corev1.PodFailed)},
			wantCounts: [4]int32{0, 2, 0, 0}, wantConditions: "FailureTarget=True/BackoffLimitExceeded Failed=True/BackoffLimitExceeded",
			wantEvents: []string{"Warning BackoffLimitExceeded Job has reached the specified backoff limit"},
		},
		{
			name: "a failed pod is replaced after the back-off", job: newJob(ptr.To[int32](1), ptr.To[int32](1)),
			pods:       []*corev1.Pod{pod("f", corev1.PodFailed)},
			wantCounts: [4]int32{0, 1, 0, 0},
		},
		{
			name: "active deadline", job: newJob(ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
				j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
				j.Status.StartTime = &metav1.Time{Time: now.Add(-11 * time.Second)}
			}),
			pods: []*corev1.Pod{pod("r", corev1.PodRunning, running)},
			// The pod is deleted and counted failed; Failed waits until it is gone.
			wantCounts: [4]int32{0, 1, 0, 0}, wantConditions: "FailureTarget=True/DeadlineExceeded",
			wantEvents: []string{"Normal SuccessfulDelete Deleted pod: r"}, wantGone: []string{"r"},
		},
		{
			name: "suspended", job: newJob(ptr.To[int32](2), ptr.To[int32](2), func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
			pods:       []*corev1.Pod{pod("r", corev1.PodRunning, running)},
			wantCounts: [4]int32{0, 0, 0, 0}, wantConditions: "Suspended=True/JobSuspended",
			wantEvents: []string{"Normal SuccessfulDelete Deleted pod: r", "Normal Suspended Job suspended"}, wantGone: []string{"r"},
		},
		{
			name: "work queue: no new pods after a success", job: newJob(nil, ptr.To[int32](2)),
			pods:       []*corev1.Pod{pod("a", corev1.PodSucceeded), pod("b", corev1.PodRunning)},
			wantCounts: [4]int32{1, 0, 1, 0},
		},
		{
			name: "indexed", job: newJob(ptr.To[int32](4), ptr.To[int32](3), func(j *batchv1.Job) {
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Status.CompletedIndexes = "1"
				j.Status.Succeeded = 1
			}),
			pods: []*corev1.Pod{pod("pi-3-x", corev1.PodSucceeded, func(p *corev1.Pod) {
				p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "3"}
			})},
			wantCreated: 2, wantCounts: [4]int32{2, 0, 2, 0},
			check: func(t *testing.T, r result) {
				if r.job.Status.CompletedIndexes != "1,3" {
					t.Errorf("completedIndexes %q, want 1,3", r.job.Status.CompletedIndexes)
				}
				var got []string
				for _, p := range r.created {
					got = append(got, p.GenerateName+p.Annotations[batchv1.JobCompletionIndexAnnotation]+"/"+p.Labels[batchv1.JobCompletionIndexAnnotation]+"/"+p.Spec.Hostname+"/"+p.Spec.Containers[0].Env[0].Name)
				}
				want := []string{"pi-0-0/0/pi-0/JOB_COMPLETION_INDEX", "pi-2-2/2/pi-2/JOB_COMPLETION_INDEX"}
				if !slices.Equal(got, want) {
					t.Errorf("created %v, want %v", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := syncOnce(t, tt.job, tt.pods...)
			s := r.job.Status
			if got := [4]int32{s.Succeeded, s.Failed, s.Active, ptr.Deref(s.Ready, -1)}; got != tt.wantCounts {
				t.Errorf("succeeded/failed/active/ready = %v, want %v", got, tt.wantCounts)
			}
			if len(r.created) != tt.wantCreated {
				t.Errorf("created %d pods, want %d", len(r.created), tt.wantCreated)
			}
			if got := conditions(r.job); got != tt.wantConditions {
				t.Errorf("conditions %q, want %q", got, tt.wantConditions)
			}
			if u := s.UncountedTerminatedPods; u == nil || len(u.Succeeded)+len(u.Failed) > 0 {
				t.Errorf("uncountedTerminatedPods %+v, want empty", u)
			}
			for _, name := range tt.wantGone {
				if _, ok := r.pods[name]; ok {
					t.Errorf("pod %s not deleted", name)
				}
			}
			for _, w := range tt.wantEvents {
				if !strings.Contains(r.events, w) {
					t.Errorf("no event %q in:\n%s", w, r.events)
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestWantActive(t *testing.T) {
	tests := []struct {
		completions, parallelism *int32
		active, succeeded, want  int32
	}{
		{ptr.To[int32](3), ptr.To[int32](2), 0, 0, 2},
		{ptr.To[int32](3), ptr.To[int32](2), 2, 2, 1},
		{ptr.To[int32](3), ptr.To[int32](5), 0, 0, 3},
		{ptr.To[int32](3), ptr.To[int32](2), 0, 4, 0},
		{nil, ptr.To[int32](4), 1, 0, 4},
		{nil, ptr.To[int32](4), 1, 1, 1},
		{ptr.To[int32](5), ptr.To[int32](0), 0, 0, 0},
	}
	for _, tt := range tests {
		if got := wantActive(newJob(tt.completions, tt.parallelism), tt.active, tt.succeeded); got != tt.want {
			t.Errorf("wantActive(completions %v, parallelism %d, active %d, succeeded %d) = %d, want %d",
				ptr.Deref(tt.completions, -1), *tt.parallelism, tt.active, tt.succeeded, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	failedAt := func(d time.Duration) *corev1.Pod {
		return pod("f", corev1.PodFailed, func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.NewTime(now.Add(d))
		})
	}
	succeededAt := func(d time.Duration) *corev1.Pod {
		return pod("s", corev1.PodSucceeded, func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.NewTime(now.Add(d))
		})
	}
	tests := []struct {
		name      string
		prev      backoff
		succeeded []*corev1.Pod
		failed    []*corev1.Pod
		want      time.Duration
	}{
		{name: "no failures", want: 0},
		{name: "first failure just now", failed: []*corev1.Pod{failedAt(0)}, want: 10 * time.Second},
		{name: "first failure 4s ago", failed: []*corev1.Pod{failedAt(-4 * time.Second)}, want: 6 * time.Second},
		{name: "third failure doubles twice", prev: backoff{failures: 2, lastFailure: now.Add(-time.Minute)}, failed: []*corev1.Pod{failedAt(0)}, want: 40 * time.Second},
		{name: "capped", prev: backoff{failures: 20, lastFailure: now}, want: 10 * time.Minute},
		{name: "a success resets", prev: backoff{failures: 3, lastFailure: now.Add(-time.Second)}, succeeded: []*corev1.Pod{succeededAt(0)}, want: 0},
		{name: "failures after the success count", prev: backoff{failures: 3, lastFailure: now.Add(-time.Minute)},
			succeeded: []*corev1.Pod{succeededAt(-30 * time.Second)}, failed: []*corev1.Pod{failedAt(-2 * time.Second)}, want: 8 * time.Second},
	}
	for _, tt := range tests {
		b := tt.prev.next(tt.succeeded, tt.failed, now)
		if got := b.remaining(now, DefaultPodFailureBackOff, MaxPodFailureBackOff); got != tt.want {
			t.Errorf("%s: remaining %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	tests := []struct {
		in          string
		completions int
		want        string
	}{
		{"", 5, ""},
		{"0", 5, "0"},
		{"0,1", 5, "0,1"},
		{"0-2", 5, "0-2"},
		{"0,1,2,4", 5, "0-2,4"},
		{"1,3-5,7", 6, "1,3-5"},
		{"2-3,5-6", 10, "2,3,5,6"},
	}
	for _, tt := range tests {
		set, err := parseIndexes(tt.in, tt.completions)
		if err != nil {
			t.Fatalf("parseIndexes(%q): %v", tt.in, err)
		}
		if got := formatIndexes(set); got != tt.want {
			t.Errorf("format(parse(%q, %d)) = %q, want %q", tt.in, tt.completions, got, tt.want)
		}
	}
	if got := indexedGenerateName(strings.Repeat("x", 60), 12); got != strings.Repeat("x", 54)+"-12-" {
		t.Errorf("long generate name %q", got)
	}
}

func TestPastBackoffLimitOnFailure(t *testing.T) {
	restarts := func(n int32) *corev1.Pod {
		return pod("r", corev1.PodRunning, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
		})
	}
	onFailure := func(limit int32) *batchv1.Job {
		return newJob(ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.BackoffLimit = &limit
		})
	}
	tests := []struct {
		job  *batchv1.Job
		pod  *corev1.Pod
		want bool
	}{
		{onFailure(2), restarts(1), false},
		{onFailure(2), restarts(2), true},
		{onFailure(0), restarts(1), true},
		{onFailure(0), restarts(0), false},
		{newJob(ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](0) }), restarts(5), false}, // Never: restarts do not happen
	}
	for i, tt := range tests {
		if got := pastBackoffLimitOnFailure(tt.job, []*corev1.Pod{tt.pod}); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}
