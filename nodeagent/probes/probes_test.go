package probes

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// switchExec succeeds while healthy is set.
type switchExec struct{ healthy atomic.Bool }

func (s *switchExec) ExecSync(context.Context, string, []string, time.Duration) (int, []byte, error) {
	if s.healthy.Load() {
		return 0, nil, nil
	}
	return 1, []byte("unhealthy"), nil
}

type recorder struct {
	mu       sync.Mutex
	failures map[Kind]int
	changes  int
}

func (r *recorder) ProbeFailed(_ *corev1.Pod, _ *corev1.Container, kind Kind, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[kind]++
}

func (r *recorder) ProbeChanged(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes++
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 8s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestManager(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := &switchExec{}
	rec := &recorder{failures: map[Kind]int{}}
	m := NewManager(ctx, exec, rec)
	probe := func(failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
			PeriodSeconds: 1, FailureThreshold: failures}
	}
	c := &corev1.Container{Name: "c", ReadinessProbe: probe(1), LivenessProbe: probe(2), StartupProbe: probe(30)}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "pod-1"}}
	m.Sync(pod, "127.0.0.1", []Running{{ID: "c1", StartedAt: time.Now(), Spec: c}})

	// Unhealthy at first: not started, not ready, no restart (the startup probe allows 30 failures).
	waitFor(t, "a failed startup probe", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.failures[Startup] > 0 })
	if m.Started(c, "c1") || m.Ready(c, "c1") {
		t.Error("started or ready before the startup probe passed")
	}
	if _, failed := m.Failed("c1"); failed {
		t.Error("liveness ran before the startup probe passed")
	}
	exec.healthy.Store(true)
	waitFor(t, "started and ready", func() bool { return m.Started(c, "c1") && m.Ready(c, "c1") })

	// Then it breaks: not ready after 1 failure, failed liveness after 2.
	exec.healthy.Store(false)
	waitFor(t, "liveness failure", func() bool { k, failed := m.Failed("c1"); return failed && k == Liveness })
	if m.Ready(c, "c1") {
		t.Error("still ready after failing")
	}
	// The container is replaced: its probes go, the new one's start afresh.
	exec.healthy.Store(true)
	m.Sync(pod, "127.0.0.1", []Running{{ID: "c2", StartedAt: time.Now(), Spec: c}})
	if _, failed := m.Failed("c1"); failed {
		t.Error("results of a container no longer running kept")
	}
	waitFor(t, "new container ready", func() bool { return m.Ready(c, "c2") })
	m.Forget("pod-1")
	if m.Ready(c, "c2") {
		t.Error("forgotten pod still ready")
	}
}

func TestAdoptedContainerKeepsReadiness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exec := &switchExec{}
	exec.healthy.Store(true)
	m := NewManager(ctx, exec, &recorder{failures: map[Kind]int{}})
	c := &corev1.Container{Name: "c", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}, PeriodSeconds: 60}}
	m.Sync(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "p"}}, "", []Running{{ID: "old", StartedAt: time.Now().Add(-time.Hour), Spec: c, WasReady: true}})
	if !m.Ready(c, "old") {
		t.Error("a container ready before the agent restarted is not ready until its next probe")
	}
}
