package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/nodeagent/volumes"
)

// podState is what the agent remembers of a pod between syncs. Everything else it
// reads again each time: the pod from the watch cache, its containers from Docker.
type podState struct {
	// waiting says why a container is not running, where the agent knows more than
	// "ContainerCreating": a failed pull, a configuration error, a back-off.
	waiting map[string]corev1.ContainerStateWaiting
	// contents maps content volumes to what was last written into them, and through
	// which sandbox.
	contents map[string]string
	// mountErr is why the pod's volumes could not be set up.
	mountErr string
	// frozenConfigMaps and frozenSecrets are the immutable ones the pod's volumes
	// read, by name: what the pod keeps whatever becomes of them (see podSource).
	frozenConfigMaps map[string]*corev1.ConfigMap
	frozenSecrets    map[string]*corev1.Secret
	// logTails caches the termination messages read from logs, per container.
	logTails map[string]string
	// deadlineExceeded is set once the pod ran longer than activeDeadlineSeconds.
	deadlineExceeded bool
	// claims holds the pod's persistentVolumeClaim volumes once resolved: a binding
	// does not change, and a running pod keeps its volume whatever becomes of the claim.
	claims map[string]volumes.Volume
}

func (a *agent) state(uid string) *podState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.states[uid]
	if st == nil {
		st = &podState{waiting: map[string]corev1.ContainerStateWaiting{}, contents: map[string]string{}, claims: map[string]volumes.Volume{}}
		a.states[uid] = st
	}
	return st
}

func (a *agent) forget(uid string) {
	a.mu.Lock()
	delete(a.states, uid)
	a.mu.Unlock()
	a.probes.Forget(uid)
}

// podContainers are a pod's containers as Docker has them, newest first.
type podContainers struct {
	all       []runtime.Container
	sandboxes []runtime.Container
	byName    map[string][]runtime.Container
	// changes is the runtime's count of changes when they were listed.
	changes uint64
}

func group(ctrs []runtime.Container) podContainers {
	sort.Slice(ctrs, func(i, j int) bool {
		if ctrs[i].Attempt != ctrs[j].Attempt {
			return ctrs[i].Attempt > ctrs[j].Attempt
		}
		return ctrs[i].CreatedAt > ctrs[j].CreatedAt
	})
	pc := podContainers{all: ctrs, byName: map[string][]runtime.Container{}}
	for _, c := range ctrs {
		if c.Type == runtime.TypeSandbox {
			pc.sandboxes = append(pc.sandboxes, c)
		} else {
			pc.byName[c.ContainerName] = append(pc.byName[c.ContainerName], c)
		}
	}
	return pc
}

// sandbox is the pod's newest pause container, nil if it has none.
func (pc podContainers) sandbox() *runtime.Container {
	if len(pc.sandboxes) == 0 {
		return nil
	}
	return &pc.sandboxes[0]
}

// latest is the newest instance of a container, nil if it never ran.
func (pc podContainers) latest(name string) *runtime.Container {
	if l := pc.byName[name]; len(l) > 0 {
		return &l[0]
	}
	return nil
}

// syncPod is the pod workers' step: it reads the pod and its containers and moves
// them one pass toward what the pod says.
func (a *agent) syncPod(ctx context.Context, uid string) (time.Duration, bool, error) {
	pod := a.podByUID(uid)
	pc, err := a.listPod(ctx, uid)
	if err != nil {
		return 0, false, err
	}
	switch {
	case pod == nil:
		done, err := a.cleanupPod(ctx, uid, pc)
		return 0, done, err
	case pod.DeletionTimestamp != nil:
		return a.terminatePod(ctx, pod, pc)
	}
	again, err := a.runPod(ctx, pod, pc)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("syncing pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	return again, false, err
}

// runPod makes the pod run: volumes, sandbox, init containers in order, then the
// app containers, restarted as the restart policy says; then reports its status.
func (a *agent) runPod(ctx context.Context, pod *corev1.Pod, pc podContainers) (time.Duration, error) {
	st := a.state(string(pod.UID))
	if isTerminal(pod.Status.Phase) {
		// A finished pod keeps its containers (for logs) but runs nothing.
		for _, c := range pc.all {
			if c.Running() {
				a.stopContainer(ctx, pod, nil, c, 0)
			}
		}
		a.probes.Forget(string(pod.UID))
		return 0, nil
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && pod.Status.StartTime != nil &&
		time.Since(pod.Status.StartTime.Time) >= time.Duration(*d)*time.Second {
		if !st.deadlineExceeded {
			a.recorder.Event(podRef(pod), corev1.EventTypeNormal, reasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline")
		}
		st.deadlineExceeded = true
		var wg sync.WaitGroup
		for _, c := range pc.all {
			if c.Running() && c.Type != runtime.TypeSandbox {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.stopContainer(ctx, pod, specOf(pod, c.ContainerName), c, gracePeriod(pod))
				}()
			}
		}
		wg.Wait()
		return 0, a.updateStatus(ctx, pod, pc, st)
	}
	if pod.Status.StartTime == nil {
		// A pod new to the node shows ContainerCreating (and its start time) at once,
		// while its sandbox and images come.
		if p, err := a.postPodStatus(ctx, pod, a.podStatus(ctx, pod, pc, st)); err == nil && p != nil {
			pod = p
		}
	}
	again := time.Duration(0)
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && pod.Status.StartTime != nil {
		again = time.Until(pod.Status.StartTime.Add(time.Duration(*d) * time.Second))
	}
	sandbox, err := a.ensureSandbox(ctx, pod, pc, st)
	if err != nil || sandbox == nil {
		// Report ContainerCreating (or a lost sandbox's exits), then try again.
		if perr := a.updateStatus(ctx, pod, pc, st); perr != nil {
			err = errors.Join(err, perr)
		}
		return 0, err
	}
	if old := pc.sandbox(); (old == nil || old.ID != sandbox.ID) && len(pc.all) > 0 {
		// The old sandbox's containers were stopped: see them as they are now.
		pc, err = a.listPod(ctx, string(pod.UID))
		if err != nil {
			return 0, err
		}
	}
	initDone, d := a.syncInitContainers(ctx, pod, pc, sandbox, st)
	again = soonest(again, d)
	if initDone {
		for i := range pod.Spec.Containers {
			again = soonest(again, a.syncContainer(ctx, pod, &pod.Spec.Containers[i], false, pc, sandbox, st))
		}
	}
	return again, a.updateStatus(ctx, pod, pc, st)
}

// listPod reads the pod's containers from Docker.
func (a *agent) listPod(ctx context.Context, uid string) (podContainers, error) {
	changes := a.rt.Changes()
	ctrs, err := a.rt.PodContainers(ctx, uid)
	if err != nil {
		return podContainers{}, err
	}
	pc := group(ctrs)
	pc.changes = changes
	return pc, nil
}

func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// ensureSandbox returns the pod's running pause container, making a new one (and
// the volumes) when there is none or it died: then every container of the old one
// is stopped, and starts again in the new one. A pod that never restarts and whose
// containers ran does not get a new sandbox: nil, and its status shows the exits.
func (a *agent) ensureSandbox(ctx context.Context, pod *corev1.Pod, pc podContainers, st *podState) (*runtime.Container, error) {
	vols, err := a.planVolumes(ctx, pod, st)
	if err != nil {
		a.mountFailed(pod, st, err.Error())
		return nil, err
	}
	sb := pc.sandbox()
	if sb != nil && sb.Running() {
		if err := a.writeContents(ctx, pod, sb, false, vols, st); err != nil {
			return nil, err
		}
		return sb, nil
	}
	attempt := 0
	if sb != nil {
		attempt = sb.Attempt + 1
		ran := false
		for _, c := range pod.Spec.Containers {
			ran = ran || pc.latest(c.Name) != nil
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && ran {
			for _, c := range pc.all {
				if c.Running() {
					a.stopContainer(ctx, pod, nil, c, 0)
				}
			}
			return nil, nil
		}
		a.recorder.Eventf(podRef(pod), corev1.EventTypeNormal, reasonSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		// Containers of the dead sandbox lost their network: stop them to start anew.
		var wg sync.WaitGroup
		for _, c := range pc.all {
			if c.Running() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.stopContainer(ctx, pod, specOf(pod, c.ContainerName), c, gracePeriod(pod))
				}()
			}
		}
		wg.Wait()
		for _, old := range pc.sandboxes {
			_ = a.rt.Remove(ctx, old.ID)
		}
	}
	mounts, err := a.ensureVolumes(ctx, pod, vols)
	if err != nil {
		a.mountFailed(pod, st, err.Error())
		return nil, err
	}
	node, err := a.nodeContainer(ctx)
	if err != nil {
		return nil, err
	}
	if !node.Running {
		return nil, fmt.Errorf("node container %s is not running", node.Name)
	}
	spec := a.sandboxSpec(pod, attempt, node, mounts)
	created, err := a.rt.CreateSandbox(ctx, spec)
	if err != nil {
		if runtime.IsNotFound(err) {
			err = fmt.Errorf("%w (the pause image %s is built by `make images`)", err, a.cfg.PauseImage)
		}
		a.recorder.Eventf(podRef(pod), corev1.EventTypeWarning, reasonSandboxFailed, "Failed to create pod sandbox: %v", err)
		return nil, err
	}
	clear(st.contents)
	if err := a.writeContents(ctx, pod, &created, true, vols, st); err != nil {
		return nil, err
	}
	return &created, nil
}

// planVolumes says how each of the pod's volumes is backed, its claims resolved to
// the PersistentVolumes bound to them; until every claim is bound, it fails.
func (a *agent) planVolumes(ctx context.Context, pod *corev1.Pod, st *podState) ([]volumes.Volume, error) {
	vols, err := volumes.Plan(pod)
	if err != nil {
		return nil, err
	}
	resolve := false
	for i, v := range vols {
		if v.Kind != volumes.Claim {
			continue
		}
		if r, ok := st.claims[v.Name]; ok {
			vols[i] = r
		} else {
			resolve = true
		}
	}
	if !resolve {
		return vols, nil
	}
	if vols, err = volumes.Resolve(ctx, a.source, pod, vols); err != nil {
		return nil, err
	}
	for _, v := range vols {
		if v.ClaimName != "" {
			st.claims[v.Name] = v
		}
	}
	return vols, nil
}

func (a *agent) mountFailed(pod *corev1.Pod, st *podState, msg string) {
	if st.mountErr != msg {
		a.recorder.Event(podRef(pod), corev1.EventTypeWarning, reasonFailedMount, msg)
	}
	st.mountErr = msg
}

// specOf is the pod's spec of a container, init or app; nil if it has none.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// gracePeriod is how long the pod's containers get to stop: the deletion's grace
// period when it is being deleted, else its own.
func gracePeriod(pod *corev1.Pod) int64 {
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return *g
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// syncInitContainers runs the init containers one after the other, each to success,
// restarting a failed one as the pod's restart policy says. A sidecar (an init
// container with restartPolicy Always) is started and kept running instead, and the
// next one waits only until it has started. It reports whether initialization is
// over, and when to look again.
func (a *agent) syncInitContainers(ctx context.Context, pod *corev1.Pod, pc podContainers, sandbox *runtime.Container, st *podState) (bool, time.Duration) {
	// Once an app container ran in this sandbox, initialization is over, even if the
	// init containers' remains were removed since; sidecars are still kept running.
	appStarted := false
	for _, c := range pod.Spec.Containers {
		if l := pc.latest(c.Name); l != nil && l.SandboxID == sandbox.ID {
			appStarted = true
		}
	}
	again := time.Duration(0)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			again = soonest(again, a.syncContainer(ctx, pod, c, true, pc, sandbox, st))
			if l := pc.latest(c.Name); !appStarted && (l == nil || l.SandboxID != sandbox.ID || !l.Running() || !a.probes.Started(c, l.ID)) {
				// The next one waits until this sidecar has started.
				return false, again
			}
			continue
		}
		if appStarted {
			continue
		}
		l := pc.latest(c.Name)
		if l == nil {
			if ran, ok := ranBefore(pod, c.Name, true); ok && ran.ExitCode == 0 && sb0(pc) {
				// Succeeded in this sandbox, per the API, though its remains are gone.
				continue
			}
		}
		if l == nil || l.SandboxID != sandbox.ID {
			attempt := 0
			if l != nil {
				attempt = l.Attempt + 1
			}
			return false, soonest(again, a.startContainer(ctx, pod, c, true, attempt, sandbox, pc, st))
		}
		switch {
		case l.Running():
			return false, again
		case l.State == runtime.StateCreated && l.Error == "":
			return false, soonest(again, a.startCreated(ctx, pod, c, *l, sandbox, st))
		case succeeded(*l):
			continue
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return false, again
		}
		if wait := a.inBackoff(pod, c, *l, st); wait > 0 {
			return false, soonest(again, wait)
		}
		return false, soonest(again, a.startContainer(ctx, pod, c, true, l.Attempt+1, sandbox, pc, st))
	}
	return true, again
}

// isSidecar reports whether an init container is a sidecar: restartPolicy Always.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// sb0 reports whether the pod still has its first sandbox: init containers that
// succeeded in it need not run again.
func sb0(pc podContainers) bool { return len(pc.sandboxes) == 1 }

func succeeded(c runtime.Container) bool {
	return c.State == runtime.StateExited && c.ExitCode == 0 && c.Error == ""
}

// syncContainer keeps an app container or a sidecar running (restarting a sidecar
// whatever the pod's restart policy), and returns when to look again.
func (a *agent) syncContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sidecar bool, pc podContainers, sandbox *runtime.Container, st *podState) time.Duration {
	l := pc.latest(c.Name)
	if l != nil && l.SandboxID == sandbox.ID {
		switch {
		case l.Running():
			msg := ""
			if kind, failed := a.probes.Failed(l.ID); failed {
				msg = fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, strings.ToLower(string(kind)))
			} else if l.Hash != "" && l.Hash != containerHash(c) {
				msg = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
			}
			if msg == "" {
				return 0
			}
			a.recorder.Event(containerRef(pod, c.Name), corev1.EventTypeNormal, reasonKilling, msg)
			grace := gracePeriod(pod)
			if p := c.LivenessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
				grace = *p.TerminationGracePeriodSeconds
			}
			a.stopContainer(ctx, pod, c, *l, grace)
			stopped, err := a.rt.Inspect(ctx, l.ID)
			if err != nil {
				return time.Second
			}
			*l = stopped
		case l.State == runtime.StateCreated && l.Error == "":
			return a.startCreated(ctx, pod, c, *l, sandbox, st)
		}
	}
	attempt := 0
	if l != nil {
		if !sidecar && !shouldRestart(pod, *l) {
			return 0
		}
		if wait := a.inBackoff(pod, c, *l, st); wait > 0 {
			return wait
		}
		attempt = l.Attempt + 1
	} else if ran, ok := ranBefore(pod, c.Name, sidecar); ok && !sidecar {
		// Its remains are gone (removed by hand, or the engine lost them), but the API
		// says it ran: the restart policy still applies, and the count goes on.
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever ||
			(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && ran.ExitCode == 0) {
			return 0
		}
		attempt = int(ran.restarts) + 1
	}
	return a.startContainer(ctx, pod, c, sidecar, attempt, sandbox, pc, st)
}

// lastRun is what the API last showed of a container that ran.
type lastRun struct {
	ExitCode int32
	restarts int32
	status   corev1.ContainerStatus
}

// ranBefore reports how a container last ended according to the pod's status in
// the API, if it ran and ended.
func ranBefore(pod *corev1.Pod, name string, init bool) (lastRun, bool) {
	list := pod.Status.ContainerStatuses
	if init {
		list = pod.Status.InitContainerStatuses
	}
	for _, cs := range list {
		if cs.Name != name {
			continue
		}
		t := cs.State.Terminated
		if t == nil {
			t = cs.LastTerminationState.Terminated
		}
		if t == nil || t.ContainerID == "" {
			return lastRun{}, false
		}
		return lastRun{ExitCode: t.ExitCode, restarts: cs.RestartCount, status: cs}, true
	}
	return lastRun{}, false
}

// shouldRestart applies the restart policy to a container that is not running.
func shouldRestart(pod *corev1.Pod, l runtime.Container) bool {
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return !succeeded(l)
	}
	return true
}

// inBackoff says how long a failed container must wait before it starts again, and
// records CrashLoopBackOff meanwhile; zero means start it now.
func (a *agent) inBackoff(pod *corev1.Pod, c *corev1.Container, l runtime.Container, st *podState) time.Duration {
	key := backoffKey(pod, c)
	finished := parseTime(l.FinishedAt)
	if finished.IsZero() {
		finished = parseTime(l.CreatedAt)
	}
	if a.crashes.IsInBackOffSince(key, finished) {
		wait := a.crashes.Get(key) - time.Since(finished)
		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: waitingCrashLoop,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", a.crashes.Get(key), c.Name, podID(pod))}
		a.recorder.Eventf(containerRef(pod, c.Name), corev1.EventTypeWarning, reasonBackOff, "Back-off restarting failed container %s in pod %s", c.Name, podID(pod))
		return wait
	}
	a.crashes.Next(key, finished)
	return 0
}

func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return fmt.Sprintf("%s_%s_%s_%s_%s", pod.Name, pod.Namespace, pod.UID, c.Name, containerHash(c))
}

// startContainer creates and starts one instance of a container: its image, its
// configuration, then its postStart hook. Older dead instances are removed; the last
// one stays, for `kubectl logs --previous`.
func (a *agent) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, init bool, attempt int, sandbox *runtime.Container, pc podContainers, st *podState) time.Duration {
	img, wait, ok := a.ensureImage(ctx, pod, c, st)
	if !ok {
		return wait
	}
	for _, old := range pc.byName[c.Name] {
		if old.Attempt >= attempt {
			// Left from an attempt that failed half-way (or a name clash): make room.
			_ = a.rt.Remove(ctx, old.ID)
			continue
		}
		if old.Attempt < attempt-1 && !old.Running() {
			_ = a.rt.Remove(ctx, old.ID)
		}
	}
	spec, err := a.containerSpec(ctx, pod, c, init, attempt, sandbox, img)
	if err != nil {
		a.failedToStart(pod, c, st, waitingConfigError, err.Error())
		return 5 * time.Second
	}
	id, err := a.rt.CreateContainer(ctx, spec)
	if err != nil {
		a.failedToStart(pod, c, st, waitingCreateError, err.Error())
		return 5 * time.Second
	}
	a.recorder.Eventf(containerRef(pod, c.Name), corev1.EventTypeNormal, reasonCreated, "Created container %s", c.Name)
	created := runtime.Container{ID: id, ContainerName: c.Name, SandboxID: sandbox.ID, Attempt: attempt}
	return a.startCreated(ctx, pod, c, created, sandbox, st)
}

// startCreated starts a created container and runs its postStart hook.
func (a *agent) startCreated(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ctr runtime.Container, sandbox *runtime.Container, st *podState) time.Duration {
	if err := a.rt.Start(ctx, ctr.ID); err != nil {
		a.failedToStart(pod, c, st, waitingRunError, err.Error())
		// The next pass sees the failed start and applies the restart policy.
		return 10 * time.Millisecond
	}
	delete(st.waiting, c.Name)
	a.recorder.Eventf(containerRef(pod, c.Name), corev1.EventTypeNormal, reasonStarted, "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := a.runHook(ctx, pod, c, ctr.ID, sandbox.IP, c.Lifecycle.PostStart, time.Duration(gracePeriod(pod))*time.Second); err != nil {
			a.recorder.Event(containerRef(pod, c.Name), corev1.EventTypeWarning, reasonPostStartFailed, msg)
			a.stopContainer(ctx, pod, c, ctr, gracePeriod(pod))
			return 10 * time.Millisecond
		}
	}
	return 0
}

func (a *agent) failedToStart(pod *corev1.Pod, c *corev1.Container, st *podState, reason, msg string) {
	st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reason, Message: msg}
	a.recorder.Eventf(containerRef(pod, c.Name), corev1.EventTypeWarning, reasonFailed, "Error: %s", msg)
}

// stopContainer stops one container: its preStop hook first (for a container with
// a spec, given a grace period), then its stop signal, then SIGKILL once the grace
// period is over, or as soon as the pod is deleted without grace.
func (a *agent) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ctr runtime.Container, grace int64) {
	deadline := time.Now().Add(time.Duration(grace) * time.Second)
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 && ctr.Running() {
		msg, err := a.runHook(ctx, pod, c, ctr.ID, pod.Status.PodIP, c.Lifecycle.PreStop, time.Duration(grace)*time.Second)
		if err != nil {
			a.recorder.Event(containerRef(pod, c.Name), corev1.EventTypeWarning, reasonPreStopFailed, msg)
		}
	}
	// Kubernetes gives a container at least 2 seconds once its hook ran.
	if grace > 0 && time.Until(deadline) < 2*time.Second {
		deadline = time.Now().Add(2 * time.Second)
	}
	if err := a.rt.StopBy(ctx, ctr.ID, deadline, func() bool { return a.deletedNow(pod) }); err != nil && ctx.Err() == nil {
		a.log.Warn("stopping container", "pod", pod.Namespace+"/"+pod.Name, "container", ctr.Name, "err", err)
	}
}

// deletedNow reports whether the pod was force-deleted (gone from the API) or its
// deletion's grace period was cut to nothing.
func (a *agent) deletedNow(pod *corev1.Pod) bool {
	cur := a.podByUID(string(pod.UID))
	if cur == nil {
		return true
	}
	return cur.DeletionTimestamp != nil && !cur.DeletionTimestamp.After(time.Now())
}

// terminatePod ends a pod being deleted: every container stopped in parallel (preStop,
// stop signal, grace period, SIGKILL), the containers and volumes removed, then the
// deletion confirmed to the API, which keeps a bound pod until its node says so.
func (a *agent) terminatePod(ctx context.Context, pod *corev1.Pod, pc podContainers) (time.Duration, bool, error) {
	grace := gracePeriod(pod)
	var wg sync.WaitGroup
	for _, c := range pc.all {
		if !c.Running() || c.Type == runtime.TypeSandbox {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := specOf(pod, c.ContainerName)
			if spec != nil {
				a.recorder.Eventf(containerRef(pod, c.ContainerName), corev1.EventTypeNormal, reasonKilling, "Stopping container %s", c.ContainerName)
			}
			a.stopContainer(ctx, pod, spec, c, grace)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return 0, false, ctx.Err()
	}
	if err := a.removePod(ctx, string(pod.UID), pc); err != nil {
		return 0, false, err
	}
	zero := int64(0)
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, false, fmt.Errorf("confirm deletion of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.forget(string(pod.UID))
	return 0, true, nil
}

// cleanupPod removes what is left of a pod the API no longer has: deleted while the
// agent was away, force-deleted, or moved to another node.
func (a *agent) cleanupPod(ctx context.Context, uid string, pc podContainers) (bool, error) {
	for _, c := range pc.all {
		if c.Running() {
			if err := a.rt.StopBy(ctx, c.ID, time.Now(), nil); err != nil {
				return false, err
			}
		}
	}
	if err := a.removePod(ctx, uid, pc); err != nil {
		return false, err
	}
	a.forget(uid)
	a.crashes.GC()
	a.pulls.GC()
	return true, nil
}

// removePod removes a pod's containers, then its volumes.
func (a *agent) removePod(ctx context.Context, uid string, pc podContainers) error {
	var errs []error
	for _, c := range pc.all {
		if c.Type != runtime.TypeSandbox {
			errs = append(errs, a.rt.Remove(ctx, c.ID))
		}
	}
	for _, c := range pc.sandboxes {
		errs = append(errs, a.rt.Remove(ctx, c.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	vols, err := a.rt.PodVolumes(ctx)
	if err != nil {
		return err
	}
	for _, v := range vols {
		if v.PodUID == uid {
			errs = append(errs, a.rt.RemoveVolume(ctx, v.Name))
		}
	}
	return errors.Join(errs...)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
