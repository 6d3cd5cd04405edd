package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var podColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
	column("Status", "string", "The aggregate status of the containers in this pod."),
	column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
	ageColumn,
	wide("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
	wide("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
	wide("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
	wide("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
}

// nodeLostReason is the pod status reason the node lifecycle controller gives pods of a
// node that stopped reporting; kube prints such pods as Unknown once they are being deleted.
const nodeLostReason = "NodeLost"

// Row conditions of finished pods, which let clients tell completed rows apart.
var (
	podSucceededConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	podFailedConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodFailed), Message: "The pod failed."}}
)

func podRow(pod *corev1.Pod, now time.Time) (metav1.TableRow, error) {
	s := summarizePod(pod)

	restarts := strconv.Itoa(s.restarts.count)
	if s.restarts.count != 0 && !s.restarts.last.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts.count, since(s.restarts.last, now))
	}

	// PodIP wins over PodIPs, as in kube's conversion of a v1 Pod to its internal form.
	ip := pod.Status.PodIP
	if ip == "" && len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}

	row := metav1.TableRow{Cells: []any{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		restarts,
		since(pod.CreationTimestamp, now),
		orNone(ip),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGates(pod),
	}}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		row.Conditions = podSucceededConditions
	case corev1.PodFailed:
		row.Conditions = podFailedConditions
	}
	return row, nil
}

// podSummary is what the READY, STATUS and RESTARTS cells say about a pod.
type podSummary struct {
	ready, total int
	status       string
	restarts     restartCount
}

// restartCount adds up container restarts and remembers when the latest one ended.
type restartCount struct {
	count int
	last  metav1.Time
}

func (r *restartCount) add(cs corev1.ContainerStatus) {
	r.count += int(cs.RestartCount)
	if t := cs.LastTerminationState.Terminated; t != nil && r.last.Before(&t.FinishedAt) {
		r.last = t.FinishedAt
	}
}

// summarizePod works out a pod's status the way kubectl has always shown it: the pod's
// phase or reason, overridden by the first init container still in the way, else by the
// reason of the first app container that is waiting or terminated, and finally by
// Terminating (or Unknown, for a pod of a lost node) once the pod is being deleted.
func summarizePod(pod *corev1.Pod) podSummary {
	// Init containers with restartPolicy Always are sidecars: they keep running beside the
	// app containers and count among them.
	sidecars := make(map[string]bool)
	s := podSummary{total: len(pod.Spec.Containers), status: string(pod.Status.Phase)}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}
	if pod.Status.Reason != "" {
		s.status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	var all, sidecarRestarts restartCount
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		all.add(cs)
		if sidecars[cs.Name] {
			sidecarRestarts.add(cs)
		}
		if done, isReady := initContainerOutOfTheWay(cs, sidecars[cs.Name]); done {
			if isReady {
				s.ready++
			}
			continue
		}
		switch {
		case cs.State.Terminated != nil:
			s.status = "Init:" + terminationReason(cs.State.Terminated)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			s.status = "Init:" + cs.State.Waiting.Reason
		default:
			s.status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}
	s.restarts = all

	if !initializing || conditionTrue(pod.Status.Conditions, corev1.PodInitialized) {
		// Restarts of init containers that have finished no longer matter; those of
		// sidecars still do.
		s.restarts = sidecarRestarts
		running := false
		// Walk backwards so that the first container with something to say wins.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			s.restarts.add(cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				s.status = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				s.status = terminationReason(cs.State.Terminated)
			case cs.Ready && cs.State.Running != nil:
				running = true
				s.ready++
			}
		}
		// A pod with one container completed and another still running is not Completed.
		if s.status == "Completed" && running {
			if anyConditionTrue(pod.Status.Conditions, corev1.PodReady) {
				s.status = "Running"
			} else {
				s.status = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeLostReason:
			s.status = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

// initContainerOutOfTheWay says whether an init container no longer holds the pod back:
// it exited successfully, or it is a sidecar that has started (ready says whether that
// sidecar counts as a ready container).
func initContainerOutOfTheWay(cs corev1.ContainerStatus, sidecar bool) (done, ready bool) {
	if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
		return true, false
	}
	if sidecar && cs.Started != nil && *cs.Started {
		return true, cs.Ready
	}
	return false, false
}

// terminationReason is why a container ended: its reason, else its signal or exit code.
func terminationReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// conditionTrue reports whether the first pod condition of the given type is True.
func conditionTrue(conditions []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// anyConditionTrue reports whether any pod condition of the given type is True.
func anyConditionTrue(conditions []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// readinessGates is the READINESS GATES cell: how many of the pod's gates have a True
// condition, "<none>" for a pod without gates.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	passed := 0
	for _, gate := range pod.Spec.ReadinessGates {
		for _, c := range pod.Status.Conditions {
			if c.Type == gate.ConditionType {
				if c.Status == corev1.ConditionTrue {
					passed++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", passed, len(pod.Spec.ReadinessGates))
}

// orNone is s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
