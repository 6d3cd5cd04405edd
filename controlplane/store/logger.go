package store

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// raftLogger passes raft's hclog output to our slog logger. Raft is chatty at info and
// debug (every election step, every snapshot), so only warnings and errors pass by
// default; its key/value arguments become slog attributes.
type raftLogger struct {
	l       *slog.Logger
	name    string
	implied []interface{}
	level   *atomic.Int32 // shared by every logger derived from the same root
}

var _ hclog.Logger = (*raftLogger)(nil)

func newRaftLogger(l *slog.Logger) *raftLogger {
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.Warn))
	return &raftLogger{l: l.With("component", "raft"), level: lvl}
}

func (r *raftLogger) enabled(level hclog.Level) bool {
	return level != hclog.Off && level >= hclog.Level(r.level.Load())
}

func (r *raftLogger) Log(level hclog.Level, msg string, args ...interface{}) {
	if !r.enabled(level) {
		return
	}
	var sl slog.Level
	switch {
	case level <= hclog.Debug:
		sl = slog.LevelDebug
	case level == hclog.Info:
		sl = slog.LevelInfo
	case level == hclog.Warn:
		sl = slog.LevelWarn
	default:
		sl = slog.LevelError
	}
	if r.name != "" {
		msg = r.name + ": " + msg
	}
	all := append(append([]interface{}(nil), r.implied...), args...)
	r.l.Log(context.Background(), sl, msg, all...)
}

func (r *raftLogger) Trace(msg string, args ...interface{}) { r.Log(hclog.Trace, msg, args...) }
func (r *raftLogger) Debug(msg string, args ...interface{}) { r.Log(hclog.Debug, msg, args...) }
func (r *raftLogger) Info(msg string, args ...interface{})  { r.Log(hclog.Info, msg, args...) }
func (r *raftLogger) Warn(msg string, args ...interface{})  { r.Log(hclog.Warn, msg, args...) }
func (r *raftLogger) Error(msg string, args ...interface{}) { r.Log(hclog.Error, msg, args...) }

func (r *raftLogger) IsTrace() bool { return r.enabled(hclog.Trace) }
func (r *raftLogger) IsDebug() bool { return r.enabled(hclog.Debug) }
func (r *raftLogger) IsInfo() bool  { return r.enabled(hclog.Info) }
func (r *raftLogger) IsWarn() bool  { return r.enabled(hclog.Warn) }
func (r *raftLogger) IsError() bool { return r.enabled(hclog.Error) }

func (r *raftLogger) ImpliedArgs() []interface{} { return r.implied }

func (r *raftLogger) With(args ...interface{}) hclog.Logger {
	c := *r
	c.implied = append(append([]interface{}(nil), r.implied...), args...)
	return &c
}

func (r *raftLogger) Name() string { return r.name }

func (r *raftLogger) Named(name string) hclog.Logger {
	c := *r
	if c.name != "" {
		c.name += "."
	}
	c.name += name
	return &c
}

func (r *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *r
	c.name = name
	return &c
}

func (r *raftLogger) SetLevel(level hclog.Level) { r.level.Store(int32(level)) }
func (r *raftLogger) GetLevel() hclog.Level      { return hclog.Level(r.level.Load()) }

func (r *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(opts), "", 0)
}

func (r *raftLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		r.Warn(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
