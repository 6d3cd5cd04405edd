package nodeagent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/nodeagent/probes"
	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// Pod condition reasons and messages, as kubelet words them.
const (
	reasonNotInitialized = "ContainersNotInitialized"
	reasonNotReady       = "ContainersNotReady"
	reasonPodCompleted   = "PodCompleted"
)

// updateStatus keeps the probes of the pod's containers running and posts the pod's
// status when it changed. The containers are pc, read again if the agent changed any
// container since pc was listed; a change it did not make (an exit) wakes the pod's
// worker, whose next sync shows it.
func (a *agent) updateStatus(ctx context.Context, pod *corev1.Pod, pc podContainers, st *podState) error {
	if a.rt.Changes() != pc.changes {
		var err error
		if pc, err = a.listPod(ctx, string(pod.UID)); err != nil {
			return err
		}
	}
	a.syncProbes(pod, pc)
	status := a.podStatus(ctx, pod, pc, st)
	_, err := a.postPodStatus(ctx, pod, status)
	return err
}

// syncProbes keeps a probe worker for every probe of the running app containers of
// the current sandbox. A container adopted after an agent restart keeps the
// readiness and started state the API showed for it.
func (a *agent) syncProbes(pod *corev1.Pod, pc podContainers) {
	sb := pc.sandbox()
	if sb == nil || !sb.Running() {
		a.probes.Forget(string(pod.UID))
		return
	}
	shown := map[string]corev1.ContainerStatus{}
	for _, cs := range pod.Status.ContainerStatuses {
		shown[strings.TrimPrefix(cs.ContainerID, "docker://")] = cs
	}
	for _, cs := range pod.Status.InitContainerStatuses {
		shown[strings.TrimPrefix(cs.ContainerID, "docker://")] = cs
	}
	var running []probes.Running
	var probed []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			probed = append(probed, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		probed = append(probed, &pod.Spec.Containers[i])
	}
	for _, c := range probed {
		l := pc.latest(c.Name)
		if l == nil || !l.Running() || l.SandboxID != sb.ID {
			continue
		}
		was, ok := shown[l.ID]
		if ok && was.Started != nil && *was.Started && c.StartupProbe != nil {
			a.probes.MarkStarted(l.ID)
		}
		running = append(running, probes.Running{ID: l.ID, StartedAt: parseTime(l.StartedAt), Spec: c, WasReady: ok && was.Ready})
	}
	ip := sb.IP
	if pod.Spec.HostNetwork {
		a.mu.Lock()
		ip = a.address
		a.mu.Unlock()
	}
	a.probes.Sync(pod, ip, running)
}

// podStatus is the pod's status as its containers show it.
func (a *agent) podStatus(ctx context.Context, pod *corev1.Pod, pc podContainers, st *podState) corev1.PodStatus {
	s := corev1.PodStatus{QOSClass: pod.Status.QOSClass, NominatedNodeName: pod.Status.NominatedNodeName}
	sb := pc.sandbox()
	sandboxReady := sb != nil && sb.Running()
	if sb != nil {
		tmp := &corev1.Pod{Spec: pod.Spec}
		a.fillAddresses(tmp, sb)
		s.HostIP, s.HostIPs, s.PodIP, s.PodIPs = tmp.Status.HostIP, tmp.Status.HostIPs, tmp.Status.PodIP, tmp.Status.PodIPs
	} else {
		a.mu.Lock()
		if a.address != "" {
			s.HostIP, s.HostIPs = a.address, []corev1.HostIP{{IP: a.address}}
		}
		a.mu.Unlock()
	}
	s.StartTime = pod.Status.StartTime
	if s.StartTime == nil {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		s.StartTime = &now
	}
	sandboxID := ""
	if sandboxReady {
		sandboxID = sb.ID
	}

	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		def := waitingInitializing
		if i == 0 && !sandboxReady {
			def = waitingCreating
		}
		cs := a.containerStatus(ctx, pod, c, pc.byName[c.Name], sandboxID, def, st)
		l := pc.latest(c.Name)
		switch {
		case isSidecar(c):
			if l == nil || l.SandboxID != sandboxID || !l.Running() || cs.Started == nil || !*cs.Started {
				initDone = false
			}
		case l == nil || l.SandboxID != sandboxID || !succeeded(*l):
			initDone = false
		}
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
	}
	// After a sandbox restart, init containers of the old one that succeeded still
	// count while app containers of the new one run.
	for _, c := range pod.Spec.Containers {
		if l := pc.latest(c.Name); l != nil && l.SandboxID == sandboxID && sandboxID != "" {
			initDone = true
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		def := waitingCreating
		if len(pod.Spec.InitContainers) > 0 && !initDone {
			def = waitingInitializing
		}
		s.ContainerStatuses = append(s.ContainerStatuses, a.containerStatus(ctx, pod, c, pc.byName[c.Name], sandboxID, def, st))
	}
	var regularInits []corev1.ContainerStatus
	for i, cs := range s.InitContainerStatuses {
		if !isSidecar(&pod.Spec.InitContainers[i]) {
			regularInits = append(regularInits, cs)
		}
	}
	s.Phase = podPhase(pod, regularInits, s.ContainerStatuses)
	if st.deadlineExceeded {
		s.Phase, s.Reason, s.Message = corev1.PodFailed, reasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline"
	}
	s.Conditions = a.podConditions(pod, s, sandboxReady, initDone)
	return s
}

// containerStatus is one container's status, from its newest instance (and the one
// before, for lastState).
func (a *agent) containerStatus(ctx context.Context, pod *corev1.Pod, c *corev1.Container, insts []runtime.Container, sandboxID, defaultWaiting string, st *podState) corev1.ContainerStatus {
	notStarted := false
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: &notStarted}
	if len(insts) == 0 {
		w, ok := st.waiting[c.Name]
		if !ok {
			if ran, ok := ranBefore(pod, c.Name, isInit(pod, c.Name)); ok && ran.status.State.Terminated != nil {
				// Not run again (its restart policy says so): it stays as it ended.
				return ran.status
			}
			w = corev1.ContainerStateWaiting{Reason: defaultWaiting}
		}
		cs.State.Waiting = &w
		return cs
	}
	l := insts[0]
	cs.RestartCount = int32(l.Attempt)
	cs.ContainerID = "docker://" + l.ID
	cs.ImageID = a.imageID(ctx, l.ImageRef)
	if len(insts) > 1 {
		cs.LastTerminationState.Terminated = a.terminated(ctx, c, insts[1], st)
	}
	// An init container is ready once it succeeded; a sidecar, as an app container.
	initOnly := isInit(pod, c.Name) && !isSidecar(c)
	switch {
	case l.Running():
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metaTime(parseTime(l.StartedAt))}
		started := a.probes.Started(c, l.ID)
		cs.Started = &started
		cs.Ready = !initOnly && started && l.SandboxID == sandboxID && sandboxID != "" && a.probes.Ready(c, l.ID) && pod.DeletionTimestamp == nil
	case l.State == runtime.StateCreated && l.Error == "":
		w, ok := st.waiting[c.Name]
		if !ok {
			w = corev1.ContainerStateWaiting{Reason: waitingCreating}
		}
		cs.State.Waiting = &w
	default:
		t := a.terminated(ctx, c, l, st)
		if w, ok := st.waiting[c.Name]; ok {
			cs.State.Waiting = &w
			cs.LastTerminationState.Terminated = t
		} else {
			cs.State.Terminated = t
			cs.Ready = initOnly && t.ExitCode == 0 && t.Reason == "Completed"
		}
	}
	return cs
}

// terminated describes an exited container: Completed, Error, OOMKilled, or
// StartError when the engine could not start its process.
func (a *agent) terminated(ctx context.Context, c *corev1.Container, l runtime.Container, st *podState) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(l.ExitCode),
		StartedAt:   metaTime(parseTime(l.StartedAt)),
		FinishedAt:  metaTime(parseTime(l.FinishedAt)),
		ContainerID: "docker://" + l.ID,
	}
	if t.FinishedAt.IsZero() {
		t.FinishedAt = metaTime(parseTime(l.CreatedAt))
	}
	switch {
	case l.Error != "":
		t.Reason, t.Message = "StartError", l.Error
		if t.ExitCode == 0 {
			t.ExitCode = 128
		}
	case l.OOMKilled:
		t.Reason = "OOMKilled"
	case l.ExitCode == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	if t.Message == "" && l.ExitCode != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		t.Message = a.logTail(ctx, l, st)
	}
	return t
}

// logTail is the end of a container's log, its termination message when it failed
// and asked for that: at most 80 lines, 2 KiB, as kubelet's.
func (a *agent) logTail(ctx context.Context, l runtime.Container, st *podState) string {
	if msg, ok := st.logTails[l.ID]; ok {
		return msg
	}
	var buf bytes.Buffer
	if err := a.rt.Logs(ctx, l, runtime.LogOptions{Tail: 80}, &buf); err != nil {
		return ""
	}
	b := buf.Bytes()
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	msg := string(b)
	if st.logTails == nil {
		st.logTails = map[string]string{}
	}
	st.logTails[l.ID] = msg
	return msg
}

// imageID is how an image shows in containerStatuses[].imageID.
func (a *agent) imageID(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if s := a.images.displayID(id); s != "" {
		return s
	}
	img, ok, err := a.rt.ImageByRef(ctx, id)
	if err != nil || !ok {
		return "docker://" + id
	}
	a.images.set(img)
	return img.DisplayID()
}

func isInit(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func metaTime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// podPhase is the pod's phase from its containers' states, by kubelet's rules.
func podPhase(pod *corev1.Pod, inits, apps []corev1.ContainerStatus) corev1.PodPhase {
	never := pod.Spec.RestartPolicy == corev1.RestartPolicyNever
	pendingInit := false
	for _, cs := range inits {
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
		case cs.State.Terminated != nil:
			if never {
				return corev1.PodFailed
			}
			pendingInit = true
		default:
			pendingInit = true
		}
	}
	var running, waiting, stopped, succeededN int
	for _, cs := range apps {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeededN++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case pendingInit:
		return corev1.PodPending
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeededN:
			return corev1.PodSucceeded
		case never:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// podConditions are the conditions the node owns, after the ones others own
// (PodScheduled, DisruptionTarget, readiness gates), transition times kept where
// nothing changed.
func (a *agent) podConditions(pod *corev1.Pod, s corev1.PodStatus, sandboxReady, initDone bool) []corev1.PodCondition {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		return c
	}
	var unready, uninit []string
	for i, cs := range s.InitContainerStatuses {
		switch {
		case isSidecar(&pod.Spec.InitContainers[i]):
			if cs.Started == nil || !*cs.Started {
				uninit = append(uninit, cs.Name)
			}
			if !cs.Ready {
				unready = append(unready, cs.Name)
			}
		case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
			uninit = append(uninit, cs.Name)
		}
	}
	for _, cs := range s.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	list := func(names []string) string { return "[" + strings.Join(names, " ") + "]" }
	var out []corev1.PodCondition
	out = append(out, cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""))
	init := cond(corev1.PodInitialized, initDone, reasonNotInitialized, fmt.Sprintf("containers with incomplete status: %s", list(uninit)))
	ready := len(unready) == 0 && !isTerminal(s.Phase)
	readyMsg := fmt.Sprintf("containers with unready status: %s", list(unready))
	containersReady := cond(corev1.ContainersReady, ready, reasonNotReady, readyMsg)
	podReady := cond(corev1.PodReady, ready, reasonNotReady, readyMsg)
	if ready {
		// Readiness gates: conditions others set must be True too.
		var missing []string
		for _, g := range pod.Spec.ReadinessGates {
			ok := false
			for _, c := range pod.Status.Conditions {
				ok = ok || (c.Type == g.ConditionType && c.Status == corev1.ConditionTrue)
			}
			if !ok {
				missing = append(missing, string(g.ConditionType))
			}
		}
		if len(missing) > 0 {
			podReady = cond(corev1.PodReady, false, "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", missing[0]))
		}
	}
	if s.Phase == corev1.PodSucceeded {
		init.Status, init.Reason, init.Message = corev1.ConditionTrue, reasonPodCompleted, ""
		containersReady.Reason, containersReady.Message = reasonPodCompleted, ""
		podReady.Reason, podReady.Message = reasonPodCompleted, ""
	}
	out = append(out, init, podReady, containersReady)
	owned := map[corev1.PodConditionType]bool{}
	for i, c := range out {
		owned[c.Type] = true
		for _, old := range pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				out[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	scheduled := false
	for _, c := range pod.Status.Conditions {
		if !owned[c.Type] {
			out = append(out, c)
			scheduled = scheduled || c.Type == corev1.PodScheduled
		}
	}
	if !scheduled {
		// A pod bound by naming its node never met a scheduler.
		out = append(out, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	return out
}

// postPodStatus writes the status if it differs from what the API has, keeping what
// others changed meanwhile (a conflict re-reads the pod once), and returns the pod
// as written.
func (a *agent) postPodStatus(ctx context.Context, pod *corev1.Pod, s corev1.PodStatus) (*corev1.Pod, error) {
	if apiequality.Semantic.DeepEqual(pod.Status, s) {
		return pod, nil
	}
	p := pod.DeepCopy()
	p.Status = s
	out, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if fresh.UID != pod.UID {
			return nil, nil
		}
		s.Conditions = mergeConditions(s.Conditions, fresh.Status.Conditions)
		fresh.Status = s
		out, err = a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return out, err
}

// mergeConditions keeps ours and adds the ones others set that we lack. A condition
// whose status the API already shows keeps the API's transition time: ours was
// computed from a cached pod that may not have shown our own last write yet, and
// the transition happened when that write said so, not now.
func mergeConditions(ours, theirs []corev1.PodCondition) []corev1.PodCondition {
	have := map[corev1.PodConditionType]bool{}
	for i, c := range ours {
		have[c.Type] = true
		for _, t := range theirs {
			if t.Type == c.Type && t.Status == c.Status {
				ours[i].LastTransitionTime = t.LastTransitionTime
			}
		}
	}
	for _, c := range theirs {
		if !have[c.Type] {
			ours = append(ours, c)
		}
	}
	return ours
}
