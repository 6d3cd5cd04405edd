package store

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// leadership is one uninterrupted period during which this member leads.
type leadership struct {
	ready chan struct{} // closed once the barrier committed: leader work may start
	lost  chan struct{} // closed when the period ends
}

// monitorLeadership follows raft's leadership notifications, as Nomad does: on gain,
// a barrier (so the FSM holds everything earlier leaders committed) and then leader
// work may start; on loss, it stops.
func (s *Store) monitorLeadership(notify <-chan bool) {
	var cur *leadership
	for {
		select {
		case isLeader := <-notify:
			switch {
			case isLeader && cur == nil:
				cur = &leadership{ready: make(chan struct{}), lost: make(chan struct{})}
				s.setLeadership(cur)
				s.log.Info("gained leadership", "term", s.raft.CurrentTerm())
				s.wg.Add(1)
				go func(l *leadership) {
					defer s.wg.Done()
					s.establish(l)
				}(cur)
			case !isLeader && cur != nil:
				close(cur.lost)
				cur = nil
				s.setLeadership(nil)
				s.log.Info("lost leadership")
			}
		case <-s.closing:
			if cur != nil {
				close(cur.lost)
				s.setLeadership(nil)
			}
			return
		}
	}
}

func (s *Store) setLeadership(l *leadership) {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	s.lead = l
	close(s.leaderChanged)
	s.leaderChanged = make(chan struct{})
}

func (s *Store) leadership() (*leadership, <-chan struct{}) {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.lead, s.leaderChanged
}

// establish commits a barrier in the new term, retrying until it succeeds or the
// leadership ends. Only a barrier whose term did not change around it counts.
func (s *Store) establish(l *leadership) {
	delay := 10 * time.Millisecond
	for {
		if !s.enter() {
			return
		}
		term := s.raft.CurrentTerm()
		err := s.raft.Barrier(applyEnqueueTimeout).Error()
		s.exit()
		if err == nil && s.raft.CurrentTerm() == term {
			s.readyTerm.Store(term)
			close(l.ready)
			return
		}
		if err != nil {
			s.log.Warn("leader barrier failed", "term", term, "error", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.lost:
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
		delay = min(2*delay, time.Second)
	}
}

// waitEstablished waits, briefly, for the current leadership's barrier.
func (s *Store) waitEstablished(ctx context.Context) error {
	l, changed := s.leadership()
	if l == nil {
		// raft says leader but the notification is not processed yet.
		t := time.NewTimer(50 * time.Millisecond)
		defer t.Stop()
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
		if l, _ = s.leadership(); l == nil {
			return nil
		}
	}
	select {
	case <-l.ready:
	case <-l.lost:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
	return nil
}

// IsLeader reports whether this member currently leads.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// RunAsLeader runs fn each time this member becomes leader, after the barrier that
// makes its state current, with a ctx cancelled when the leadership ends (or ctx ends,
// or the store closes). It waits for fn to return before it may run it again, for a
// later leadership; if fn returns while still leading, it is not restarted until then.
// RunAsLeader returns when ctx ends or the store closes.
func (s *Store) RunAsLeader(ctx context.Context, fn func(ctx context.Context)) {
	var done *leadership
	for {
		l, changed := s.leadership()
		if l != nil && l != done {
			select {
			case <-l.ready:
				done = l
				s.runLeading(ctx, l, fn)
				continue
			case <-l.lost:
				done = l
				continue
			case <-changed:
				continue
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

func (s *Store) runLeading(ctx context.Context, l *leadership, fn func(context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-l.lost:
		case <-s.closing:
		case <-stop:
		}
		cancel()
	}()
	fn(lctx)
	close(stop)
	<-watched
}
