package nodeagent_test

import (
	"strings"
	"testing"
	"time"
)

// TestScenarios applies the tutorials' pod manifests unmodified and checks what the
// lessons say a user sees, with the real kubectl through the API server and agent.
func TestScenarios(t *testing.T) {
	e := newEnv(t)
	node := e.addNode("worker")
	k := e.kubectl()
	k.must("create", "ns", "demo")
	for _, f := range []string{"01-twocontainers-pod.yaml", "02-shared-volume-pod.yaml", "03-probes-pod.yaml",
		"04-lifecycle-pod.yaml", "05-init-containers-pod.yaml", "10-configmap-secret.yaml"} {
		k.must("apply", "-f", scenario(t, f))
	}

	t.Run("01 two containers share the pod's network", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `twocontainers\s+2/2\s+Running`, "get", "pod", "twocontainers")
		if got := k.must("get", "pod", "twocontainers", "-o=jsonpath={.status.phase}"); got != "Running" {
			t.Errorf("phase = %q", got)
		}
		matches(t, "get -o wide", k.must("get", "pod", "-o", "wide"), `twocontainers\s+2/2\s+Running\s+0\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+`+node)
		desc := k.must("describe", "pod", "twocontainers")
		matches(t, "describe", desc, `Normal\s+Scheduled\s+.*Successfully assigned default/twocontainers to `+node,
			`Normal\s+Pulled\s+.*kubelet\s+Container image "centos:7" already present on machine`,
			`Normal\s+Created\s+.*kubelet\s+Created container sise`, `Normal\s+Started\s+.*kubelet\s+Started container shell`,
			`Ready\s+True`, `ContainersReady\s+True`, `Container ID:\s+docker://[0-9a-f]{64}`)
		out := k.must("exec", "twocontainers", "-c", "shell", "--", "curl", "-s", "localhost:9876/info")
		matches(t, "curl from the shell container", out, `"version":\s*"0\.5\.0"`)
		// -it as a lesson types it; without a terminal kubectl says so and goes on.
		out, _, err := k.run("", "exec", "-it", "twocontainers", "-c", "shell", "--", "curl", "-s", "localhost:9876/health")
		if err != nil || out == "" {
			t.Errorf("exec -it: %v, %q", err, out)
		}
		names := ""
		for _, c := range e.containersOf("default", "twocontainers", false) {
			names += c.Names[0] + "\n"
		}
		matches(t, "docker ps", names, `k8s_POD_twocontainers_default_[0-9a-f-]+_0`, `k8s_sise_twocontainers_default_[0-9a-f-]+_0`, `k8s_shell_twocontainers_default_[0-9a-f-]+_0`)
	})

	t.Run("02 shared emptyDir volume", func(t *testing.T) {
		// The debian container writes and exits (restartPolicy Never); nginx serves on.
		k.eventually(60*time.Second, `two-containers\s+1/2\s+NotReady`, "get", "pod", "two-containers")
		out := k.must("exec", "two-containers", "-c", "nginx-container", "--", "cat", "/usr/share/nginx/html/index.html")
		if strings.TrimSpace(out) != "Hello from the debian container" {
			t.Errorf("index.html = %q", out)
		}
		// "debian" has no tag, so pull policy Always: offline the pull fails and the local
		// image is used, which the event says in its own words, without the registry's
		// DNS error.
		desc := k.must("describe", "pod", "two-containers")
		matches(t, "describe", desc, `Normal\s+Pulled\s+.*kubelet\s+Container image "debian" already present on machine; pulling it failed \(pull policy Always, no registry reachable\), so the local image is used`)
		if strings.Contains(desc, "lookup ") || strings.Contains(desc, "dial tcp") {
			t.Errorf("events show the registry's error:\n%s", desc)
		}
		// An emptyDir starts empty: nothing of the image's own html directory shows.
		if out := k.must("exec", "two-containers", "-c", "nginx-container", "--", "ls", "/usr/share/nginx/html"); strings.TrimSpace(out) != "index.html" {
			t.Errorf("emptyDir holds %q", out)
		}
		st := k.must("get", "pod", "two-containers", "-o", `jsonpath={.status.containerStatuses[?(@.name=="debian-container")].state.terminated.reason}`)
		if st != "Completed" {
			t.Errorf("debian-container terminated reason = %q", st)
		}
	})

	t.Run("03 readiness gates READY", func(t *testing.T) {
		out := k.eventually(60*time.Second, `probe-demo\s+\d/1\s+Running`, "get", "pod", "probe-demo", "-n", "demo")
		if !strings.Contains(out, "0/1") {
			t.Logf("pod was ready at first sight: %s", out)
		}
		k.eventually(40*time.Second, `probe-demo\s+1/1\s+Running\s+0`, "get", "pod", "probe-demo", "-n", "demo")
		matches(t, "describe", k.must("describe", "pod", "probe-demo", "-n", "demo"),
			`Liveness:\s+http-get http://:9876/health`, `Readiness:\s+tcp-socket :9876`, `Startup:\s+http-get http://:9876/health`)
	})

	t.Run("04 postStart", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `lifecycle-demo\s+1/1\s+Running`, "get", "pod", "lifecycle-demo", "-n", "demo")
		out := k.must("exec", "lifecycle-demo", "-n", "demo", "--", "cat", "/usr/share/message")
		if strings.TrimSpace(out) != "Hello from the postStart handler" {
			t.Errorf("/usr/share/message = %q", out)
		}
	})

	t.Run("05 init containers wait", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `myapp-demo\s+0/1\s+Init:0/2`, "get", "pod", "myapp-demo", "-n", "demo")
		k.eventually(30*time.Second, `waiting for myservice`, "logs", "myapp-demo", "-n", "demo", "-c", "init-myservice")
		out := k.must("get", "pod", "myapp-demo", "-n", "demo", "-o", `jsonpath={.status.containerStatuses[0].state.waiting.reason}`)
		if out != "PodInitializing" {
			t.Errorf("app container waiting reason = %q, want PodInitializing", out)
		}
		// No cluster DNS yet: the pod waits, as the lesson says, until myservice resolves.
		time.Sleep(3 * time.Second)
		k.eventually(5*time.Second, `Init:0/2`, "get", "pod", "myapp-demo", "-n", "demo")
	})

	t.Run("10 configMap and secret", func(t *testing.T) {
		k := k.on(t)
		k.eventually(60*time.Second, `config-demo\s+1/1\s+Running`, "get", "pod", "config-demo", "-n", "demo")
		out := k.eventually(10*time.Second, `color=blue`, "logs", "config-demo", "-n", "demo")
		want := "lang=en password=s3cr3t\ngreeting=hello\ncolor=blue\n"
		if out != want {
			t.Errorf("logs = %q, want %q", out, want)
		}
		env := k.must("exec", "config-demo", "-n", "demo", "--", "env")
		contains(t, "env", env, "CM_lang=en", "CM_level=info", "LANG_SETTING=en", "DB_PASSWORD=s3cr3t")
		ls := k.must("exec", "config-demo", "-n", "demo", "--", "ls", "-la", "/etc/app/")
		matches(t, "ls /etc/app", ls, `\.\.data -> \.\.\d{4}_\d\d_\d\d_`, `app\.properties -> \.\.data/app\.properties`, `lang -> \.\.data/lang`)
		mode := k.must("exec", "config-demo", "-n", "demo", "--", "stat", "-L", "-c", "%a", "/etc/app/lang")
		if strings.TrimSpace(mode) != "644" {
			t.Errorf("mode of /etc/app/lang = %q, want 644", mode)
		}
	})

	t.Run("delete runs preStop and removes containers and volumes", func(t *testing.T) {
		k := k.on(t)
		start := time.Now()
		k.must("delete", "pod", "lifecycle-demo", "-n", "demo")
		// preStop quits nginx at once: no waiting out the 30 s grace period.
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("delete took %s", d)
		}
		if n := len(e.containersOf("demo", "lifecycle-demo", true)); n != 0 {
			t.Errorf("%d containers of lifecycle-demo left", n)
		}
		k.must("delete", "pod", "two-containers")
		if n := len(e.volumesOf("default", "two-containers")); n != 0 {
			t.Errorf("%d volumes of two-containers left", n)
		}
		if n := len(e.containersOf("default", "two-containers", true)); n != 0 {
			t.Errorf("%d containers of two-containers left", n)
		}
	})
}
