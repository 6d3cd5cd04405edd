package probes

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is a probe's kind.
type Kind string

const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Running is a running container of a pod, whose probes should run.
type Running struct {
	ID        string
	StartedAt time.Time
	Spec      *corev1.Container
	// WasReady is the readiness the API last showed for this very container, kept
	// across an agent restart so a ready pod does not flap to not ready.
	WasReady bool
}

// Reporter hears what probes find: a failure to record as an event, and a change
// worth another look at the pod.
type Reporter interface {
	ProbeFailed(pod *corev1.Pod, c *corev1.Container, kind Kind, output string)
	ProbeChanged(podUID string)
}

// Manager runs a worker per probe of every running container, and keeps their
// results.
type Manager struct {
	ctx    context.Context
	exec   Execer
	report Reporter

	mu      sync.Mutex
	workers map[key]*worker
	results map[key]bool
	// finished probes have decided for good: a passed startup probe, a failed
	// liveness or startup probe.
	finished map[key]bool
	// failed holds liveness or startup failures that call for a restart.
	failed map[string]Kind
	// owner maps container IDs to their pod's UID.
	owner map[string]string
}

type key struct {
	containerID string
	kind        Kind
}

// NewManager makes a manager whose workers run until ctx ends.
func NewManager(ctx context.Context, exec Execer, report Reporter) *Manager {
	return &Manager{ctx: ctx, exec: exec, report: report, workers: map[key]*worker{}, results: map[key]bool{},
		finished: map[key]bool{}, failed: map[string]Kind{}, owner: map[string]string{}}
}

// Sync starts the probes of pod's running containers that have none yet, and stops
// those of containers no longer running.
func (m *Manager) Sync(pod *corev1.Pod, podIP string, running []Running) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid := string(pod.UID)
	live := map[string]bool{}
	for _, r := range running {
		live[r.ID] = true
		m.owner[r.ID] = uid
		probes := map[Kind]*corev1.Probe{Liveness: r.Spec.LivenessProbe, Readiness: r.Spec.ReadinessProbe, Startup: r.Spec.StartupProbe}
		for kind, p := range probes {
			k := key{r.ID, kind}
			if p == nil || m.workers[k] != nil || m.finished[k] {
				continue
			}
			if _, ok := m.results[k]; !ok && kind == Readiness {
				m.results[k] = r.WasReady
			}
			ctx, cancel := context.WithCancel(m.ctx)
			w := &worker{m: m, key: k, pod: pod, probe: p, target: Target{PodIP: podIP, ContainerID: r.ID, Container: r.Spec},
				started: r.StartedAt, cancel: cancel, gated: r.Spec.StartupProbe != nil && kind != Startup, resumed: r.WasReady}
			m.workers[k] = w
			go w.run(ctx)
		}
	}
	for id, owner := range m.owner {
		if owner == uid && !live[id] {
			m.dropLocked(id)
		}
	}
}

func (m *Manager) dropLocked(id string) {
	for _, kind := range []Kind{Liveness, Readiness, Startup} {
		k := key{id, kind}
		if w := m.workers[k]; w != nil {
			w.cancel()
		}
		delete(m.workers, k)
		delete(m.results, k)
		delete(m.finished, k)
	}
	delete(m.failed, id)
	delete(m.owner, id)
}

// Forget stops every probe of the pod.
func (m *Manager) Forget(podUID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, owner := range m.owner {
		if owner == podUID {
			m.dropLocked(id)
		}
	}
}

// Ready is the readiness of a running container: its probe's result, or true
// without one.
func (m *Manager) Ready(c *corev1.Container, id string) bool {
	if c.ReadinessProbe == nil {
		return m.Started(c, id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.results[key{id, Readiness}] && m.startedLocked(c, id)
}

// Started says whether a running container passed its startup probe (true without one).
func (m *Manager) Started(c *corev1.Container, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startedLocked(c, id)
}

func (m *Manager) startedLocked(c *corev1.Container, id string) bool {
	if c.StartupProbe == nil {
		return true
	}
	return m.results[key{id, Startup}]
}

// Failed says whether the container failed its liveness or startup probe and must
// be restarted, and which.
func (m *Manager) Failed(id string) (Kind, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.failed[id]
	return k, ok
}

// MarkStarted records that a container adopted after an agent restart had passed
// its startup probe (the API said started).
func (m *Manager) MarkStarted(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results[key{id, Startup}] = true
	m.finished[key{id, Startup}] = true
}

type worker struct {
	m       *Manager
	key     key
	pod     *corev1.Pod
	probe   *corev1.Probe
	target  Target
	started time.Time
	cancel  context.CancelFunc
	// gated workers wait for the startup probe to pass.
	gated bool
	// resumed workers belong to a container that was already running.
	resumed bool
}

func (w *worker) run(ctx context.Context) {
	p := w.probe
	period := seconds(p.PeriodSeconds, 10)
	timeout := seconds(p.TimeoutSeconds, 1)
	failureThreshold := int(max(p.FailureThreshold, 1))
	if p.FailureThreshold == 0 {
		failureThreshold = 3
	}
	successThreshold := int(max(p.SuccessThreshold, 1))
	first := w.started.Add(seconds(p.InitialDelaySeconds, 0))
	if w.resumed {
		// A probe resumed after an agent restart starts at a random point of its period,
		// so probes of many containers do not all fire at once.
		first = time.Now().Add(time.Duration(rand.Int64N(int64(period))))
	}
	if !sleepUntil(ctx, first) {
		return
	}
	var successes, failures int
	for {
		if w.gated && !w.m.Started(w.target.Container, w.target.ContainerID) {
			if !sleepUntil(ctx, time.Now().Add(period)) {
				return
			}
			continue
		}
		r := w.once(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		if r.OK {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			w.m.report.ProbeFailed(w.pod, w.target.Container, w.key.kind, r.Output)
		}
		if w.record(successes, failures, successThreshold, failureThreshold) {
			return
		}
		if !sleepUntil(ctx, time.Now().Add(period)) {
			return
		}
	}
}

// record stores a result that crossed its threshold, and says whether the worker
// is done: a passed startup probe, or a failed liveness or startup probe (the
// container is restarted, and the new one gets new workers).
func (w *worker) record(successes, failures, successThreshold, failureThreshold int) bool {
	var result, decided bool
	switch {
	case successes >= successThreshold:
		result, decided = true, true
	case failures >= failureThreshold:
		result, decided = false, true
	}
	if !decided {
		return false
	}
	m := w.m
	m.mu.Lock()
	if m.workers[w.key] != w {
		m.mu.Unlock()
		return true
	}
	old, had := m.results[w.key]
	m.results[w.key] = result
	done := false
	switch w.key.kind {
	case Startup:
		if result {
			done = true
		} else {
			m.failed[w.key.containerID] = Startup
			done = true
		}
	case Liveness:
		if !result {
			m.failed[w.key.containerID] = Liveness
			done = true
		}
	}
	if done {
		delete(m.workers, w.key)
		m.finished[w.key] = true
	}
	m.mu.Unlock()
	if !had || old != result || done {
		m.report.ProbeChanged(string(w.pod.UID))
	}
	return done
}

func (w *worker) once(ctx context.Context, timeout time.Duration) Result {
	p := w.probe
	switch {
	case p.Exec != nil:
		return Exec(ctx, w.m.exec, w.target, p.Exec.Command, timeout)
	case p.HTTPGet != nil:
		return HTTPGet(ctx, w.target, p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		return TCP(ctx, w.target, p.TCPSocket, timeout)
	case p.GRPC != nil:
		return GRPC(ctx, w.target, p.GRPC, timeout)
	}
	return failure("probe has no handler")
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
