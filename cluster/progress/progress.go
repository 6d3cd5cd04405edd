// Package progress prints the status line of a long command, as kind does: each step
// is shown while it runs (with a spinner on a terminal) and ends with ✓ or ✗.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Status is the status line. On a terminal a running step is animated in place;
// elsewhere (logs, CI) only finished steps are printed, one line each.
type Status struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex // the step
	wmu     sync.Mutex // writes to w, shared with the spinner
	step    string
	text    atomic.Value // the step's text as shown; Update changes it
	stop    chan struct{}
	stopped chan struct{}
}

// New writes to w, animating if w is a terminal.
func New(w io.Writer) *Status {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Status{w: w, tty: tty}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Start begins a step, ending any step still running as successful.
func (s *Status) Start(step string) {
	s.End(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step = step
	s.text.Store(step)
	if !s.tty {
		return
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.spin(s.stop, s.stopped)
}

// Update changes the running step's text, e.g. to show a count.
func (s *Status) Update(step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.step != "" {
		s.step = step
		s.text.Store(step)
	}
}

func (s *Status) spin(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		s.wmu.Lock()
		fmt.Fprintf(s.w, "\r\033[K %s %s ", spinner[i%len(spinner)], s.text.Load())
		s.wmu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// End ends the running step, if any, with ✓ or ✗.
func (s *Status) End(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.step == "" {
		return
	}
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
		s.stop = nil
		fmt.Fprint(s.w, "\r\033[K")
	}
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	fmt.Fprintf(s.w, " %s %s\n", mark, s.step)
	s.step = ""
}

// Done prints a step that has already finished well.
func (s *Status) Done(step string) {
	s.Start(step)
	s.End(true)
}

// Printf prints a line of its own above a running step, which goes on.
func (s *Status) Printf(format string, args ...any) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.tty {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintf(s.w, format+"\n", args...)
}
