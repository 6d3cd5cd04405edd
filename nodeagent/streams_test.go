package nodeagent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/pki"
)

// TestStreams covers what the API server proxies to the agent: kubectl logs with
// its flags, exec with stdin and exit codes, cp, attach, run -i --rm and
// port-forward.
func TestStreams(t *testing.T) {
	e := newEnv(t)
	e.addNode("worker")
	k := e.kubectl()
	k.apply(`apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - {name: one, image: busybox:1.31, command: ["sh", "-c", "for i in 1 2 3; do echo line $i; done; sleep 0.3; echo oops >&2; sleep 3600"]}
  - {name: two, image: busybox:1.31, command: ["sh", "-c", "echo from two; while true; do sleep 1; echo tick; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: web, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  containers:
  - {name: main, image: busybox:1.31, stdin: true, stdinOnce: true, command: ["sh", "-c", "read l; echo got $l"]}
`)
	k.eventually(60*time.Second, `talker\s+2/2\s+Running`, "get", "pod", "talker")
	k.eventually(60*time.Second, `web\s+1/1\s+Running`, "get", "pod", "web")
	k.eventually(60*time.Second, `reader\s+1/1\s+Running`, "get", "pod", "reader")

	t.Run("logs", func(t *testing.T) {
		k := k.on(t)
		// Running comes before the container has written everything: its
		// stderr line follows the others by 0.3 s.
		k.eventually(10*time.Second, `oops`, "logs", "talker", "-c", "one")
		out := k.must("logs", "talker", "-c", "one")
		if out != "line 1\nline 2\nline 3\noops\n" {
			t.Errorf("logs = %q", out)
		}
		if out := k.must("logs", "talker", "-c", "one", "--tail=1"); out != "oops\n" {
			t.Errorf("--tail=1: %q", out)
		}
		matches(t, "--timestamps", k.must("logs", "talker", "-c", "one", "--timestamps"), `(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 1$`)
		if out := k.must("logs", "talker", "-c", "one", "--limit-bytes=6"); out != "line 1" {
			t.Errorf("--limit-bytes=6: %q", out)
		}
		if out := k.must("logs", "talker", "-c", "one", "--since=1h"); !strings.Contains(out, "line 3") {
			t.Errorf("--since=1h: %q", out)
		}
		time.Sleep(2 * time.Second)
		if out := k.must("logs", "talker", "-c", "one", "--since=1s"); out != "" {
			t.Errorf("--since=1s: %q", out)
		}
		all := k.must("logs", "talker", "--all-containers")
		contains(t, "--all-containers", all, "line 1", "from two")
		contains(t, "--previous without one", k.fails("logs", "talker", "-c", "one", "--previous"), `previous terminated container "one" in pod "talker" not found`)

		// -f streams until stopped.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, k.bin, "logs", "-f", "talker", "-c", "two")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ticks := 0
		start := time.Now()
		for sc.Scan() {
			if sc.Text() == "tick" {
				ticks++
			}
			if ticks >= 3 && time.Since(start) > 1500*time.Millisecond {
				break
			}
		}
		cancel()
		_ = cmd.Wait()
		if ticks < 3 {
			t.Errorf("logs -f gave %d ticks", ticks)
		}
	})

	t.Run("exec", func(t *testing.T) {
		k := k.on(t)
		out, _, err := k.run("hello agent", "exec", "-i", "talker", "-c", "one", "--", "sh", "-c", "cat > /tmp/in; wc -c < /tmp/in")
		if err != nil || strings.TrimSpace(out) != "11" {
			t.Errorf("exec -i: %v %q", err, out)
		}
		_, errOut, err := k.run("", "exec", "talker", "-c", "one", "--", "sh", "-c", "echo to-stderr >&2; exit 7")
		var exit *exec.ExitError
		if !errorAs(err, &exit) || exit.ExitCode() != 7 {
			t.Errorf("exit code: %v", err)
		}
		contains(t, "exec stderr", errOut, "to-stderr", "command terminated with exit code 7")
		contains(t, "exec into a missing container", k.fails("exec", "talker", "-c", "three", "--", "true"), "container three is not valid for pod talker")
	})

	t.Run("exec with a terminal and its size", func(t *testing.T) {
		req := e.client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("talker").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "one", Command: []string{"sh", "-c", "sleep 1; tty; stty size"}, Stdout: true, TTY: true}, scheme.ParameterCodec)
		ex, err := remotecommand.NewSPDYExecutor(e.cp.RestConfig(0), "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sizes := make(chan *remotecommand.TerminalSize, 1)
		sizes <- &remotecommand.TerminalSize{Width: 91, Height: 37}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: sizeQueue(sizes)})
		if err != nil || !regexp.MustCompile(`^/dev/pts/\d+\r\n37 91\r\n$`).MatchString(out.String()) {
			t.Errorf("exec with a tty: %v %q", err, out.String())
		}
	})

	t.Run("cp", func(t *testing.T) {
		k := k.on(t)
		dir := t.TempDir()
		src := filepath.Join(dir, "src.txt")
		if err := os.WriteFile(src, []byte("copied through tar\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		k.must("cp", src, "talker:/tmp/copied.txt", "-c", "one")
		if out := k.must("exec", "talker", "-c", "one", "--", "cat", "/tmp/copied.txt"); out != "copied through tar\n" {
			t.Errorf("in the pod: %q", out)
		}
		back := filepath.Join(dir, "back.txt")
		k.must("cp", "talker:/tmp/copied.txt", back, "-c", "one")
		if b, _ := os.ReadFile(back); string(b) != "copied through tar\n" {
			t.Errorf("copied back: %q", b)
		}
	})

	t.Run("attach", func(t *testing.T) {
		k := k.on(t)
		out, errOut, err := k.run("agent\n", "attach", "-i", "reader")
		if err != nil || !strings.Contains(out, "got agent") {
			t.Errorf("attach: %v\n%s\n%s", err, out, errOut)
		}
		// Attach shows what a container writes from then on, as kubelet's does.
		out = k.must("run", "client", "--image=busybox:1.31", "-i", "--rm", "--restart=Never", "--", "sh", "-c", "sleep 2; echo hi from run")
		contains(t, "run -i --rm", out, "hi from run")
		k.eventually(30*time.Second, `^$`, "get", "pod", "client", "--ignore-not-found")
	})

	t.Run("only the API server may call the agent", func(t *testing.T) {
		k := k.on(t)
		port := k.must("get", "node", e.nodes["worker"].name, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}")
		url := "https://127.0.0.1:" + port + "/containerLogs/default/talker/one"
		get := func(kp *pki.KeyPair) (int, error) {
			cfg := &tls.Config{RootCAs: e.cp.CA.Pool(), ServerName: e.nodes["worker"].name}
			if kp != nil {
				c, err := kp.TLSCertificate()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{c}
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := client.Get(url)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		otherNode, _ := e.cp.CA.Sign(pki.Request{CommonName: "system:node:other", Organizations: []string{"system:nodes"}, Client: true})
		apiServer, _ := e.cp.CA.Sign(pki.Request{CommonName: config.KubeletClientCN, Client: true})
		foreign, _ := pki.NewCA("foreign")
		stranger, _ := foreign.Sign(pki.Request{CommonName: config.KubeletClientCN, Organizations: []string{"system:masters"}, Client: true})
		if code, err := get(&otherNode); code != http.StatusForbidden {
			t.Errorf("another node's certificate: %d %v, want 403", code, err)
		}
		if _, err := get(nil); err == nil {
			t.Error("no client certificate accepted")
		}
		if _, err := get(&stranger); err == nil {
			t.Error("a certificate of another CA accepted")
		}
		if code, err := get(&apiServer); code != http.StatusOK {
			t.Errorf("the API server's certificate: %d %v", code, err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		k := k.on(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, k.bin, "port-forward", "pod/web", ":80")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("port-forward: %v", err)
		}
		m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 80`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("port-forward said %q", line)
		}
		for i := 0; i < 2; i++ {
			resp, err := http.Get("http://127.0.0.1:" + m[1] + "/")
			if err != nil {
				t.Fatalf("GET through port-forward: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "nginx") {
				t.Errorf("GET through port-forward: %d %q", resp.StatusCode, body)
			}
		}
	})
}

// sizeQueue hands out the terminal sizes sent on a channel.
type sizeQueue chan *remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize { return <-q }
