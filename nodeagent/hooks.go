package nodeagent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kindlike/kindlike/nodeagent/probes"
)

// runHook runs a lifecycle hook (postStart or preStop) against a container, within
// timeout; on failure it returns kubelet's message for the event.
func (a *agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, podIP string, h *corev1.LifecycleHandler, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := probes.Target{PodIP: podIP, ContainerID: id, Container: c}
	switch {
	case h.Exec != nil:
		code, out, err := a.ExecSync(ctx, id, h.Exec.Command, timeout)
		if err == nil && code == 0 {
			return "", nil
		}
		cmd := strings.Join(h.Exec.Command, " ")
		if err == nil {
			err = fmt.Errorf("command '%s' exited with %d: %s", cmd, code, out)
		}
		return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
			h.Exec.Command, c.Name, podID(pod), err, string(out)), err
	case h.HTTPGet != nil:
		r := probes.HTTPGet(ctx, t, h.HTTPGet, timeout)
		if r.OK {
			return "", nil
		}
		return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %s, message: %q",
			h.HTTPGet.Path, c.Name, podID(pod), r.Output, ""), fmt.Errorf("%s", r.Output)
	case h.Sleep != nil:
		probes.Sleep(ctx, h.Sleep.Seconds)
	}
	return "", nil
}

// ExecSync runs a command in a container for probes and hooks.
func (a *agent) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
	r, err := a.rt.ExecSync(ctx, id, cmd, timeout)
	return r.ExitCode, r.Output, err
}

// ProbeFailed records a failed probe as kubelet does: a warning on the container.
func (a *agent) ProbeFailed(pod *corev1.Pod, c *corev1.Container, kind probes.Kind, output string) {
	a.recorder.Eventf(containerRef(pod, c.Name), corev1.EventTypeWarning, reasonUnhealthy, "%s probe failed: %s", kind, strings.TrimSpace(output))
}

// ProbeChanged looks at the pod again: readiness changed, or a container must restart.
func (a *agent) ProbeChanged(podUID string) { a.workers.enqueue(podUID) }
