package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// LogOptions select a container's log lines, as `kubectl logs` asks for them.
type LogOptions struct {
	Follow     bool
	Timestamps bool
	// Tail is the number of last lines, negative for all.
	Tail int64
	// Since drops lines older than this; zero keeps all.
	Since time.Time
}

// Logs copies a container's log (stdout and stderr, in order) to w.
func (r *Runtime) Logs(ctx context.Context, c Container, opts LogOptions, w io.Writer) error {
	lo := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Timestamps: opts.Timestamps, Tail: "all"}
	if opts.Tail >= 0 {
		lo.Tail = fmt.Sprint(opts.Tail)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := r.docker.ContainerLogs(ctx, c.ID, lo)
	if err != nil {
		return err
	}
	defer rc.Close()
	if c.TTY {
		_, err = io.Copy(w, rc)
	} else {
		_, err = stdcopy.StdCopy(w, w, rc)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint16 }

// Streams are the standard streams of an exec or attach; nil ones are not wired.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Resize         <-chan TerminalSize
}

// Exec runs cmd in a running container with the streams given, and returns its
// exit code.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s Streams) (int, error) {
	return r.exec(ctx, id, "", cmd, s)
}

// exec runs cmd as user (empty: the container's own).
func (r *Runtime) exec(ctx context.Context, id, user string, cmd []string, s Streams) (int, error) {
	created, err := r.docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		User: user, Cmd: cmd, Tty: s.TTY, AttachStdin: s.Stdin != nil, AttachStdout: s.Stdout != nil, AttachStderr: s.Stderr != nil,
	})
	if err != nil {
		return -1, err
	}
	hijacked, err := r.docker.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: s.TTY})
	if err != nil {
		return -1, err
	}
	defer hijacked.Close()
	resize := func(sz TerminalSize) {
		_ = r.docker.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
	}
	if err := pump(ctx, hijacked, s, resize, nil); err != nil {
		return -1, err
	}
	// The exec's end may be recorded a moment after its output ends.
	for i := 0; ; i++ {
		ins, err := r.docker.ContainerExecInspect(context.WithoutCancel(ctx), created.ID)
		if err != nil {
			return -1, err
		}
		if !ins.Running || i >= 50 {
			return ins.ExitCode, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Attach connects the streams to a running container's own.
func (r *Runtime) Attach(ctx context.Context, id string, s Streams) error {
	hijacked, err := r.docker.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: s.Stdin != nil, Stdout: s.Stdout != nil, Stderr: s.Stderr != nil,
	})
	if err != nil {
		return err
	}
	defer hijacked.Close()
	resize := func(sz TerminalSize) {
		_ = r.docker.ContainerResize(ctx, id, container.ResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
	}
	// An attach made as the container exits may never see its stream end: its exit
	// ends the attach too.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, _ := r.docker.ContainerWait(waitCtx, id, container.WaitConditionNotRunning)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-exited:
			close(stopped)
		case <-waitCtx.Done():
		}
	}()
	return pump(ctx, hijacked, s, resize, stopped)
}

// pump copies between the hijacked connection and the streams until the output
// ends (the process exited or the container detached it), ctx ends, or a moment
// after stopped is closed.
func pump(ctx context.Context, h types.HijackedResponse, s Streams, resize func(TerminalSize), stopped <-chan struct{}) error {
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() {
		close(done)
		wg.Wait()
	}()
	if s.Resize != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					resize(sz)
				case <-done:
					return
				}
			}
		}()
	}
	if s.Stdin != nil {
		// Not waited for: a read of the client's stdin can outlast the process.
		go func() {
			_, _ = io.Copy(h.Conn, s.Stdin)
			_ = h.CloseWrite()
		}()
	}
	outDone := make(chan error, 1)
	go func() {
		stdout, stderr := s.Stdout, s.Stderr
		if stdout == nil {
			stdout = io.Discard
		}
		if stderr == nil {
			stderr = io.Discard
		}
		var err error
		if s.TTY {
			_, err = io.Copy(stdout, h.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, h.Reader)
		}
		outDone <- err
	}()
	finish := func(err error) error {
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	}
	select {
	case err := <-outDone:
		return finish(err)
	case <-ctx.Done():
		return ctx.Err()
	case <-stopped:
		select {
		case err := <-outDone:
			return finish(err)
		case <-time.After(time.Second):
			return nil
		}
	}
}

// ExecResult is the outcome of a command run to completion.
type ExecResult struct {
	ExitCode int
	Output   []byte // stdout then stderr interleaved as written, capped
}

// maxExecOutput caps what probes and hooks keep of a command's output, as kubelet's
// probes read at most 10 KiB.
const maxExecOutput = 10 * 1024

// ExecSync runs cmd in a container to completion or timeout, for probes and hooks.
func (r *Runtime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (ExecResult, error) {
	return r.execAs(ctx, id, "", cmd, timeout)
}

// execAs is ExecSync as user (empty: the container's own).
func (r *Runtime) execAs(ctx context.Context, id, user string, cmd []string, timeout time.Duration) (ExecResult, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var out capped
	code, err := r.exec(ctx, id, user, cmd, Streams{Stdout: &out, Stderr: &out})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ExecResult{ExitCode: -1, Output: out.Bytes()}, fmt.Errorf("command %q timed out: %w", cmd, context.DeadlineExceeded)
		}
		return ExecResult{ExitCode: -1, Output: out.Bytes()}, err
	}
	return ExecResult{ExitCode: code, Output: out.Bytes()}, nil
}

type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxExecOutput - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}
