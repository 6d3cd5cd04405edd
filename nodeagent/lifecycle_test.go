package nodeagent_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRestartsProbesAndBadInput runs pods that crash, finish, fail probes, exceed
// their memory, or cannot start at all, side by side with a healthy one that must
// not mind.
func TestRestartsProbesAndBadInput(t *testing.T) {
	e := newEnv(t)
	e.addNode("worker")
	k := e.kubectl()
	k.apply(`apiVersion: v1
kind: Pod
metadata: {name: healthy}
spec:
  containers:
  - {name: main, image: busybox:1.31, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: main, image: busybox:1.31, command: ["sh", "-c", "echo run at $(date +%s%N); exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: main, image: busybox:1.31, command: ["sh", "-c", "echo done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox:1.31, command: ["sh", "-c", "exit 1"], terminationMessagePolicy: FallbackToLogsOnError}
---
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  containers:
  - name: sise
    image: quay.io/openshiftlabs/simple-service:0.5.0
    ports: [{containerPort: 9876, name: http}]
    livenessProbe:
      httpGet: {path: /no-such-page, port: http}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=128M count=1"]
    resources: {limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: no-image}
spec:
  containers:
  - {name: main, image: "kindlike-agenttest/no-such-image:1"}
---
apiVersion: v1
kind: Pod
metadata: {name: no-command}
spec:
  containers:
  - {name: main, image: busybox:1.31, command: ["/no/such/command"]}
---
apiVersion: v1
kind: Pod
metadata: {name: no-config}
spec:
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "echo value=$V; sleep 3600"]
    env: [{name: V, valueFrom: {configMapKeyRef: {name: later, key: v}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-key}
spec:
  containers:
  - name: main
    image: busybox:1.31
    command: ["sleep", "3600"]
    env: [{name: V, valueFrom: {secretKeyRef: {name: present, key: absent}}}]
---
apiVersion: v1
kind: Secret
metadata: {name: present}
stringData: {other: x}
---
apiVersion: v1
kind: Pod
metadata: {name: init-ok}
spec:
  initContainers:
  - {name: first, image: busybox:1.31, command: ["sh", "-c", "echo first > /work/order; sleep 1"], volumeMounts: [{name: w, mountPath: /work}]}
  - {name: second, image: busybox:1.31, command: ["sh", "-c", "echo second >> /work/order"], volumeMounts: [{name: w, mountPath: /work}]}
  containers:
  - {name: main, image: busybox:1.31, command: ["sh", "-c", "cat /work/order; sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  volumes: [{name: w, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  initContainers:
  - {name: side, image: busybox:1.31, restartPolicy: Always, command: ["sh", "-c", "touch /work/up; sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  containers:
  - {name: main, image: busybox:1.31, command: ["sh", "-c", "ls /work/up && sleep 3600"], volumeMounts: [{name: w, mountPath: /work}]}
  volumes: [{name: w, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: init-error}
spec:
  restartPolicy: Never
  initContainers: [{name: broken, image: busybox:1.31, command: ["sh", "-c", "exit 2"]}]
  containers: [{name: main, image: busybox:1.31, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: init-crash}
spec:
  initContainers: [{name: broken, image: busybox:1.31, command: ["sh", "-c", "exit 2"]}]
  containers: [{name: main, image: busybox:1.31, command: ["sleep", "3600"]}]
`)
	t.Run("init containers run in order, to completion, first", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `init-ok\s+1/1\s+Running`, "get", "pod", "init-ok")
		if out := k.must("logs", "init-ok"); out != "first\nsecond\n" {
			t.Errorf("order of init containers: %q", out)
		}
		if r := k.must("get", "pod", "init-ok", "-o", "jsonpath={.status.initContainerStatuses[*].state.terminated.reason}"); r != "Completed Completed" {
			t.Errorf("init container states: %q", r)
		}
		if r := k.must("get", "pod", "init-ok", "-o", "jsonpath={.status.initContainerStatuses[*].ready}"); r != "true true" {
			t.Errorf("completed init containers ready: %q", r)
		}
	})
	t.Run("a sidecar runs beside the app container", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `sidecar\s+2/2\s+Running\s+0`, "get", "pod", "sidecar")
		if out := k.must("logs", "sidecar", "-c", "main"); out != "/work/up\n" {
			t.Errorf("main started before its sidecar: %q", out)
		}
	})
	t.Run("a failing init container", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `init-error\s+0/1\s+Init:Error`, "get", "pod", "init-error")
		if p := k.must("get", "pod", "init-error", "-o", "jsonpath={.status.phase}"); p != "Failed" {
			t.Errorf("phase %q", p)
		}
		k.eventually(60*time.Second, `init-crash\s+0/1\s+Init:CrashLoopBackOff\s+[1-9]`, "get", "pod", "init-crash")
		if w := k.must("get", "pod", "init-crash", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"); w != "PodInitializing" {
			t.Errorf("app container waiting: %q", w)
		}
	})
	t.Run("healthy pod runs beside broken ones", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `healthy\s+1/1\s+Running\s+0`, "get", "pod", "healthy")
	})
	t.Run("OnFailure pod that succeeds completes", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `once\s+0/1\s+Completed\s+0`, "get", "pod", "once")
		if p := k.must("get", "pod", "once", "-o", "jsonpath={.status.phase}"); p != "Succeeded" {
			t.Errorf("phase %q", p)
		}
		if out := k.must("logs", "once"); out != "done\n" {
			t.Errorf("logs %q", out)
		}
	})
	t.Run("Never pod that fails is Failed", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `fails\s+0/1\s+Error\s+0`, "get", "pod", "fails")
		if p := k.must("get", "pod", "fails", "-o", "jsonpath={.status.phase}"); p != "Failed" {
			t.Errorf("phase %q", p)
		}
		// Exec into a finished pod is refused as kube-apiserver refuses it.
		contains(t, "exec into completed pod", k.fails("exec", "fails", "--", "true"), "cannot exec into a container in a completed pod; current phase is Failed")
	})
	t.Run("crash loop backs off and keeps the previous logs", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `crasher\s+0/1\s+CrashLoopBackOff\s+[1-9]`, "get", "pod", "crasher")
		desc := k.must("describe", "pod", "crasher")
		matches(t, "describe crasher", desc, `Last State:\s+Terminated\s+Reason:\s+Error\s+Exit Code:\s+3`,
			`Warning\s+BackOff\s+.*kubelet\s+Back-off restarting failed container main in pod crasher_default\(`,
			`State:\s+Waiting\s+Reason:\s+CrashLoopBackOff`)
		contains(t, "logs --previous", k.must("logs", "crasher", "--previous"), "run at ")
		msg := k.must("get", "pod", "crasher", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}")
		matches(t, "waiting message", msg, `^back-off (10|20|40)s restarting failed container=main pod=crasher_default\(`)
	})
	t.Run("failed liveness probe restarts the container", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `liveness\s+1/1\s+Running\s+[1-9]`, "get", "pod", "liveness")
		desc := k.must("describe", "pod", "liveness")
		matches(t, "describe liveness", desc,
			`Warning\s+Unhealthy\s+.*kubelet\s+Liveness probe failed: HTTP probe failed with statuscode: 404`,
			`Normal\s+Killing\s+.*kubelet\s+Container sise failed liveness probe, will be restarted`,
			`Liveness:\s+http-get http://:http/no-such-page delay=0s timeout=1s period=1s #success=1 #failure=2`)
	})
	t.Run("readiness probe gates READY", func(t *testing.T) {
		k := k.on(t)
		k.apply(`apiVersion: v1
kind: Pod
metadata: {name: ready-later}
spec:
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "sleep 4; touch /tmp/ready; sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
`)
		out := k.eventually(60*time.Second, `ready-later\s+\d/1\s+Running`, "get", "pod", "ready-later")
		if !strings.Contains(out, "0/1") {
			t.Errorf("ready before its probe passed: %s", out)
		}
		k.eventually(20*time.Second, `ready-later\s+1/1\s+Running`, "get", "pod", "ready-later")
		cond := k.must("get", "pod", "ready-later", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if cond != "True" {
			t.Errorf("Ready condition %q", cond)
		}
	})
	t.Run("over its memory limit a container is OOMKilled", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `oom\s+0/1\s+OOMKilled`, "get", "pod", "oom")
		if code := k.must("get", "pod", "oom", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"); code != "137" {
			t.Errorf("exit code %s", code)
		}
	})
	t.Run("an image that cannot be pulled", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `no-image\s+0/1\s+(ErrImagePull|ImagePullBackOff)`, "get", "pod", "no-image")
		k.eventually(30*time.Second, `no-image\s+0/1\s+ImagePullBackOff`, "get", "pod", "no-image")
		desc := k.must("describe", "pod", "no-image")
		matches(t, "describe no-image", desc, `Normal\s+Pulling\s+.*Pulling image "kindlike-agenttest/no-such-image:1"`,
			`Warning\s+Failed\s+.*Failed to pull image "kindlike-agenttest/no-such-image:1": Error response from daemon: `,
			`Warning\s+Failed\s+.*Error: ErrImagePull`, `Back-off pulling image "kindlike-agenttest/no-such-image:1"`)
		contains(t, "logs of a pod whose image cannot be pulled", k.fails("logs", "no-image"),
			`container "main" in pod "no-image" is waiting to start: trying and failing to pull image`)
	})
	t.Run("a command that is not found", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `no-command\s+0/1\s+(RunContainerError|CrashLoopBackOff)`, "get", "pod", "no-command")
		desc := k.must("describe", "pod", "no-command")
		matches(t, "describe no-command", desc, `Warning\s+Failed\s+.*Error: .*/no/such/command.*(no such file or directory|not found)`)
		k.eventually(30*time.Second, `StartError`, "get", "pod", "no-command", "-o", "jsonpath={.status.containerStatuses[0].lastState.terminated.reason}")
	})
	t.Run("a missing key of a secret", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `no-key\s+0/1\s+CreateContainerConfigError`, "get", "pod", "no-key")
		msg := k.must("get", "pod", "no-key", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}")
		if msg != "couldn't find key absent in Secret default/present" {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("a missing configMap, created later", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `no-config\s+0/1\s+CreateContainerConfigError`, "get", "pod", "no-config")
		msg := k.must("get", "pod", "no-config", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}")
		if msg != `configmap "later" not found` {
			t.Errorf("message %q", msg)
		}
		k.must("create", "configmap", "later", "--from-literal=v=42")
		k.eventually(30*time.Second, `no-config\s+1/1\s+Running`, "get", "pod", "no-config")
		k.eventually(10*time.Second, `value=42`, "logs", "no-config")
	})
	t.Run("the healthy pod never restarted", func(t *testing.T) {
		k := k.on(t)
		n, _ := strconv.Atoi(k.must("get", "pod", "healthy", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"))
		if n != 0 {
			t.Errorf("healthy restarted %d times", n)
		}
	})
}
