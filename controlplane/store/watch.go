package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// history is the bounded event log watchers read from: a ring of the most recent
// events, each with a sequence number. Only the FSM appends (under fsm.mu), and an
// append never waits for anyone: a watcher is just a cursor (a sequence number), so a
// slow watcher costs nothing until the ring overtakes it.
type history struct {
	buf   []Event
	head  int    // position of the oldest event in buf
	n     int    // events held
	first uint64 // sequence number of the oldest event held
	// floor is the rev below which events may be missing: every event with a Rev above
	// floor is held. It rises as old events are overwritten.
	floor uint64
	// epoch changes when a snapshot restore replaces the state; cursors of an older
	// epoch are meaningless.
	epoch uint64
}

func newHistory(size int) history {
	return history{buf: make([]Event, size)}
}

// end is the sequence number the next event will get.
func (h *history) end() uint64 { return h.first + uint64(h.n) }

func (h *history) at(seq uint64) *Event {
	return &h.buf[(h.head+int(seq-h.first))%len(h.buf)]
}

func (h *history) append(ev Event) {
	if h.n == len(h.buf) {
		h.floor = h.buf[h.head].Entry.Rev
		h.buf[h.head] = Event{}
		h.head = (h.head + 1) % len(h.buf)
		h.n--
		h.first++
	}
	h.buf[(h.head+h.n)%len(h.buf)] = ev
	h.n++
}

// seqAfter returns the sequence number of the first event with a Rev above rev.
func (h *history) seqAfter(rev uint64) uint64 {
	i := sort.Search(h.n, func(i int) bool { return h.at(h.first+uint64(i)).Entry.Rev > rev })
	return h.first + uint64(i)
}

func (h *history) reset(rev uint64) {
	clear(h.buf)
	h.first = h.end()
	h.head, h.n = 0, 0
	h.floor = rev
	h.epoch++
}

// watchBuffer is the channel capacity each watcher gets: it absorbs bursts without
// the watcher's goroutine parking for every event. Events stay in the history either
// way; this is not where slow watchers are held.
const watchBuffer = 128

// watchBatch bounds how many events a watcher copies out per visit to the lock.
const watchBatch = 256

// Watch reports the writes under prefix with a Rev above afterRev, in log order, as
// this member applies them. afterRev 0 means from the current rev on.
//
// Watch returns an error wrapping ErrCompacted when afterRev is older than the history
// holds (the API answers 410 Gone). Once started, the channel is closed when ctx ends
// or the store closes. If the watch cannot continue (the watcher fell more than
// Config.WatchHistory events behind, or a snapshot from the leader replaced this
// member's state), the last value before the close is an Event whose Err wraps
// ErrCompacted (ErrClosed when the store closes, delivered if the buffer has room);
// such an Event has Type 0 and no Entry. The caller restarts with a fresh List.
//
// Event values share memory with the store and must not be modified.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev uint64) (<-chan Event, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("watch %s: %w", prefix, ErrClosed)
	}
	f := s.fsm
	f.mu.Lock()
	h := &f.hist
	if afterRev != 0 && afterRev < h.floor {
		floor := h.floor
		f.mu.Unlock()
		return nil, fmt.Errorf("watch %s from revision %d (oldest available %d): %w", prefix, afterRev, floor, ErrCompacted)
	}
	w := &watcher{prefix: prefix, after: afterRev, epoch: h.epoch}
	if afterRev == 0 {
		w.next, w.after = h.end(), f.rev
	} else {
		w.next = h.seqAfter(afterRev)
	}
	f.mu.Unlock()

	ch := make(chan Event, watchBuffer)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		s.runWatch(ctx, w, ch)
	}()
	return ch, nil
}

type watcher struct {
	prefix string
	after  uint64 // events at or below this rev are not wanted
	next   uint64 // sequence number of the next event to look at
	epoch  uint64
}

func (s *Store) runWatch(ctx context.Context, w *watcher, ch chan<- Event) {
	f := s.fsm
	batch := make([]Event, 0, watchBatch)
	for {
		f.mu.Lock()
		h := &f.hist
		if w.epoch != h.epoch || w.next < h.first {
			f.mu.Unlock()
			err := fmt.Errorf("watch %s: fell behind the event history at sequence %d: %w", w.prefix, w.next, ErrCompacted)
			if w.epoch != h.epoch {
				err = fmt.Errorf("watch %s: state replaced by a snapshot: %w", w.prefix, ErrCompacted)
			}
			select {
			case ch <- Event{Err: err}:
			case <-ctx.Done():
			case <-s.closing:
			}
			return
		}
		for w.next < h.end() && len(batch) < watchBatch {
			ev := h.at(w.next)
			w.next++
			if ev.Entry.Rev > w.after && strings.HasPrefix(ev.Entry.Key, w.prefix) {
				batch = append(batch, *ev)
			}
		}
		caughtUp := w.next == h.end()
		wake := f.changed
		f.mu.Unlock()

		for i := range batch {
			select {
			case ch <- batch[i]:
			case <-ctx.Done():
				return
			case <-s.closing:
				s.endWatch(ch)
				return
			}
		}
		clear(batch)
		batch = batch[:0]
		if !caughtUp {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-s.closing:
			s.endWatch(ch)
			return
		}
	}
}

// endWatch tells a watcher the store closed, if its buffer has room: Close must not
// wait for a reader that has gone away.
func (s *Store) endWatch(ch chan<- Event) {
	select {
	case ch <- Event{Err: fmt.Errorf("watch: %w", ErrClosed)}:
	default:
	}
}
