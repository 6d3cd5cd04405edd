package runtime

import (
	"testing"
	"time"
)

func TestUnsettled(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	killed := Container{State: StateExited, ExitCode: 137, MemoryLimit: 32 << 20, FinishedAt: at(500 * time.Millisecond)}
	for _, tc := range []struct {
		name   string
		change func(*Container)
		want   time.Duration
	}{
		{"SIGKILL with a memory limit, just now", func(*Container) {}, OOMSettle - 500*time.Millisecond},
		{"SIGKILL long ago", func(c *Container) { c.FinishedAt = at(time.Minute) }, 0},
		{"already marked OOM-killed", func(c *Container) { c.OOMKilled = true }, 0},
		{"no memory limit", func(c *Container) { c.MemoryLimit = 0 }, 0},
		{"exit code 1", func(c *Container) { c.ExitCode = 1 }, 0},
		{"still running", func(c *Container) { c.State = StateRunning }, 0},
		{"finish time unknown", func(c *Container) { c.FinishedAt = "" }, 0},
	} {
		c := killed
		tc.change(&c)
		if got := c.Unsettled(now); got != tc.want {
			t.Errorf("%s: Unsettled = %v, want %v", tc.name, got, tc.want)
		}
	}
}
