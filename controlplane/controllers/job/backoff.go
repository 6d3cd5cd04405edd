package job

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// backoff is what a Job's replacement delay depends on: how many of its pods failed
// since the last success, and when the latest of them finished. It lives in the
// leader's memory, as in Kubernetes: a new leader starts without delay.
type backoff struct {
	failures    int
	lastFailure time.Time
}

type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoff
}

func newBackoffStore() *backoffStore { return &backoffStore{m: map[string]backoff{}} }

func (s *backoffStore) get(key string) backoff {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

func (s *backoffStore) set(key string, b backoff) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = b
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// next folds newly finished pods into b: a success newer than every failure resets
// the count; failures after the latest success add to it.
func (b backoff) next(succeeded, failed []*corev1.Pod, now time.Time) backoff {
	if len(succeeded) == 0 {
		for _, p := range failed {
			b.failures++
			if t := finishTime(p, now); t.After(b.lastFailure) {
				b.lastFailure = t
			}
		}
		return b
	}
	var lastSuccess time.Time
	for _, p := range succeeded {
		if t := finishTime(p, now); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	out := backoff{}
	for _, p := range failed {
		if t := finishTime(p, now); t.After(lastSuccess) {
			out.failures++
			if t.After(out.lastFailure) {
				out.lastFailure = t
			}
		}
	}
	return out
}

// remaining is how long to wait before the next pod: base doubled for each failure
// after the first, capped at max, counted from the last failure.
func (b backoff) remaining(now time.Time, base, max time.Duration) time.Duration {
	if b.failures == 0 {
		return 0
	}
	delay := base
	for i := 1; i < b.failures && delay < max; i++ {
		delay *= 2
	}
	delay = min(delay, max)
	if left := delay - now.Sub(b.lastFailure); left > 0 {
		return left
	}
	return 0
}

// finishTime is when a pod's last container ended; a pod without one (deleted before
// it ran) finished now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range statuses {
			if s.State.Terminated != nil && s.State.Terminated.FinishedAt.After(t) {
				t = s.State.Terminated.FinishedAt.Time
			}
		}
	}
	if t.IsZero() {
		return now
	}
	return t
}
