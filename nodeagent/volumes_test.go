package nodeagent_test

import (
	"strings"
	"testing"
	"time"
)

// TestVolumesAndEnv checks files and variables as a real node gives them: secret
// items and modes, downward API files and variables, projected volumes, emptyDir
// in memory, subPath, hostPath on the node, and the container's environment,
// command expansion, working directory and user.
func TestVolumesAndEnv(t *testing.T) {
	e := newEnv(t)
	node := e.addNode("worker")
	k := e.kubectl()
	k.apply(`apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {user: admin, pass: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, "bad-key": x, nginx.conf: "worker_processes 1;\n"}
---
apiVersion: v1
kind: Pod
metadata:
  name: files
  labels: {app: files, tier: backend}
  annotations: {note: "hello"}
spec:
  securityContext: {fsGroup: 2000}
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", "printf '%s|' \"$@\"; echo; sleep 3600", "sh", "$(GREETING)", "$(NOPE)", "$$HOME", "$(MEM_MI)Mi"]
    workingDir: /tmp
    env:
    - {name: GREETING, value: "hi $(POD_NAME)"}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: TIER, valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: absent, key: k, optional: true}}}
    envFrom:
    - {secretRef: {name: creds}, prefix: S_}
    - {configMapRef: {name: settings}}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
    volumeMounts:
    - {name: secret, mountPath: /etc/creds}
    - {name: info, mountPath: /etc/podinfo}
    - {name: all, mountPath: /etc/all}
    - {name: scratch, mountPath: /scratch}
    - {name: cache, mountPath: /cache/sub, subPath: a/b}
    - {name: conf, mountPath: /etc/nginx/nginx.conf, subPath: nginx.conf}
    - {name: node-data, mountPath: /node}
  - name: other
    image: busybox:1.31
    command: ["sleep", "3600"]
    securityContext: {runAsUser: 1000, runAsGroup: 3000}
    volumeMounts: [{name: cache, mountPath: /cache}]
  volumes:
  - name: secret
    secret: {secretName: creds, defaultMode: 0400, items: [{key: user, path: username}, {key: pass, path: deep/password, mode: 0440}]}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}]}
  - name: all
    projected:
      sources:
      - configMap: {name: settings, items: [{key: mode, path: mode}]}
      - secret: {name: creds, items: [{key: user, path: user}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  - {name: scratch, emptyDir: {medium: Memory}}
  - {name: cache, emptyDir: {}}
  - {name: conf, configMap: {name: settings}}
  - {name: node-data, hostPath: {path: /var/lib/agenttest, type: DirectoryOrCreate}}
`)
	k.eventually(60*time.Second, `files\s+2/2\s+Running`, "get", "pod", "files")
	sh := func(container, cmd string) string {
		t.Helper()
		return k.must("exec", "files", "-c", container, "--", "sh", "-c", cmd)
	}

	t.Run("env", func(t *testing.T) {
		env := k.must("exec", "files", "-c", "main", "--", "env")
		uid := k.must("get", "pod", "files", "-o", "jsonpath={.metadata.uid}")
		ip := k.must("get", "pod", "files", "-o", "jsonpath={.status.podIP}")
		contains(t, "env", env, "GREETING=hi $(POD_NAME)", "POD_NAME=files", "POD_UID="+uid, "POD_IP="+ip, "HOST_IP=127.0.0.1",
			"NODE="+node, "SA=default", "TIER=backend", "MEM_MI=64", "S_user=admin", "S_pass=hunter2", "mode=fast")
		// Kubernetes 1.32 takes any printable name but "=" (RelaxedEnvironmentVariableValidation).
		contains(t, "env", env, "bad-key=x")
		if strings.Contains(env, "OPT=") {
			t.Errorf("optional missing key set:\n%s", env)
		}
		// $(VAR) is expanded once, in order; unknown stays; $$ is $.
		if logs := k.must("logs", "files", "-c", "main"); logs != "hi $(POD_NAME)|$(NOPE)|$HOME|64Mi|\n" {
			t.Errorf("command expansion: %q", logs)
		}
		if wd := sh("main", "pwd"); wd != "/tmp\n" {
			t.Errorf("working dir %q", wd)
		}
		if id := sh("other", "id -u; id -g"); id != "1000\n3000\n" {
			t.Errorf("runAsUser/runAsGroup: %q", id)
		}
		if h := sh("main", "hostname"); h != "files\n" {
			t.Errorf("hostname %q", h)
		}
	})

	t.Run("secret with items and modes", func(t *testing.T) {
		out := sh("main", "cat /etc/creds/username; echo; cat /etc/creds/deep/password; echo; stat -L -c '%a %g' /etc/creds/username /etc/creds/deep/password; ls /etc/creds")
		want := "admin\nhunter2\n440 2000\n440 2000\ndeep\nusername\n"
		if out != want {
			t.Errorf("secret volume:\n%q\nwant\n%q", out, want)
		}
		if _, _, err := k.run("", "exec", "files", "-c", "main", "--", "touch", "/etc/creds/x"); err == nil {
			t.Errorf("secret volume is writable")
		}
	})

	t.Run("downward API and projected", func(t *testing.T) {
		if out := sh("main", "cat /etc/podinfo/labels"); out != "app=\"files\"\ntier=\"backend\"" {
			t.Errorf("labels file %q", out)
		}
		if out := sh("main", "cat /etc/podinfo/mem"); out != "64" {
			t.Errorf("mem file %q", out)
		}
		if out := sh("main", "cat /etc/all/mode /etc/all/user /etc/all/ns"); out != "fastadmindefault" {
			t.Errorf("projected %q", out)
		}
	})

	t.Run("emptyDir in memory, subPath, hostPath", func(t *testing.T) {
		matches(t, "mounts", sh("main", "grep ' /scratch ' /proc/mounts"), `^tmpfs /scratch tmpfs`)
		sh("main", "echo through-subpath > /cache/sub/f")
		if out := sh("other", "cat /cache/a/b/f"); out != "through-subpath\n" {
			t.Errorf("subPath file seen by the other container: %q", out)
		}
		if out := sh("main", "cat /etc/nginx/nginx.conf"); out != "worker_processes 1;\n" {
			t.Errorf("configMap key by subPath: %q", out)
		}
		sh("main", "echo on-the-node > /node/f")
	})

	t.Run("configMap change reaches the mounted file", func(t *testing.T) {
		k.must("patch", "configmap", "settings", "-p", `{"data":{"mode":"slow"}}`)
		k.eventually(30*time.Second, `^slow$`, "exec", "files", "-c", "main", "--", "cat", "/etc/all/mode")
	})

	t.Run("hostPath outlives the pod, on its node", func(t *testing.T) {
		k.must("delete", "pod", "files", "--grace-period=1")
		k.apply(`apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox:1.31, command: ["cat", "/node/f"], volumeMounts: [{name: d, mountPath: /node}]}
  volumes: [{name: d, hostPath: {path: /var/lib/agenttest}}]
`)
		k.eventually(60*time.Second, `reader\s+0/1\s+Completed`, "get", "pod", "reader")
		if out := k.must("logs", "reader"); out != "on-the-node\n" {
			t.Errorf("hostPath file: %q", out)
		}
		if n := len(e.volumesOf("default", "files")); n != 0 {
			t.Errorf("%d volumes of the deleted pod left", n)
		}
	})
}
