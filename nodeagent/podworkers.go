package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// podWorkers runs one goroutine per pod, which syncs it whenever woken: by the API
// (the pod changed), by Docker (a container of it started or died), by a probe (a
// result changed), or by a timer (a back-off ended). A pod's syncs never overlap, and
// a slow one (an image pull, a grace period) delays no other pod: the reason for a
// goroutine per pod rather than a workqueue with a fixed number of workers.
type podWorkers struct {
	ctx  context.Context
	sync syncFunc
	log  *slog.Logger

	mu      sync.Mutex
	workers map[string]*podWorker
	wg      sync.WaitGroup
	// started is closed by begin: workers sync nothing before.
	started   chan struct{}
	startOnce sync.Once
}

// syncFunc makes one pass over a pod toward what it should be. It returns when to
// look again (0: only when woken) and done once nothing of the pod is left to
// look after.
type syncFunc func(ctx context.Context, uid string) (again time.Duration, done bool, err error)

type podWorker struct {
	wake  chan struct{}
	timer *time.Timer
	// due is when the timer fires, zero if it is stopped.
	due time.Time
}

func newPodWorkers(ctx context.Context, f syncFunc, log *slog.Logger) *podWorkers {
	return &podWorkers{ctx: ctx, sync: f, log: log, workers: map[string]*podWorker{}, started: make(chan struct{})}
}

// begin lets workers sync: wake-ups until then wait.
func (p *podWorkers) begin() { p.startOnce.Do(func() { close(p.started) }) }

// enqueue wakes the pod's worker, starting one if there is none.
func (p *podWorkers) enqueue(uid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workerLocked(uid)
	if w == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// enqueueAfter wakes the pod's worker after d, unless an earlier wake-up is due.
func (p *podWorkers) enqueueAfter(uid string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workerLocked(uid)
	if w == nil {
		return
	}
	at := time.Now().Add(d)
	if !w.due.IsZero() && w.due.Before(at) {
		return
	}
	w.due = at
	if w.timer == nil {
		w.timer = time.AfterFunc(d, func() {
			p.mu.Lock()
			w.due = time.Time{}
			p.mu.Unlock()
			select {
			case w.wake <- struct{}{}:
			default:
			}
		})
		return
	}
	w.timer.Reset(d)
}

func (p *podWorkers) workerLocked(uid string) *podWorker {
	if p.ctx.Err() != nil {
		return nil
	}
	if w := p.workers[uid]; w != nil {
		return w
	}
	w := &podWorker{wake: make(chan struct{}, 1)}
	p.workers[uid] = w
	p.wg.Add(1)
	go p.run(uid, w)
	return w
}

// run syncs the pod each time it is woken, backing off on errors, and ends once the
// pod is done and nobody woke it meanwhile.
func (p *podWorkers) run(uid string, w *podWorker) {
	defer p.wg.Done()
	select {
	case <-p.started:
	case <-p.ctx.Done():
		return
	}
	retry := time.Duration(0)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-w.wake:
		}
		again, done, err := p.safeSync(uid)
		if p.ctx.Err() != nil {
			return
		}
		if err != nil {
			retry = min(max(2*retry, time.Second), 30*time.Second)
			if again == 0 || again > retry {
				again = retry
			}
		} else {
			retry = 0
		}
		if done {
			p.mu.Lock()
			if len(w.wake) > 0 {
				// Woken while finishing (enqueue holds mu): the pod came back.
				p.mu.Unlock()
				continue
			}
			if w.timer != nil {
				w.timer.Stop()
			}
			delete(p.workers, uid)
			p.mu.Unlock()
			return
		}
		if again > 0 {
			p.enqueueAfter(uid, again)
		}
	}
}

// safeSync syncs the pod, turning a panic into an error: one pod's bug must not
// take the agent, and every other pod, down with it.
func (p *podWorkers) safeSync(uid string) (again time.Duration, done bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic syncing pod %s: %v", uid, r)
			p.log.Error("pod sync panicked; the pod is retried, the others go on", "uid", uid, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	return p.sync(p.ctx, uid)
}

// wait waits for every worker to end, after the context ended.
func (p *podWorkers) wait() {
	p.mu.Lock()
	for _, w := range p.workers {
		if w.timer != nil {
			w.timer.Stop()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}
