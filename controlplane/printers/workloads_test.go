package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// template is a pod template running nginx beside a log shipper.
var template = corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
	{Name: "nginx", Image: "nginx:1.27"},
	{Name: "shipper", Image: "fluent-bit:3.1"},
}}}

func selector(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func TestDeploymentRows(t *testing.T) {
	tests := []struct {
		name string
		d    appsv1.Deployment
		want []any // NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR
	}{
		{
			name: "rolling out",
			d: appsv1.Deployment{ObjectMeta: objMeta("web", 20*time.Minute),
				Spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector("app", "web"), Template: template},
				Status: appsv1.DeploymentStatus{Replicas: 4, ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2}},
			want: []any{"web", "2/3", int64(1), int64(2), "20m", "nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=web"},
		},
		{
			name: "selector with expressions, replicas left to their default",
			d: appsv1.Deployment{ObjectMeta: objMeta("api", 20*time.Minute),
				Spec: appsv1.DeploymentSpec{Template: template, Selector: &metav1.LabelSelector{
					MatchLabels:      map[string]string{"app": "api"},
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "track", Operator: metav1.LabelSelectorOpIn, Values: []string{"stable", "canary"}}},
				}}},
			want: []any{"api", "0/1", int64(0), int64(0), "20m", "nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=api,track in (canary,stable)"},
		},
		{
			name: "scaled to zero, invalid selector",
			d: appsv1.Deployment{ObjectMeta: objMeta("off", 20*time.Minute),
				Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0)), Template: template, Selector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}},
				}}},
			want: []any{"off", "0/0", int64(0), int64(0), "20m", "nginx,shipper", "nginx:1.27,fluent-bit:3.1", "<invalid>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, deploymentColumns, cellsOf(t, &tt.d), tt.want)
		})
	}
}

func TestReplicaSetAndControllerRows(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: objMeta("web-7d4b9c8f6", 20*time.Minute),
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Template: template,
			Selector: selector("app", "web", "pod-template-hash", "7d4b9c8f6")},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}}
	checkCells(t, replicaSetColumns, cellsOf(t, rs), []any{"web-7d4b9c8f6", int64(3), int64(3), int64(2), "20m",
		"nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=web,pod-template-hash=7d4b9c8f6"})

	empty := &appsv1.ReplicaSet{ObjectMeta: objMeta("old", time.Hour), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(0))}}
	checkCells(t, replicaSetColumns, cellsOf(t, empty), []any{"old", int64(0), int64(0), int64(0), "60m", "", "", "<none>"})

	rc := &corev1.ReplicationController{ObjectMeta: objMeta("legacy", 2*time.Hour),
		Spec:   corev1.ReplicationControllerSpec{Replicas: ptr(int32(2)), Selector: map[string]string{"app": "legacy"}, Template: &template},
		Status: corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1}}
	checkCells(t, replicationControllerColumns, cellsOf(t, rc), []any{"legacy", int64(2), int64(2), int64(1), "120m",
		"nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=legacy"})

	bare := &corev1.ReplicationController{ObjectMeta: objMeta("bare", 2*time.Hour)}
	checkCells(t, replicationControllerColumns, cellsOf(t, bare), []any{"bare", int64(1), int64(0), int64(0), "120m", "", "", "<none>"})
}

func TestStatefulSetAndDaemonSetRows(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: objMeta("web", 45*time.Minute),
		Spec:   appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: template, Selector: selector("app", "web")},
		Status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2}}
	checkCells(t, statefulSetColumns, cellsOf(t, sts), []any{"web", "2/3", "45m", "nginx,shipper", "nginx:1.27,fluent-bit:3.1"})

	dsTemplate := template
	dsTemplate.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	ds := &appsv1.DaemonSet{ObjectMeta: objMeta("kindnet", 3*24*time.Hour),
		Spec: appsv1.DaemonSetSpec{Template: dsTemplate, Selector: selector("app", "kindnet")},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
			UpdatedNumberScheduled: 3, NumberAvailable: 2}}
	checkCells(t, daemonSetColumns, cellsOf(t, ds), []any{"kindnet", int64(3), int64(3), int64(2), int64(3), int64(2),
		"kubernetes.io/os=linux", "3d", "nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=kindnet"})

	anywhere := &appsv1.DaemonSet{ObjectMeta: objMeta("proxy", time.Hour),
		Spec: appsv1.DaemonSetSpec{Template: template, Selector: selector("app", "proxy")}}
	checkCells(t, daemonSetColumns, cellsOf(t, anywhere), []any{"proxy", int64(0), int64(0), int64(0), int64(0), int64(0),
		"<none>", "60m", "nginx,shipper", "nginx:1.27,fluent-bit:3.1", "app=proxy"})
}

func TestControllerRevisionRows(t *testing.T) {
	owned := &appsv1.ControllerRevision{ObjectMeta: objMeta("web-6c8b5f7d9", time.Hour), Revision: 2}
	owned.OwnerReferences = []metav1.OwnerReference{
		{APIVersion: "v1", Kind: "ConfigMap", Name: "not-the-controller"},
		{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptr(true)},
	}
	checkCells(t, controllerRevisionColumns, cellsOf(t, owned), []any{"web-6c8b5f7d9", "statefulset.apps/web", int64(2), "60m"})

	core := &appsv1.ControllerRevision{ObjectMeta: objMeta("thing-1", time.Hour), Revision: 1}
	core.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "thing", Controller: ptr(true)}}
	checkCells(t, controllerRevisionColumns, cellsOf(t, core), []any{"thing-1", "thing/thing", int64(1), "60m"})

	orphan := &appsv1.ControllerRevision{ObjectMeta: objMeta("orphan-1", time.Hour), Revision: 7}
	checkCells(t, controllerRevisionColumns, cellsOf(t, orphan), []any{"orphan-1", "<none>", int64(7), "60m"})

	bad := &appsv1.ControllerRevision{ObjectMeta: objMeta("bad", time.Hour)}
	bad.OwnerReferences = []metav1.OwnerReference{{APIVersion: "a/b/c", Kind: "X", Name: "x", Controller: ptr(true)}}
	if _, err := Table(bad, now); err == nil {
		t.Error("a controller with an unparsable apiVersion printed; want an error, as kube gives")
	}
	if _, err := Table(&appsv1.ControllerRevisionList{Items: []appsv1.ControllerRevision{*orphan, *bad}}, now); err == nil {
		t.Error("a list holding such a revision printed; want an error")
	}
}

func TestJobRows(t *testing.T) {
	cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
	}
	jobTemplate := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pi", Image: "perl:5.34"}}}}
	sel := selector("batch.kubernetes.io/controller-uid", "0b8f0e1c")
	tests := []struct {
		name string
		job  batchv1.Job
		want []any // NAME STATUS COMPLETIONS DURATION AGE (then CONTAINERS IMAGES SELECTOR)
	}{
		{
			name: "running",
			job: batchv1.Job{ObjectMeta: objMeta("pi", time.Minute),
				Spec:   batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1))},
				Status: batchv1.JobStatus{StartTime: agoPtr(45 * time.Second), Active: 1}},
			want: []any{"pi", "Running", "0/1", "45s", "60s"},
		},
		{
			name: "complete",
			job: batchv1.Job{ObjectMeta: objMeta("pi", 10*time.Minute),
				Spec: batchv1.JobSpec{Completions: ptr(int32(3)), Parallelism: ptr(int32(2))},
				Status: batchv1.JobStatus{StartTime: agoPtr(10 * time.Minute), CompletionTime: agoPtr(10*time.Minute - 95*time.Second),
					Succeeded: 3, Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}}},
			want: []any{"pi", "Complete", "3/3", "95s", "10m"},
		},
		{
			name: "failed",
			job: batchv1.Job{ObjectMeta: objMeta("flaky", time.Hour),
				Spec: batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{StartTime: agoPtr(time.Hour), Failed: 7,
					Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}}},
			want: []any{"flaky", "Failed", "0/1", "60m", "60m"},
		},
		{
			name: "failure target, not yet failed",
			job: batchv1.Job{ObjectMeta: objMeta("flaky", time.Hour),
				Spec: batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{StartTime: agoPtr(time.Hour),
					Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget)}}},
			want: []any{"flaky", "FailureTarget", "0/1", "60m", "60m"},
		},
		{
			name: "suspended before starting",
			job: batchv1.Job{ObjectMeta: objMeta("later", 2*time.Minute),
				Spec:   batchv1.JobSpec{Completions: ptr(int32(5)), Suspend: ptr(true)},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobSuspended)}}},
			want: []any{"later", "Suspended", "0/5", "", "2m"},
		},
		{
			name: "terminating",
			job: batchv1.Job{ObjectMeta: func() metav1.ObjectMeta {
				m := objMeta("gone", 2*time.Minute)
				m.DeletionTimestamp = agoPtr(0)
				return m
			}(),
				Spec:   batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{StartTime: agoPtr(time.Minute)}},
			want: []any{"gone", "Terminating", "0/1", "60s", "2m"},
		},
		{
			name: "work queue with parallelism",
			job: batchv1.Job{ObjectMeta: objMeta("queue", 3*time.Hour),
				Spec:   batchv1.JobSpec{Parallelism: ptr(int32(4))},
				Status: batchv1.JobStatus{StartTime: agoPtr(3 * time.Hour), Succeeded: 0, Active: 4}},
			want: []any{"queue", "Running", "0/1 of 4", "3h", "3h"},
		},
		{
			name: "no completions, no parallelism",
			job: batchv1.Job{ObjectMeta: objMeta("single", time.Hour),
				Status: batchv1.JobStatus{StartTime: agoPtr(25 * time.Hour)}},
			want: []any{"single", "Running", "0/1", "25h", "60m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.Spec.Template = jobTemplate
			tt.job.Spec.Selector = sel
			want := append(tt.want, "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=0b8f0e1c")
			checkCells(t, jobColumns, cellsOf(t, &tt.job), want)
		})
	}
}

func TestCronJobRows(t *testing.T) {
	jobTemplate := batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "hello", Image: "busybox:1.36"}},
	}}}}
	tests := []struct {
		name string
		cj   batchv1.CronJob
		want []any // NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE CONTAINERS IMAGES SELECTOR
	}{
		{
			name: "scheduled, one active",
			cj: batchv1.CronJob{ObjectMeta: objMeta("hello", 2*time.Hour),
				Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr(false), JobTemplate: jobTemplate},
				Status: batchv1.CronJobStatus{LastScheduleTime: agoPtr(2 * time.Minute),
					Active: []corev1.ObjectReference{{Kind: "Job", Name: "hello-29012345"}}}},
			want: []any{"hello", "*/5 * * * *", "<none>", "False", int64(1), "2m", "120m", "hello", "busybox:1.36", "<none>"},
		},
		{
			name: "suspended, in a time zone, never run",
			cj: batchv1.CronJob{ObjectMeta: objMeta("nightly", 30*time.Minute),
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", TimeZone: ptr("Europe/Paris"), Suspend: ptr(true), JobTemplate: jobTemplate}},
			want: []any{"nightly", "0 3 * * *", "Europe/Paris", "True", int64(0), "<none>", "30m", "hello", "busybox:1.36", "<none>"},
		},
		{
			name: "suspend unset",
			cj: batchv1.CronJob{ObjectMeta: objMeta("raw", 30*time.Minute),
				Spec: batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: jobTemplate}},
			want: []any{"raw", "@hourly", "<none>", "<unset>", int64(0), "<none>", "30m", "hello", "busybox:1.36", "<none>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, cronJobColumns, cellsOf(t, &tt.cj), tt.want)
		})
	}
}
