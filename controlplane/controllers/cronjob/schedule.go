package cronjob

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/robfig/cron/v3"
	// A control-plane node is a scratch image: time zones come with the binary.
	_ "time/tzdata"
)

// tooManyMissed is where the controller stops counting missed start times one by one
// and warns instead, as Kubernetes does (a clock that is decades off must not eat the
// leader's CPU).
const tooManyMissed = 100

// nextScheduleDelta pads a requeue so the sync lands just after the scheduled minute.
const nextScheduleDelta = 100 * time.Millisecond

// schedule parses a CronJob's schedule, in its time zone when it names one.
func schedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	spec := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil && !strings.Contains(spec, "TZ") {
		spec = fmt.Sprintf("TZ=%s %s", *tz, spec)
	}
	return cron.ParseStandard(spec)
}

// scheduleTimes is what a CronJob's schedule says at now.
type scheduleTimes struct {
	// earliest is the time after which start times count: the last scheduled run, or
	// the CronJob's creation, or (with a starting deadline) now minus the deadline.
	earliest time.Time
	// recent is the latest start time in (earliest, now]; nil when none has passed.
	recent *time.Time
	// missed is how many start times passed since earliest (capped at tooManyMissed+1).
	missed int
}

// mostRecent finds the latest start time the CronJob missed or is due for at now.
func mostRecent(cj *batchv1.CronJob, sched cron.Schedule, now time.Time, withDeadline bool) scheduleTimes {
	st := scheduleTimes{earliest: cj.CreationTimestamp.Time}
	if cj.Status.LastScheduleTime != nil {
		st.earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; withDeadline && d != nil {
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(st.earliest) {
			st.earliest = limit
		}
	}
	t := sched.Next(st.earliest)
	for !t.IsZero() && !t.After(now) {
		tt := t
		st.recent = &tt
		st.missed++
		if st.missed > tooManyMissed {
			// Jump: the schedule is periodic enough that the last start time before now
			// can be found from the end.
			last := lastBefore(sched, t, now)
			st.recent = &last
			break
		}
		t = sched.Next(t)
	}
	return st
}

// lastBefore finds the latest start time in [from, now] without walking every one:
// it searches back from now in growing windows.
func lastBefore(sched cron.Schedule, from, now time.Time) time.Time {
	for window := time.Hour; ; window *= 2 {
		start := now.Add(-window)
		if !start.After(from) {
			start = from
		}
		var last time.Time
		for t := sched.Next(start.Add(-time.Nanosecond)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			last = t
		}
		if !last.IsZero() || !start.After(from) {
			if last.IsZero() {
				return from
			}
			return last
		}
	}
}

// nextScheduleTime is the start time to run now, if any: the most recent missed one,
// within the starting deadline. Too many missed start times are reported.
func nextScheduleTime(cj *batchv1.CronJob, sched cron.Schedule, now time.Time, recorder record.EventRecorder) *time.Time {
	st := mostRecent(cj, sched, now, true)
	if st.recent == nil {
		return nil
	}
	if st.missed > tooManyMissed && recorder != nil {
		recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", st.missed)
	}
	return st.recent
}

// requeueAfter is how long until the schedule's next start time after now.
func requeueAfter(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) *time.Duration {
	st := mostRecent(cj, sched, now, false)
	from := st.earliest
	if st.recent != nil {
		from = *st.recent
	}
	next := sched.Next(from)
	if next.IsZero() {
		return nil // February 30th: never
	}
	for !next.After(now) {
		next = sched.Next(next)
		if next.IsZero() {
			return nil
		}
	}
	d := next.Add(nextScheduleDelta).Sub(now)
	return &d
}
