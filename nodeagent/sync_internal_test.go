package nodeagent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "B": "$(A)"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"plain":           "plain",
		"$(A)":            "a",
		"x$(A)y$(A)":      "xaya",
		"$(EMPTY)!":       "!",
		"$(B)":            "$(A)", // one pass only
		"$(MISSING)":      "$(MISSING)",
		"$$(A)":           "$(A)",
		"$$":              "$",
		"$":               "$",
		"a$b":             "a$b",
		"$(A":             "$(A",
		"$()":             "$()",
		"cost: $$5 $(A)":  "cost: $5 a",
		"$(A)$(MISSING)$": "a$(MISSING)$",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waiting(restarted bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "X"}}}
	if restarted {
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
	}
	return cs
}

func TestPodPhase(t *testing.T) {
	type cs = []corev1.ContainerStatus
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		inits  cs
		apps   cs
		want   corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, nil, cs{waiting(false)}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, nil, cs{running(), running()}, corev1.PodRunning},
		{"one waiting first start", corev1.RestartPolicyAlways, nil, cs{running(), waiting(false)}, corev1.PodPending},
		{"crash loop", corev1.RestartPolicyAlways, nil, cs{waiting(true)}, corev1.PodRunning},
		{"always exited 0", corev1.RestartPolicyAlways, nil, cs{exited(0)}, corev1.PodRunning},
		{"never all 0", corev1.RestartPolicyNever, nil, cs{exited(0), exited(0)}, corev1.PodSucceeded},
		{"never one failed", corev1.RestartPolicyNever, nil, cs{exited(0), exited(2)}, corev1.PodFailed},
		{"never one still running", corev1.RestartPolicyNever, nil, cs{running(), exited(0)}, corev1.PodRunning},
		{"onfailure succeeded", corev1.RestartPolicyOnFailure, nil, cs{exited(0)}, corev1.PodSucceeded},
		{"onfailure failed restarts", corev1.RestartPolicyOnFailure, nil, cs{exited(1)}, corev1.PodRunning},
		{"init running", corev1.RestartPolicyAlways, cs{running()}, cs{waiting(false)}, corev1.PodPending},
		{"init failed never", corev1.RestartPolicyNever, cs{exited(1)}, cs{waiting(false)}, corev1.PodFailed},
		{"init failed always retries", corev1.RestartPolicyAlways, cs{exited(1)}, cs{waiting(false)}, corev1.PodPending},
		{"init done", corev1.RestartPolicyAlways, cs{exited(0)}, cs{running()}, corev1.PodRunning},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
		if got := podPhase(pod, tc.inits, tc.apps); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                   corev1.PullAlways,
		"nginx:latest":            corev1.PullAlways,
		"nginx:1.19":              corev1.PullIfNotPresent,
		"quay.io/a/b:0.5.0":       corev1.PullIfNotPresent,
		"busybox@sha256:" + hex64: corev1.PullIfNotPresent,
	} {
		if got := pullPolicy(&corev1.Container{Image: image}); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
	if got := pullPolicy(&corev1.Container{Image: "nginx", ImagePullPolicy: corev1.PullNever}); got != corev1.PullNever {
		t.Errorf("explicit policy ignored: %s", got)
	}
}

var hex64 = strings.Repeat("ab", 32)

func TestLogContainerID(t *testing.T) {
	term := func(id string) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ContainerID: id}
	}
	pod := func(cs corev1.ContainerStatus) *corev1.Pod {
		cs.Name = "c"
		return &corev1.Pod{ObjectMeta: metav1ObjectMeta("p"), Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	for _, tc := range []struct {
		name     string
		cs       corev1.ContainerStatus
		previous bool
		want     string
		err      string
	}{
		{"running", corev1.ContainerStatus{ContainerID: "docker://cur", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, false, "cur", ""},
		{"previous of running", corev1.ContainerStatus{ContainerID: "docker://cur", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: term("docker://old")}}, true, "old", ""},
		{"no previous", corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, true, "", `previous terminated container "c" in pod "p" not found`},
		{"crash loop shows the last run", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: term("docker://old")}}, false, "old", ""},
		{"creating", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}, false, "",
			`container "c" in pod "p" is waiting to start: ContainerCreating`},
		{"pull backoff", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}, false, "",
			`container "c" in pod "p" is waiting to start: trying and failing to pull image`},
	} {
		got, err := logContainerID(pod(tc.cs), "c", tc.previous)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s: %q, %v; want %q, %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func metav1ObjectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func TestRegistryHost(t *testing.T) {
	for key, want := range map[string]string{
		"https://index.docker.io/v1/": "docker.io",
		"docker.io":                   "docker.io",
		"quay.io":                     "quay.io",
		"https://quay.io":             "quay.io",
		"registry.local:5000/v2/":     "registry.local:5000",
		"http://registry.local:5000":  "registry.local:5000",
	} {
		if got := registryHost(key); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
}
