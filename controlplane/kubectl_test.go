package controlplane_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kindlike/kindlike/internal/testcluster"
)

// kubectl runs one kubectl flavour (the real binary on PATH, or `kindlike kubectl`)
// against a kubeconfig.
type kubectl struct {
	t          *testing.T
	argv       []string
	kubeconfig string
	env        []string
}

func (k kubectl) cmd(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{}, k.argv[1:]...), args...)
	cmd := exec.CommandContext(ctx, k.argv[0], argv...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+k.kubeconfig), k.env...)
	return cmd
}

// run returns stdout, stderr and the error of one kubectl invocation.
func (k kubectl) run(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := k.cmd(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs kubectl and fails the test when it fails.
func (k kubectl) must(args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run(args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails runs kubectl expecting it to fail, and returns its stderr.
func (k kubectl) fails(args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run(args...)
	if err == nil {
		k.t.Fatalf("kubectl %s succeeded, want failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// eventually runs kubectl until it succeeds with output matching re, or fails after
// timeout. A failed run never matches: its empty stdout would pass for "nothing left"
// when the object asked about is gone or the server did not answer.
func (k kubectl) eventually(timeout time.Duration, re string, args ...string) string {
	k.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	var out, errOut string
	for {
		var err error
		out, errOut, err = k.run(args...)
		if err == nil && rx.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kubectl %s: output never matched %q\nlast stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), re, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func contains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: missing %q in:\n%s", what, w, out)
		}
	}
}

func matches(t *testing.T, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s: no line matching %q in:\n%s", what, re, out)
		}
	}
}

// writeManifest writes a manifest into a temporary file and returns its path.
func writeManifest(t *testing.T, name, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startCluster(t testing.TB) *testcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, m := range c.Members {
				if b, err := os.ReadFile(m.LogPath); err == nil {
					t.Logf("log of %s:\n%s", m.Name, tail(string(b), 60))
				}
			}
		}
	})
	return c
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func scenarios(t *testing.T) string {
	dir, err := filepath.Abs("../configs/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// flavours are the two kubectls every session runs with.
func flavours(t *testing.T) map[string][]string {
	bin, err := testcluster.Bin()
	if err != nil {
		t.Fatal(err)
	}
	real, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is not on PATH: %v", err)
	}
	return map[string][]string{
		"kubectl":          {real},
		"kindlike-kubectl": {bin, "kubectl"},
	}
}

// TestKubectlSession drives three control planes with a tutorial's kubectl commands,
// with the real kubectl and with the embedded one.
func TestKubectlSession(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	for name, argv := range flavours(t) {
		t.Run(name, func(t *testing.T) {
			c := startCluster(t)
			// Talk to a member chosen so the session crosses followers and the leader.
			k := kubectl{t: t, argv: argv, kubeconfig: c.Kubeconfig(1)}
			session(t, k)
		})
	}
}

func session(t *testing.T, k kubectl) {
	dir := scenarios(t)

	t.Run("namespaces", func(t *testing.T) {
		out := k.eventually(20*time.Second, `kube-node-lease\s+Active`, "get", "ns")
		matches(t, "get ns", out, `(?m)^NAME\s+STATUS\s+AGE$`, `(?m)^default\s+Active\s+\d+s$`, `(?m)^kube-system\s+Active`, `(?m)^kube-public\s+Active`)
		contains(t, "create ns", k.must("create", "ns", "demo"), "namespace/demo created")
		contains(t, "create ns again", k.fails("create", "ns", "demo"), `namespaces "demo" already exists`)
	})

	t.Run("apply every scenario", func(t *testing.T) {
		out := k.must("apply", "-f", dir)
		contains(t, "apply", out,
			"pod/twocontainers created", "pod/two-containers created", "pod/probe-demo created",
			"pod/lifecycle-demo created", "pod/myapp-demo created", "replicationcontroller/mysql created",
			"service/mysql created", "replicationcontroller/myweb created", "service/myweb created",
			"deployment.apps/nginx-deployment-demo created", "service/nginx-demo created",
			"statefulset.apps/web-demo created", "configmap/cm-demo-mix created", "secret/db-secret created",
			"pod/config-demo created", "persistentvolume/task-pv-volume created",
			"persistentvolumeclaim/task-pv-claim created")
		again := k.must("apply", "-f", dir)
		contains(t, "apply again", again, "pod/twocontainers unchanged", "deployment.apps/nginx-deployment-demo unchanged")
	})

	t.Run("get", func(t *testing.T) {
		out := k.must("get", "pods", "-n", "demo")
		matches(t, "get pods", out, `(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`, `(?m)^probe-demo\s+0/1\s+Pending\s+0\s+\d+s$`, `(?m)^myapp-demo\s+0/1\s+Pending\s+0`)
		wide := k.must("get", "pods", "-o", "wide")
		matches(t, "get pods -o wide", wide, `(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`, `(?m)^twocontainers\s+0/2\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$`)
		yaml := k.must("get", "pod", "twocontainers", "-o", "yaml")
		contains(t, "-o yaml", yaml, "kind: Pod", "name: twocontainers", "image: quay.io/openshiftlabs/simple-service:0.5.0", "restartPolicy: Always", "resourceVersion:", "uid:")
		var pod map[string]any
		if err := json.Unmarshal([]byte(k.must("get", "pod", "twocontainers", "-o", "json")), &pod); err != nil {
			t.Errorf("-o json is not JSON: %v", err)
		} else if pod["kind"] != "Pod" {
			t.Errorf("-o json kind = %v", pod["kind"])
		}
		if got := k.must("get", "pod", "twocontainers", "-o=jsonpath={.status.phase}"); got != "Pending" {
			t.Errorf("jsonpath phase = %q, want Pending", got)
		}
		sel := k.must("get", "pods", "-n", "demo", "-l", "app=myapp")
		matches(t, "-l", sel, `(?m)^myapp-demo\s`)
		if strings.Contains(sel, "probe-demo") {
			t.Errorf("-l app=myapp listed probe-demo:\n%s", sel)
		}
		_, none, _ := k.run("get", "pods", "-n", "demo", "-l", "environment in (production),tier in (frontend)")
		contains(t, "set-based selector", none, "No resources found in demo namespace.")
		fs := k.must("get", "pods", "-n", "demo", "--field-selector", "metadata.name=probe-demo")
		matches(t, "--field-selector", fs, `(?m)^probe-demo\s`)
		if strings.Contains(fs, "myapp-demo") {
			t.Errorf("field selector listed myapp-demo:\n%s", fs)
		}
		contains(t, "--field-selector status.phase", k.must("get", "pods", "-A", "--field-selector", "status.phase=Pending"), "probe-demo", "twocontainers")
		contains(t, "bad field selector", k.fails("get", "pods", "--field-selector", "spec.nope=x"), "field label not supported: spec.nope")
		all := k.must("get", "pods", "-A")
		matches(t, "-A", all, `(?m)^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`, `(?m)^default\s+twocontainers\s`, `(?m)^demo\s+probe-demo\s`)
		labels := k.must("get", "pods", "-n", "demo", "--show-labels")
		matches(t, "--show-labels", labels, `(?m)LABELS$`, `(?m)^myapp-demo\s.*app=myapp$`)
		col := k.must("get", "pods", "-n", "demo", "-L", "app")
		matches(t, "-L", col, `(?m)\sAPP$`, `(?m)^myapp-demo\s.*\smyapp$`)
		deploy := k.must("get", "deploy", "-n", "demo")
		matches(t, "get deploy", deploy, `(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`, `(?m)^nginx-deployment-demo\s+0/3\s+\d\s+0\s`)
		svc := k.must("get", "svc")
		matches(t, "get svc", svc, `(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`, `(?m)^myweb\s+NodePort\s+.*8080:30001/TCP`)
		rc := k.must("get", "rc")
		matches(t, "get rc", rc, `(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$`, `(?m)^myweb\s+5\s+\d\s+0\s`)
		pv := k.must("get", "pv", "task-pv-volume")
		matches(t, "get pv", pv, `(?m)^task-pv-volume\s+10Gi\s+RWO\s+Retain\s`)
	})

	t.Run("describe", func(t *testing.T) {
		out := k.must("describe", "pod", "twocontainers")
		matches(t, "describe pod", out, `(?m)^Name:\s+twocontainers$`, `(?m)^Namespace:\s+default$`, `(?m)^Labels:\s+app=twocontainers$`, `(?m)^Containers:$`, `(?m)^\s+sise:$`, `(?m)^\s+Image:\s+centos:7$`)
		d := k.must("describe", "deploy", "nginx-deployment-demo", "-n", "demo")
		matches(t, "describe deploy", d, `(?m)^Name:\s+nginx-deployment-demo$`, `(?m)^Selector:\s+app=nginx$`, `(?m)^StrategyType:\s+RollingUpdate$`, `(?m)RollingUpdateStrategy:\s+25% max unavailable, 25% max surge`)
	})

	t.Run("edit", func(t *testing.T) {
		editor := filepath.Join(t.TempDir(), "editor.sh")
		script := "#!/bin/sh\nsed -i 's/replicas: 3/replicas: 4/' \"$1\"\n"
		if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		ke := k
		ke.env = []string{"EDITOR=" + editor, "KUBE_EDITOR=" + editor}
		contains(t, "edit", ke.must("edit", "deploy/nginx-deployment-demo", "-n", "demo"), "deployment.apps/nginx-deployment-demo edited")
		if got := k.must("get", "deploy", "nginx-deployment-demo", "-n", "demo", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"); got != "4 2" {
			t.Errorf("after edit replicas and generation = %q, want \"4 2\"", got)
		}
	})

	t.Run("patch", func(t *testing.T) {
		k.must("patch", "deploy", "nginx-deployment-demo", "-n", "demo", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.19"}]}}}}`)
		k.must("patch", "deploy", "nginx-deployment-demo", "-n", "demo", "--type", "merge", "-p", `{"metadata":{"labels":{"tier":"frontend"}}}`)
		k.must("patch", "deploy", "nginx-deployment-demo", "-n", "demo", "--type", "json", "-p", `[{"op":"replace","path":"/spec/replicas","value":2}]`)
		got := k.must("get", "deploy", "nginx-deployment-demo", "-n", "demo", "-o", `jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.labels.tier} {.spec.replicas}`)
		if got != "nginx:1.19 80 frontend 2" {
			t.Errorf("after patches = %q, want \"nginx:1.19 80 frontend 2\" (strategic merge keeps the ports)", got)
		}
		contains(t, "bad json patch", k.fails("patch", "deploy", "nginx-deployment-demo", "-n", "demo", "--type", "json", "-p", `[{"op":"replace","path":"/spec/nope/x","value":2}]`), "The request is invalid")
	})

	t.Run("label annotate scale", func(t *testing.T) {
		contains(t, "label", k.must("label", "pod", "probe-demo", "-n", "demo", "tier=backend"), "pod/probe-demo labeled")
		contains(t, "annotate", k.must("annotate", "pod", "probe-demo", "-n", "demo", "owner=teacher"), "pod/probe-demo annotated")
		if got := k.must("get", "pod", "probe-demo", "-n", "demo", "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner}"); got != "backend teacher" {
			t.Errorf("label and annotation = %q", got)
		}
		contains(t, "scale rc", k.must("scale", "rc", "myweb", "--replicas=2"), "replicationcontroller/myweb scaled")
		contains(t, "scale sts", k.must("scale", "sts", "web-demo", "-n", "demo", "--replicas=5"), "statefulset.apps/web-demo scaled")
		if got := k.must("get", "rc", "myweb", "-o", "jsonpath={.spec.replicas}"); got != "2" {
			t.Errorf("rc replicas after scale = %q", got)
		}
	})

	t.Run("create configmap and secret", func(t *testing.T) {
		contains(t, "create cm", k.must("create", "configmap", "cm-demo-all-env", "--from-literal=a=1", "--from-literal=b=2", "-n", "demo"), "configmap/cm-demo-all-env created")
		contains(t, "create secret", k.must("create", "secret", "generic", "mysecret", "--from-literal=token=abc", "-n", "demo"), "secret/mysecret created")
		cms := k.eventually(10*time.Second, `kube-root-ca.crt`, "get", "cm", "-n", "demo")
		matches(t, "get cm", cms, `(?m)^NAME\s+DATA\s+AGE$`, `(?m)^cm-demo-all-env\s+2\s`, `(?m)^cm-demo-mix\s+3\s`, `(?m)^kube-root-ca.crt\s+1\s`)
		sec := k.must("get", "secret", "-n", "demo")
		matches(t, "get secret", sec, `(?m)^mysecret\s+Opaque\s+1\s`, `(?m)^db-secret\s+Opaque\s+1\s`)
		if got := k.must("get", "secret", "db-secret", "-n", "demo", "-o", "jsonpath={.data.password}"); got != "czNjcjN0" {
			t.Errorf("stringData was not moved into data: password = %q", got)
		}
		contains(t, "describe cm", k.must("describe", "cm", "cm-demo-mix", "-n", "demo"), "app.properties", "greeting=hello")
	})

	t.Run("server-side apply", func(t *testing.T) {
		f := writeManifest(t, "ssa", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-demo\n  namespace: demo\ndata:\n  color: blue\n")
		contains(t, "apply --server-side", k.must("apply", "--server-side", "-f", f), "configmap/ssa-demo serverside-applied")
		contains(t, "apply --server-side again", k.must("apply", "--server-side", "-f", f), "configmap/ssa-demo serverside-applied")
		k.must("patch", "cm", "ssa-demo", "-n", "demo", "-p", `{"data":{"color":"red"}}`)
		contains(t, "conflict", k.fails("apply", "--server-side", "-f", f), `conflict with "kubectl-patch"`)
		k.must("apply", "--server-side", "--force-conflicts", "-f", f)
		if got := k.must("get", "cm", "ssa-demo", "-n", "demo", "-o", "jsonpath={.data.color}"); got != "blue" {
			t.Errorf("after a forced apply color = %q, want blue", got)
		}
	})

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := k.cmd(ctx, "get", "cm", "-n", "demo", "-w")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitLine(t, lines, `^cm-demo-mix\s`)
		k.must("create", "configmap", "watched", "--from-literal=x=1", "-n", "demo")
		waitLine(t, lines, `^watched\s+1\s`)
	})

	t.Run("api-resources", func(t *testing.T) {
		out := k.must("api-resources")
		matches(t, "api-resources", out,
			`(?m)^NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND$`,
			`(?m)^pods\s+po\s+v1\s+true\s+Pod$`, `(?m)^nodes\s+no\s+v1\s+false\s+Node$`,
			`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`, `(?m)^statefulsets\s+sts\s+apps/v1\s+true\s+StatefulSet$`,
			`(?m)^leases\s+coordination.k8s.io/v1\s+true\s+Lease$`, `(?m)^events\s+ev\s+events.k8s.io/v1\s+true\s+Event$`)
		contains(t, "get all", k.must("get", "all", "-n", "demo"), "pod/probe-demo", "deployment.apps/nginx-deployment-demo", "service/nginx-demo", "statefulset.apps/web-demo")
	})

	t.Run("bad input", func(t *testing.T) {
		bad := func(s string) string { return writeManifest(t, "bad", s) }
		contains(t, "unknown field", k.fails("apply", "-f", bad("apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    image: busybox\n    imagee: x\n")), `unknown field "spec.containers[0].imagee"`)
		contains(t, "invalid name", k.fails("apply", "-f", bad("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: c\n    image: busybox\n")), `Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"`)
		contains(t, "missing image", k.fails("apply", "-f", bad("apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: c\n")), `spec.containers[0].image: Required value`)
		contains(t, "unknown resource", k.fails("get", "flurbs"), `the server doesn't have a resource type "flurbs"`)
		contains(t, "not found", k.fails("get", "pod", "nope"), `pods "nope" not found`)
	})

	t.Run("delete cascade", func(t *testing.T) {
		for _, tc := range []struct {
			cascade string
			kept    bool
		}{{"background", false}, {"orphan", true}, {"foreground", false}} {
			owner := "owner-" + tc.cascade
			k.must("create", "deployment", owner, "--image=nginx", "-n", "demo")
			uid := k.must("get", "deploy", owner, "-n", "demo", "-o", "jsonpath={.metadata.uid}")
			dep := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dep-%s","namespace":"demo","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":%q,"uid":%q}]}}`, tc.cascade, owner, uid)
			k.must("create", "-f", writeManifest(t, "dep", dep))
			contains(t, "delete", k.must("delete", "deploy", owner, "-n", "demo", "--cascade="+tc.cascade), fmt.Sprintf(`deployment.apps "%s" deleted`, owner))
			if tc.kept {
				// The orphaned dependent stays, without owners.
				k.eventually(15*time.Second, `^$`, "get", "cm", "dep-"+tc.cascade, "-n", "demo", "-o", "jsonpath={.metadata.ownerReferences}")
				continue
			}
			k.eventually(15*time.Second, `^$`, "get", "cm", "dep-"+tc.cascade, "-n", "demo", "--ignore-not-found", "-o", "name")
		}
	})

	t.Run("wait for delete", func(t *testing.T) {
		k.must("delete", "pod", "myapp-demo", "-n", "demo", "--wait=false")
		k.must("wait", "--for=delete", "pod/myapp-demo", "-n", "demo", "--timeout=30s")
		contains(t, "gone", k.fails("get", "pod", "myapp-demo", "-n", "demo"), `pods "myapp-demo" not found`)
	})

	t.Run("delete namespace", func(t *testing.T) {
		k.must("delete", "ns", "demo", "--wait=false")
		k.eventually(30*time.Second, `^$`, "get", "ns", "demo", "--ignore-not-found")
	})
}

func waitLine(t *testing.T, lines <-chan string, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(15 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended before a line matching %q; saw:\n%s", re, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if rx.MatchString(l) {
				return
			}
		case <-timeout:
			t.Fatalf("no line matching %q within 15s; saw:\n%s", re, strings.Join(seen, "\n"))
		}
	}
}
