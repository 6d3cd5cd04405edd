package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode}}
}

// lastExit is a LastTerminationState of a container that ended finished-ago.
func lastExit(finished time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(finished)}}
}

// containers names n app containers c0, c1, ...
func containers(names ...string) []corev1.Container {
	out := make([]corev1.Container, len(names))
	for i, n := range names {
		out[i] = corev1.Container{Name: n, Image: "busybox:1.36"}
	}
	return out
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodRows(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name string
		pod  corev1.Pod
		want []any // NAME READY STATUS RESTARTS AGE IP NODE NOMINATED READINESS
	}{
		{
			name: "running with a crash-looping container",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 10*time.Minute),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web", "worker")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5", ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: running()},
					{Name: "worker", RestartCount: 5, State: waiting("CrashLoopBackOff"), LastTerminationState: lastExit(2 * time.Minute)},
				}},
			},
			want: []any{"web", "1/2", "CrashLoopBackOff", "5 (2m ago)", "10m", "10.244.1.5", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "all running and ready",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 3*24*time.Hour+4*time.Hour),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker2", Containers: containers("web", "sidecar")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.2.3", ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: running()},
					{Name: "sidecar", Ready: true, State: running()},
				}},
			},
			want: []any{"web", "2/2", "Running", "0", "3d4h", "10.244.2.3", "kindlike-worker2", "<none>", "<none>"},
		},
		{
			name: "running but not ready",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", State: running()},
				}},
			},
			want: []any{"web", "0/1", "Running", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "restarts without a last termination time",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", time.Hour),
				Spec:       corev1.PodSpec{Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, RestartCount: 3, State: running()},
				}},
			},
			want: []any{"web", "1/1", "Running", "3", "60m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "restart times are the latest of all containers",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 2*time.Hour),
				Spec:       corev1.PodSpec{Containers: containers("a", "b")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", Ready: true, RestartCount: 2, State: running(), LastTerminationState: lastExit(40 * time.Minute)},
					{Name: "b", Ready: true, RestartCount: 1, State: running(), LastTerminationState: lastExit(90 * time.Second)},
				}},
			},
			want: []any{"web", "2/2", "Running", "3 (90s ago)", "120m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "pending, not scheduled, nominated",
			pod: corev1.Pod{
				ObjectMeta: objMeta("big", 5*time.Second),
				Spec:       corev1.PodSpec{Containers: containers("big")},
				Status:     corev1.PodStatus{Phase: corev1.PodPending, NominatedNodeName: "kindlike-worker3"},
			},
			want: []any{"big", "0/1", "Pending", "0", "5s", "<none>", "<none>", "kindlike-worker3", "<none>"},
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{
				ObjectMeta: objMeta("gated", time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated},
				}},
			},
			want: []any{"gated", "0/1", "SchedulingGated", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "container creating",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 3*time.Second),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", State: waiting("ContainerCreating")},
				}},
			},
			want: []any{"web", "0/1", "ContainerCreating", "0", "3s", "<none>", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "image pull back-off",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 2*time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", State: waiting("ImagePullBackOff")},
				}},
			},
			want: []any{"web", "0/1", "ImagePullBackOff", "0", "2m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "first init container running",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 20*time.Second),
				Spec:       corev1.PodSpec{InitContainers: containers("wait", "migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "wait", State: running()},
						{Name: "migrate", State: waiting("PodInitializing")},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
				},
			},
			want: []any{"app", "0/1", "Init:0/2", "0", "20s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "second init container running",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 40*time.Second),
				Spec:       corev1.PodSpec{InitContainers: containers("wait", "migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "wait", State: terminated("Completed", 0)},
						{Name: "migrate", State: running()},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
				},
			},
			want: []any{"app", "0/1", "Init:1/2", "0", "40s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container failed",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 5*time.Minute),
				Spec:       corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "migrate", RestartCount: 3, State: terminated("Error", 1), LastTerminationState: lastExit(30 * time.Second)},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
				},
			},
			want: []any{"app", "0/1", "Init:Error", "3 (30s ago)", "5m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container crash-looping",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 5*time.Minute),
				Spec:       corev1.PodSpec{InitContainers: containers("wait", "migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "wait", State: terminated("Completed", 0)},
						{Name: "migrate", RestartCount: 4, State: waiting("CrashLoopBackOff"), LastTerminationState: lastExit(75 * time.Second)},
					},
				},
			},
			want: []any{"app", "0/1", "Init:CrashLoopBackOff", "4 (75s ago)", "5m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container ended by a signal, without a reason",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Minute),
				Spec:       corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Signal: 9}}},
				}},
			},
			want: []any{"app", "0/1", "Init:Signal:9", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container exit code, without a reason",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Minute),
				Spec:       corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "migrate", State: terminated("", 2)},
				}},
			},
			want: []any{"app", "0/1", "Init:ExitCode:2", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init done, app container initializing",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 50*time.Second),
				Spec:       corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "migrate", State: terminated("Completed", 0)},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}},
				},
			},
			want: []any{"app", "0/1", "PodInitializing", "0", "50s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init restarts stop counting once initialized",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Hour),
				Spec:       corev1.PodSpec{InitContainers: containers("migrate"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "migrate", RestartCount: 2, State: terminated("Completed", 0), LastTerminationState: lastExit(50 * time.Minute)},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}},
				},
			},
			want: []any{"app", "1/1", "Running", "0", "60m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container running again in an initialized pod",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Hour),
				Spec:       corev1.PodSpec{InitContainers: containers("setup"), Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "setup", RestartCount: 1, State: running(), LastTerminationState: lastExit(time.Minute)},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}},
				},
			},
			// kube keeps the init status but counts ready and restarted app containers only.
			want: []any{"app", "1/1", "Init:0/1", "0", "60m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "sidecar init container counts among the containers",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Hour),
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always}, {Name: "migrate"}},
					Containers:     containers("app"),
				},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "proxy", Ready: true, Started: ptr(true), RestartCount: 1, State: running(), LastTerminationState: lastExit(5 * time.Minute)},
						{Name: "migrate", State: terminated("Completed", 0)},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}},
				},
			},
			want: []any{"app", "2/2", "Running", "1 (5m ago)", "60m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "sidecar not yet started holds the pod in init",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", 10*time.Second),
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always}},
					Containers:     containers("app"),
				},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Started: ptr(false), State: running()}},
				},
			},
			want: []any{"app", "0/2", "Init:0/1", "0", "10s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "completed",
			pod: corev1.Pod{
				ObjectMeta: objMeta("pi-x7k2p", 30*time.Minute),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("pi")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, PodIP: "10.244.1.9", ContainerStatuses: []corev1.ContainerStatus{
					{Name: "pi", State: terminated("Completed", 0)},
				}},
			},
			want: []any{"pi-x7k2p", "0/1", "Completed", "0", "30m", "10.244.1.9", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "failed with an error",
			pod: corev1.Pod{
				ObjectMeta: objMeta("job-1", 30*time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("job")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "job", State: terminated("Error", 1)},
				}},
			},
			want: []any{"job-1", "0/1", "Error", "0", "30m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "OOM killed and restarting",
			pod: corev1.Pod{
				ObjectMeta: objMeta("hog", 10*time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("hog")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "hog", RestartCount: 2, State: terminated("OOMKilled", 137), LastTerminationState: lastExit(time.Minute)},
				}},
			},
			want: []any{"hog", "0/1", "OOMKilled", "2 (60s ago)", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "container exited by signal, without a reason",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Signal: 15}}},
				}},
			},
			want: []any{"app", "0/1", "Signal:15", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "one container completed, another still running and ready",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("init-like", "app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
					ContainerStatuses: []corev1.ContainerStatus{
						{Name: "init-like", State: terminated("Completed", 0)},
						{Name: "app", Ready: true, State: running()},
					}},
			},
			want: []any{"app", "1/2", "Running", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "one container completed, another running, pod not ready",
			pod: corev1.Pod{
				ObjectMeta: objMeta("app", time.Minute),
				Spec:       corev1.PodSpec{Containers: containers("init-like", "app")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionFalse)},
					ContainerStatuses: []corev1.ContainerStatus{
						{Name: "init-like", State: terminated("Completed", 0)},
						{Name: "app", Ready: true, State: running()},
					}},
			},
			want: []any{"app", "1/2", "NotReady", "0", "60s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "terminating",
			pod: corev1.Pod{
				ObjectMeta: func() metav1.ObjectMeta {
					m := objMeta("web", time.Hour)
					m.DeletionTimestamp = agoPtr(-30 * time.Second)
					return m
				}(),
				Spec: corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5", ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: running()},
				}},
			},
			want: []any{"web", "1/1", "Terminating", "0", "60m", "10.244.1.5", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "deleted after finishing is not terminating",
			pod: corev1.Pod{
				ObjectMeta: func() metav1.ObjectMeta {
					m := objMeta("pi", time.Hour)
					m.DeletionTimestamp = agoPtr(0)
					return m
				}(),
				Spec: corev1.PodSpec{Containers: containers("pi")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "pi", State: terminated("Completed", 0)},
				}},
			},
			want: []any{"pi", "0/1", "Completed", "0", "60m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "on a lost node",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", time.Hour),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost", PodIP: "10.244.1.5",
					Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionFalse)},
					ContainerStatuses: []corev1.ContainerStatus{
						{Name: "web", Ready: true, State: running()},
					}},
			},
			want: []any{"web", "1/1", "NodeLost", "0", "60m", "10.244.1.5", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "evicted from a lost node",
			pod: corev1.Pod{
				ObjectMeta: func() metav1.ObjectMeta {
					m := objMeta("web", time.Hour)
					m.DeletionTimestamp = agoPtr(10 * time.Second)
					return m
				}(),
				Spec: corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost", PodIP: "10.244.1.5",
					ContainerStatuses: []corev1.ContainerStatus{
						{Name: "web", Ready: true, State: running()},
					}},
			},
			want: []any{"web", "1/1", "Unknown", "0", "60m", "10.244.1.5", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "evicted by the kubelet",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 2*time.Hour),
				Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web")},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted",
					Message: "The node was low on resource: memory."},
			},
			want: []any{"web", "0/1", "Evicted", "0", "120m", "<none>", "kindlike-worker", "<none>", "<none>"},
		},
		{
			name: "readiness gates, pod IP from podIPs only",
			pod: corev1.Pod{
				ObjectMeta: objMeta("web", 90*time.Minute),
				Spec: corev1.PodSpec{NodeName: "kindlike-worker", Containers: containers("web"),
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					PodIPs: []corev1.PodIP{{IP: "fd00:10:244::5"}, {IP: "10.244.1.5"}},
					Conditions: []corev1.PodCondition{
						{Type: "example.com/lb", Status: corev1.ConditionTrue},
						{Type: "example.com/dns", Status: corev1.ConditionFalse},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, State: running()}}},
			},
			want: []any{"web", "1/1", "Running", "0", "90m", "fd00:10:244::5", "kindlike-worker", "<none>", "1/2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, podColumns, cellsOf(t, &tt.pod), tt.want)
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		phase  corev1.PodPhase
		reason string
	}{
		{corev1.PodRunning, ""},
		{corev1.PodPending, ""},
		{corev1.PodSucceeded, "Succeeded"},
		{corev1.PodFailed, "Failed"},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{ObjectMeta: objMeta("p", time.Minute), Status: corev1.PodStatus{Phase: tt.phase}}
		row := tableOf(t, pod).Rows[0]
		if tt.reason == "" {
			if len(row.Conditions) != 0 {
				t.Errorf("%s pod: got row conditions %v, want none", tt.phase, row.Conditions)
			}
			continue
		}
		if len(row.Conditions) != 1 || row.Conditions[0].Type != metav1.RowCompleted ||
			row.Conditions[0].Status != metav1.ConditionTrue || row.Conditions[0].Reason != tt.reason {
			t.Errorf("%s pod: got row conditions %v, want Completed=True (%s)", tt.phase, row.Conditions, tt.reason)
		}
	}
}

func TestPodList(t *testing.T) {
	list := &corev1.PodList{Items: []corev1.Pod{
		{ObjectMeta: objMeta("a", time.Minute), Spec: corev1.PodSpec{Containers: containers("c")}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		{ObjectMeta: objMeta("b", time.Minute), Spec: corev1.PodSpec{Containers: containers("c")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
	}}
	table := tableOf(t, list)
	if len(table.Rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(table.Rows))
	}
	if table.Rows[0].Cells[2] != "Succeeded" || len(table.Rows[0].Conditions) != 1 {
		t.Errorf("row a: %v %v", table.Rows[0].Cells, table.Rows[0].Conditions)
	}
	if table.Rows[1].Cells[2] != "Pending" || len(table.Rows[1].Conditions) != 0 {
		t.Errorf("row b: %v %v", table.Rows[1].Cells, table.Rows[1].Conditions)
	}
}
