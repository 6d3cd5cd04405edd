package printers

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

var jobColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "Status of the job."),
	column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
	column("Duration", "string", "Time required to complete the job."),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
}

func jobRow(job *batchv1.Job, now time.Time) (metav1.TableRow, error) {
	// COMPLETIONS is succeeded/wanted; a work-queue Job (no completions) wants one success,
	// from any of its parallel pods.
	var completions string
	switch parallelism := job.Spec.Parallelism; {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case parallelism != nil && *parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}

	// DURATION runs from start to completion, or to now while the Job has not completed;
	// it is empty before the Job starts.
	var took string
	switch start, end := job.Status.StartTime, job.Status.CompletionTime; {
	case start == nil:
	case end == nil:
		took = duration.HumanDuration(now.Sub(start.Time))
	default:
		took = duration.HumanDuration(end.Sub(start.Time))
	}

	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return cells(
		job.Name,
		jobStatus(job),
		completions,
		took,
		since(job.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	)
}

// jobStatus is the STATUS cell. Finished Jobs say how they finished even while being
// deleted; FailureTarget is a Job whose pods are being stopped before it is marked Failed.
func jobStatus(job *batchv1.Job) string {
	switch {
	case jobCondition(job, batchv1.JobComplete):
		return "Complete"
	case jobCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	default:
		return "Running"
	}
}

// jobCondition reports whether the first condition of the given type is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

var cronJobColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Schedule", "string", batchv1beta1.CronJobSpec{}.SwaggerDoc()["schedule"]),
	column("Timezone", "string", batchv1beta1.CronJobSpec{}.SwaggerDoc()["timeZone"]),
	column("Suspend", "boolean", batchv1beta1.CronJobSpec{}.SwaggerDoc()["suspend"]),
	column("Active", "integer", batchv1beta1.CronJobStatus{}.SwaggerDoc()["active"]),
	column("Last Schedule", "string", batchv1beta1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
}

func cronJobRow(cj *batchv1.CronJob, now time.Time) (metav1.TableRow, error) {
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = since(*cj.Status.LastScheduleTime, now)
	}
	zone := "<none>"
	if cj.Spec.TimeZone != nil {
		zone = *cj.Spec.TimeZone
	}
	template := cj.Spec.JobTemplate.Spec
	names, images := containerCells(template.Template.Spec.Containers)
	return cells(
		cj.Name,
		cj.Spec.Schedule,
		zone,
		boolPtr(cj.Spec.Suspend), // a string, though the column says boolean: kube prints it so
		int64(len(cj.Status.Active)),
		last,
		since(cj.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(template.Selector),
	)
}
