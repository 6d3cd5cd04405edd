package registry

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const piJob = `
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  backoffLimit: 4
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: [perl, -Mbignum=bpi, -wle, print bpi(2000)]
      restartPolicy: Never
`

func TestJobValidation(t *testing.T) {
	uid := string(testUID)
	tests := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{"valid", func(j *batchv1.Job) {}, nil},
		{"restart policy Always", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []string{`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`}},
		{"negative counts", func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To[int32](-1)
			j.Spec.BackoffLimit = ptr.To[int32](-1)
		}, []string{
			"spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
			"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
		}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []string{"spec.completions: Required value: when completion mode is Indexed"}},
		{"backoff per index without indexes", func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		}, []string{"spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"}},
		{"manual selector that does not match", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		}, []string{"spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`"}},
		{"pod failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = nil // defaulted again, to Failed
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42, 0}},
			}}}
		}, []string{
			"spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: 0: must not be 0 for the In operator",
			"spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{42, 0}: must be ordered",
			`spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := decodeYAML[*batchv1.Job](t, piJob)
			Jobs.Strategy.Default(j)
			tt.mutate(j)
			checkErrors(t, createObject(t, Jobs, j), tt.want)
		})
	}

	// The generated selector must be left alone.
	j := decodeYAML[*batchv1.Job](t, piJob)
	createObject(t, Jobs, j)
	tampered := j.DeepCopy()
	tampered.Spec.Template.Labels[batchv1.ControllerUidLabel] = "other"
	checkErrors(t, Jobs.Strategy.Validate(tampered), []string{
		`spec.template.metadata.labels[batch.kubernetes.io/controller-uid]: Invalid value: map[string]string{"batch.kubernetes.io/controller-uid":"other", "batch.kubernetes.io/job-name":"pi", "controller-uid":"` + uid + `", "job-name":"pi"}: must be '` + uid + `'`,
		"spec.template.metadata.labels: Invalid value: map[string]string{\"batch.kubernetes.io/controller-uid\":\"other\", \"batch.kubernetes.io/job-name\":\"pi\", \"controller-uid\":\"" + uid + "\", \"job-name\":\"pi\"}: `selector` does not match template `labels`",
	})
}

func TestJobUpdate(t *testing.T) {
	created := func(t *testing.T, suspend bool) *batchv1.Job {
		j := decodeYAML[*batchv1.Job](t, piJob)
		j.Spec.Suspend = ptr.To(suspend)
		if errs := createObject(t, Jobs, j); len(errs) > 0 {
			t.Fatal(errs)
		}
		return j
	}
	old := created(t, false)
	image := old.DeepCopy()
	image.Spec.Template.Spec.Containers[0].Image = "perl:5.36"
	errs := errorStrings(updateObject(t, Jobs, image, old))
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.template: Invalid value: core.PodTemplateSpec{") && !strings.HasPrefix(errs[0], "spec.template: Invalid value: v1.PodTemplateSpec{") ||
		!strings.HasSuffix(errs[0], ": field is immutable") {
		t.Errorf("template change: %q", errs)
	}

	completions := old.DeepCopy()
	completions.Spec.Completions = ptr.To[int32](3)
	checkErrors(t, updateObject(t, Jobs, completions, old), []string{"spec.completions: Invalid value: 3: field is immutable"})

	suspended := old.DeepCopy()
	suspended.Spec.Suspend = ptr.To(true)
	suspended.Spec.ActiveDeadlineSeconds = ptr.To[int64](600)
	checkErrors(t, updateObject(t, Jobs, suspended, old), nil)

	// A suspended Job that never started may move its pods.
	old = created(t, true)
	moved := old.DeepCopy()
	moved.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "kindlike-worker2"}
	checkErrors(t, updateObject(t, Jobs, moved, old), nil)
}

func TestJobStatusUpdate(t *testing.T) {
	created := func(t *testing.T) *batchv1.Job {
		j := decodeYAML[*batchv1.Job](t, piJob)
		if errs := createObject(t, Jobs, j); len(errs) > 0 {
			t.Fatal(errs)
		}
		return j
	}
	start := metav1.NewTime(fixedNow.Add(-60e9))
	cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
	}

	old := created(t)
	running := old.DeepCopy()
	running.Status = batchv1.JobStatus{StartTime: &start, Active: 1, Ready: ptr.To[int32](1), Terminating: ptr.To[int32](0)}
	checkErrors(t, updateStatus(t, Jobs, running, old), nil)

	// What the Job controller posts when the pod succeeds.
	complete := running.DeepCopy()
	complete.Status = batchv1.JobStatus{StartTime: &start, CompletionTime: &fixedNow, Succeeded: 1, Ready: ptr.To[int32](0), Terminating: ptr.To[int32](0),
		Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}}
	checkErrors(t, updateStatus(t, Jobs, complete, running), nil)

	// Complete without SuccessCriteriaMet, with a pod still active.
	early := running.DeepCopy()
	early.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobComplete)}
	early.Status.CompletionTime = &fixedNow
	checkErrors(t, updateStatus(t, Jobs, early, running), []string{
		"status.conditions: Invalid value: cannot set Complete=True condition without the SuccessCriteriaMet=true condition",
		"status.active: Invalid value: 1: active>0 is invalid for finished job",
	})

	// Finished is final.
	reopened := complete.DeepCopy()
	reopened.Status.Conditions = nil
	reopened.Status.CompletionTime = nil
	reopened.Status.Succeeded = 0
	checkErrors(t, updateStatus(t, Jobs, reopened, complete), []string{
		"status.conditions: Invalid value: cannot disable the terminal Complete=True condition",
		"status.succeeded: Invalid value: 0: cannot decrease the succeeded counter",
		"status.conditions: Invalid value: cannot disable the SuccessCriteriaMet=True condition",
	})

	if got := Jobs.Strategy.Fields(complete)["status.successful"]; got != "1" {
		t.Errorf("status.successful field %q", got)
	}
}

func TestCronJobValidation(t *testing.T) {
	base := `
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: hello, image: busybox:1.28, command: [date]}]
          restartPolicy: OnFailure
`
	tests := []struct {
		name   string
		mutate func(cj *batchv1.CronJob)
		want   []string
	}{
		{"valid", func(cj *batchv1.CronJob) {}, nil},
		{"descriptor", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil},
		{"named months and days", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 9 * jan-mar MON-FRI" }, nil},
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Europe/Paris") }, nil},
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []string{"spec.schedule: Required value"}},
		{"too few fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * *" },
			[]string{`spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]`}},
		{"minute out of range", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "60 * * * *" },
			[]string{`spec.schedule: Invalid value: "60 * * * *": end of range (60) above maximum (59): 60`}},
		{"not a number", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * * funday" },
			[]string{`spec.schedule: Invalid value: "* * * * funday": failed to parse int from funday: strconv.Atoi: parsing "funday": invalid syntax`}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" },
			[]string{`spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`}},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") },
			[]string{`spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus`}},
		{"concurrency policy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" },
			[]string{`spec.concurrencyPolicy: Unsupported value: "Queue": supported values: "Allow", "Forbid", "Replace"`}},
		{"selector in the job template", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, []string{"spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated"}},
		{"job template restart policy", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []string{`spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`}},
		{"long name", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) },
			[]string{`metadata.name: Invalid value: "` + strings.Repeat("a", 53) + `": must be no more than 52 characters`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := decodeYAML[*batchv1.CronJob](t, base)
			CronJobs.Strategy.Default(cj)
			tt.mutate(cj)
			checkErrors(t, createObject(t, CronJobs, cj), tt.want)
		})
	}

	// A CronJob stored with TZ= in its schedule (before timeZone) may keep it.
	old := decodeYAML[*batchv1.CronJob](t, base)
	old.Spec.Schedule = "CRON_TZ=UTC 0 * * * *"
	CronJobs.Strategy.Default(old)
	kept := old.DeepCopy()
	kept.Spec.Suspend = ptr.To(true)
	checkErrors(t, updateObject(t, CronJobs, kept, old), nil)
}
