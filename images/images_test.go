package images_test

// These tests run every image `make images` and `make offline-images` build, on the
// real Docker engine, and check what the tutorials' scenarios rely on. They need the
// images built (make test builds them first) and fail, not skip, when Docker or an
// image is missing; -short (make unit) skips them. Every container is named
// kindlike-test-... and removed when its test ends; the images are kept for reuse.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kindlike/kindlike/images"
)

// standIns are the public names make offline-images provides.
var standIns = []string{
	"busybox:1.31",
	"debian:latest",
	"centos:7",
	"nginx:latest",
	"nginx:1.14.2",
	"nginx:1.19",
	"mysql:latest",
	"kubeguide/tomcat-app:v1",
	"quay.io/openshiftlabs/simple-service:0.5.0",
}

// docker runs the docker CLI and returns its combined output.
func docker(ctx context.Context, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// needImage fails the test unless Docker answers and has ref.
func needImage(t *testing.T, ref string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers on Docker; -short skips it")
	}
	if out, err := docker(context.Background(), "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("Docker is unreachable, and these tests run the images on it: %v\n%s", err, out)
	}
	if _, err := docker(context.Background(), "image", "inspect", ref); err != nil {
		t.Fatalf("image %s is missing: run `make offline-images` (it builds kindlike's images and the stand-ins)", ref)
	}
}

func containerName(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	base := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(base) > 40 {
		base = base[:40]
	}
	return "kindlike-test-" + strings.Trim(base, "-") + "-" + hex.EncodeToString(b)
}

// start runs a container in the background and removes it (and its anonymous
// volumes) when the test ends. args are docker run's, image and command included.
func start(t *testing.T, args ...string) string {
	t.Helper()
	name := containerName(t)
	t.Cleanup(func() { _, _ = docker(context.Background(), "rm", "-f", "-v", name) })
	mustDocker(t, append([]string{"run", "-d", "--name", name, "--label", "kindlike.test=images"}, args...)...)
	return name
}

// runOnce runs a container to completion and returns its output and exit code.
func runOnce(t *testing.T, args ...string) (string, int) {
	t.Helper()
	name := containerName(t)
	t.Cleanup(func() { _, _ = docker(context.Background(), "rm", "-f", "-v", name) })
	out, err := docker(context.Background(), append([]string{"run", "--rm", "--name", name, "--label", "kindlike.test=images"}, args...)...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return out, exit.ExitCode()
		}
		t.Fatal(err)
	}
	return out, 0
}

func containerIP(t *testing.T, name string) string {
	t.Helper()
	ip := mustDocker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
	if net.ParseIP(ip) == nil {
		t.Fatalf("container %s has no IP (%q)", name, ip)
	}
	return ip
}

// state is a container's status and exit code, e.g. "running 0", "exited 0".
func state(t *testing.T, name string) string {
	t.Helper()
	return mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
}

// waitExit waits until the container stops and returns its exit code.
func waitExit(t *testing.T, name string, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := strings.Fields(state(t, name))
		if st[0] == "exited" || st[0] == "dead" {
			var code int
			fmt.Sscan(st[1], &code)
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s after %v", name, st[0], within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get polls url until it answers (a container needs a moment to listen), then returns
// the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return request(t, http.MethodGet, url)
}

func request(t *testing.T, method, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConstants(t *testing.T) {
	if images.PauseImage != "kindlike/pause:"+images.PauseVersion {
		t.Errorf("PauseImage %q does not carry PauseVersion %q", images.PauseImage, images.PauseVersion)
	}
	if images.SimpleServiceImage != "kindlike/simple-service:"+images.SimpleServiceVersion {
		t.Errorf("SimpleServiceImage %q does not carry SimpleServiceVersion %q", images.SimpleServiceImage, images.SimpleServiceVersion)
	}
}

// TestStandInList keeps build.sh and this file in step: a stand-in added there needs
// tests here.
func TestStandInList(t *testing.T) {
	script, err := os.ReadFile("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, m := range regexp.MustCompile(`(?m)^\s*standin (\S+) `).FindAllStringSubmatch(string(script), -1) {
		built = append(built, m[1])
	}
	want := append([]string(nil), standIns...)
	sort.Strings(built)
	sort.Strings(want)
	if strings.Join(built, " ") != strings.Join(want, " ") {
		t.Errorf("build.sh builds %v, the tests cover %v", built, want)
	}
}

// TestBuildKeepsRealImages asks build.sh's wanted, on the real engine, which images
// it would build: never one that is not a stand-in.
func TestBuildKeepsRealImages(t *testing.T) {
	simpleService := "quay.io/openshiftlabs/simple-service:0.5.0"
	needImage(t, images.PauseImage)
	needImage(t, simpleService)
	suffix := strings.TrimPrefix(containerName(t), "kindlike-test-")
	real := "kindlike-test-real-" + suffix + ":1"        // no stand-in label
	standIn := "kindlike-test-stand-in-" + suffix + ":1" // labelled, with a recipe
	for _, tag := range [][2]string{{images.PauseImage, real}, {simpleService, standIn}} {
		mustDocker(t, "tag", tag[0], tag[1])
		t.Cleanup(func() { _, _ = docker(context.Background(), "image", "rm", tag[1]) })
	}
	recipe := mustDocker(t, "image", "inspect", "-f", `{{index .Config.Labels "`+images.LabelRecipe+`"}}`, standIn)

	tests := []struct {
		ref, recipe string
		build       bool
	}{
		{real, recipe, false},
		{standIn, recipe, false},
		{standIn, "an-older-recipe", true},
		{"kindlike-test-missing-" + suffix + ":1", recipe, true},
	}
	for _, tt := range tests {
		cmd := exec.Command("bash", "-c", `source ./build.sh && wanted "$1" "$2"`, "wanted", tt.ref, tt.recipe)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if build := err == nil; build != tt.build {
			t.Errorf("wanted %s %s: build=%v, want %v (%s)", tt.ref, tt.recipe, build, tt.build, out)
		}
	}
}

func TestLabels(t *testing.T) {
	for _, ref := range []string{images.PauseImage, images.SimpleServiceImage} {
		needImage(t, ref)
		want := strings.TrimPrefix(strings.Split(ref, ":")[0], "kindlike/")
		if got := mustDocker(t, "image", "inspect", "-f", `{{index .Config.Labels "`+images.LabelImage+`"}}`, ref); got != want {
			t.Errorf("%s: label %s=%q, want %q", ref, images.LabelImage, got, want)
		}
	}
	for _, ref := range standIns {
		needImage(t, ref)
		var labels map[string]string
		if err := json.Unmarshal([]byte(mustDocker(t, "image", "inspect", "-f", "{{json .Config.Labels}}", ref)), &labels); err != nil {
			t.Fatal(err)
		}
		if labels[images.LabelStandIn] != "true" {
			t.Logf("%s is not a stand-in (a real image, kept as it is)", ref)
			continue
		}
		if d := labels[images.LabelDescription]; !strings.HasPrefix(d, "kindlike stand-in for "+ref) {
			t.Errorf("%s: description %q does not say it is a stand-in", ref, d)
		}
		if labels[images.LabelRecipe] == "" {
			t.Errorf("%s: no %s label", ref, images.LabelRecipe)
		}
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	needImage(t, images.PauseImage)
	needImage(t, "busybox:1.31")
	pause := start(t, images.PauseImage)
	time.Sleep(time.Second)
	if st := state(t, pause); st != "running 0" {
		t.Fatalf("pause is %q a second after starting, want running", st)
	}
	if user := mustDocker(t, "inspect", "-f", "{{.Config.User}}", pause); user != "65535:65535" {
		t.Errorf("pause runs as %q, want 65535:65535", user)
	}

	// An orphan in the pause container's PID namespace is re-parented to pause, which
	// must reap it; a zombie would show as State: Z.
	out, code := runOnce(t, "--pid", "container:"+pause, "busybox:1.31", "sh", "-c",
		`(sleep 0.2 &); sleep 1.5; grep -l '^State:.*Z' /proc/[0-9]*/status; echo checked`)
	if code != 0 || strings.TrimSpace(out) != "checked" {
		t.Errorf("zombies left in the pause container's namespace (exit %d):\n%s", code, out)
	}

	begin := time.Now()
	mustDocker(t, "stop", "-t", "10", pause) // SIGTERM, SIGKILL after 10s
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("docker stop took %v: pause ignored SIGTERM", took)
	}
	if st := state(t, pause); st != "exited 0" {
		t.Errorf("after SIGTERM pause is %q, want exited 0", st)
	}

	sigint := start(t, images.PauseImage)
	time.Sleep(500 * time.Millisecond)
	mustDocker(t, "kill", "-s", "INT", sigint)
	if code := waitExit(t, sigint, 5*time.Second); code != 0 {
		t.Errorf("after SIGINT pause exited %d, want 0", code)
	}
}

func TestSimpleService(t *testing.T) {
	for _, ref := range []string{images.SimpleServiceImage, "quay.io/openshiftlabs/simple-service:0.5.0"} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			needImage(t, ref)
			sise := start(t, "--hostname", "twocontainers", ref)
			ip := containerIP(t, sise)
			base := "http://" + ip + ":9876"

			code, body := get(t, base+"/health")
			if code != 200 || strings.TrimSpace(body) != `{"healthy":true}` {
				t.Errorf("/health: %d %s", code, body)
			}
			var info map[string]string
			if code, body = get(t, base+"/info"); code != 200 || json.Unmarshal([]byte(body), &info) != nil {
				t.Fatalf("/info: %d %s", code, body)
			}
			want := map[string]string{"host": ip + ":9876", "version": "0.5.0", "hostname": "twocontainers", "ip": ip}
			for k, v := range want {
				if info[k] != v {
					t.Errorf("/info %s = %q, want %q (%s)", k, info[k], v, body)
				}
			}
			if net.ParseIP(info["from"]) == nil {
				t.Errorf("/info from = %q, want the client's IP", info["from"])
			}
			if code, body = get(t, base+"/env"); code != 200 || !strings.Contains(body, `'HOSTNAME': 'twocontainers'`) {
				t.Errorf("/env: %d %s", code, body)
			}
			if code, body = get(t, base+"/endpoint0"); code != 200 || !strings.Contains(body, `"result":"all is well"`) {
				t.Errorf("/endpoint0: %d %s", code, body)
			}

			// The switch, from inside the container as kubectl exec would, and back
			// over HTTP.
			mustDocker(t, "exec", sise, "/simple-service", "health", "fail")
			if code, body = get(t, base+"/health"); code != 500 {
				t.Errorf("/health after `health fail`: %d %s, want 500", code, body)
			}
			if code, _ = request(t, http.MethodPost, base+"/health/ok"); code != 200 {
				t.Errorf("POST /health/ok: %d", code)
			}
			if code, body = get(t, base+"/health"); code != 200 {
				t.Errorf("/health after /health/ok: %d %s", code, body)
			}

			if logs := mustDocker(t, "logs", sise); !strings.Contains(logs, "/info serving from "+ip+":9876 has been invoked from") {
				t.Errorf("docker logs lack the /info request:\n%s", logs)
			}
			begin := time.Now()
			mustDocker(t, "stop", "-t", "10", sise)
			if took, st := time.Since(begin), state(t, sise); took > 5*time.Second || st != "exited 0" {
				t.Errorf("SIGTERM: %s after %v, want exited 0 at once", st, took)
			}
		})
	}
}

func TestSimpleServiceFailAfter(t *testing.T) {
	t.Parallel()
	ref := "quay.io/openshiftlabs/simple-service:0.5.0"
	needImage(t, ref)
	sise := start(t, "-e", "HEALTH_FAIL_AFTER=2", ref)
	url := "http://" + containerIP(t, sise) + ":9876/health"
	for i, want := range []int{200, 200, 500, 500} {
		if code, body := get(t, url); code != want {
			t.Errorf("check %d: %d %s, want %d", i+1, code, body, want)
		}
	}
}

// TestTomcatAppStandIn runs the textbook's example on plain Docker: two web replicas
// and the MySQL stand-in on one network, MySQL reachable by the name the lesson's
// MYSQL_SERVICE_HOST gives. The web app says MySQL is unreachable until it is up,
// then lists the book's rows, and a row added through one replica is seen through
// the other.
func TestTomcatAppStandIn(t *testing.T) {
	t.Parallel()
	ref := "kubeguide/tomcat-app:v1"
	needImage(t, ref)
	needImage(t, "mysql")
	netName := containerName(t)
	mustDocker(t, "network", "create", "--label", "kindlike.test=images", netName)
	t.Cleanup(func() { _, _ = docker(context.Background(), "network", "rm", netName) })
	env := []string{"--network", netName, "-e", "MYSQL_SERVICE_HOST=mysql", "-e", "MYSQL_SERVICE_PORT=3306"}
	web1 := start(t, append(env, ref)...)
	base1 := "http://" + containerIP(t, web1) + ":8080"
	if code, body := get(t, base1+"/demo/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "Cannot reach MySQL at mysql:3306") {
		t.Errorf("GET /demo/ before MySQL runs: %d %s", code, body)
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(base1 + "/"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/demo/" {
		t.Errorf("GET /: %v %v, want a redirect to /demo/", resp, err)
	} else {
		resp.Body.Close()
	}
	start(t, "--network", netName, "--network-alias", "mysql", "-e", "MYSQL_ROOT_PASSWORD=123456", "mysql")
	web2 := start(t, append(env, ref)...)
	base2 := "http://" + containerIP(t, web2) + ":8080"

	var body string
	deadline := time.Now().Add(90 * time.Second)
	for {
		var code int
		if code, body = get(t, base1+"/demo/"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the web app never listed MySQL's rows: %d %s\n%s", code, body, mustDocker(t, "logs", web1))
		}
		time.Sleep(500 * time.Millisecond)
	}
	hostname := mustDocker(t, "inspect", "-f", "{{.Config.Hostname}}", web1)
	for _, want := range []string{"Congratulations!!", "<td>google</td><td>100</td>", "<td>me</td><td>100</td>", "served by pod <b>" + hostname + "</b>"} {
		if !strings.Contains(body, want) {
			t.Errorf("/demo/ lacks %q:\n%s", want, body)
		}
	}
	if code, body := get(t, base2+"/demo/input.html"); code != 200 || !strings.Contains(body, `name="userName"`) {
		t.Errorf("GET input.html: %d %s", code, body)
	}

	// Added through the second replica, seen through the first.
	client := noFollow
	resp, err := client.PostForm(base2+"/demo/", map[string][]string{"userName": {"kindlike student"}, "level": {"99"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /demo/: %d, want 303 back to the list", resp.StatusCode)
	}
	if _, body := get(t, base1+"/demo/"); !strings.Contains(body, "<td>kindlike student</td><td>99</td>") {
		t.Errorf("the row added through %s is not listed by %s:\n%s", web2, web1, body)
	}
	if strings.Count(body, "<td>google</td>") != 1 {
		t.Errorf("the starting rows were inserted more than once:\n%s", body)
	}
	resp, err = client.PostForm(base1+"/demo/", map[string][]string{"userName": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST without a name: %d, want 400", resp.StatusCode)
	}
}

func TestBusybox(t *testing.T) {
	t.Parallel()
	ref := "busybox:1.31"
	needImage(t, ref)
	if out, code := runOnce(t, ref, "sh", "-c", "echo hi"); code != 0 || out != "hi\n" {
		t.Errorf("sh -c 'echo hi': exit %d, %q", code, out)
	}
	out, code := runOnce(t, ref, "sh", "-c", `for c in sh nslookup wget sleep cat echo; do command -v $c || exit 1; done; sleep 0.1`)
	if code != 0 {
		t.Errorf("applets missing (exit %d):\n%s", code, out)
	}

	// Scenario 10: env from a ConfigMap and a Secret, and the ConfigMap mounted.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.properties"), []byte("greeting=hello\ncolor=blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = runOnce(t, "-e", "LANG_SETTING=en", "-e", "DB_PASSWORD=s3cr3t", "-v", dir+":/etc/app:ro", ref,
		"sh", "-c", "echo lang=$LANG_SETTING password=$DB_PASSWORD; cat /etc/app/app.properties")
	if want := "lang=en password=s3cr3t\ngreeting=hello\ncolor=blue\n"; code != 0 || out != want {
		t.Errorf("scenario 10's command: exit %d, %q, want %q", code, out, want)
	}
}

// TestBusyboxNslookup runs scenario 05's init container loop under a pod's resolv.conf
// (search path, ndots:5), with Docker's DNS playing the cluster's: it must wait while
// the name does not resolve and finish once it does.
func TestBusyboxNslookup(t *testing.T) {
	t.Parallel()
	ref := "busybox:1.31"
	needImage(t, ref)
	network := containerName(t)
	mustDocker(t, "network", "create", "--label", "kindlike.test=images", network)
	t.Cleanup(func() { _, _ = docker(context.Background(), "network", "rm", network) })
	start(t, "--network", network, "--network-alias", "myservice.demo.svc.cluster.local", ref, "sleep", "600")

	pod := []string{"--network", network, "--dns-search", "demo.svc.cluster.local", "--dns-search", "svc.cluster.local",
		"--dns-search", "cluster.local", "--dns-opt", "ndots:5", ref}
	tests := []struct {
		name string
		want int
	}{
		{"myservice", 0},
		{"myservice.demo", 0},
		{"myservice.demo.svc.cluster.local", 0},
		{"mydb", 1},
	}
	for _, tt := range tests {
		out, code := runOnce(t, append(pod, "nslookup", tt.name)...)
		if code != tt.want {
			t.Errorf("nslookup %s: exit %d, want %d\n%s", tt.name, code, tt.want, out)
		}
		if tt.want == 0 && !strings.Contains(out, "Name:\tmyservice.demo.svc.cluster.local") {
			t.Errorf("nslookup %s answered:\n%s", tt.name, out)
		}
	}
	out, code := runOnce(t, append(pod, "sh", "-c", `until nslookup myservice; do echo waiting for myservice; sleep 2; done; echo resolved`)...)
	if code != 0 || !strings.HasSuffix(out, "resolved\n") {
		t.Errorf("scenario 05's loop: exit %d\n%s", code, out)
	}
}

func TestDebian(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"debian", "debian:latest"} {
		needImage(t, ref)
		dir := t.TempDir()
		// Scenario 02's debian container, writing into the shared volume.
		out, code := runOnce(t, "-v", dir+":/pod-data", ref, "/bin/sh", "-c", "echo Hello from the debian container > /pod-data/index.html")
		if code != 0 {
			t.Fatalf("%s /bin/sh: exit %d\n%s", ref, code, out)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || string(b) != "Hello from the debian container\n" {
			t.Errorf("%s wrote %q (%v)", ref, b, err)
		}
	}
}

// TestCentOS runs scenario 01: the shell container's relative bin/bash, and its curl
// reaching simple-service over the pod's shared network namespace.
func TestCentOS(t *testing.T) {
	t.Parallel()
	ref := "centos:7"
	needImage(t, ref)
	needImage(t, images.SimpleServiceImage)
	if out, code := runOnce(t, ref, "bin/bash", "-c", "sleep 0.1 && echo slept"); code != 0 || out != "slept\n" {
		t.Errorf(`bin/bash -c "sleep ...": exit %d, %q`, code, out)
	}
	sise := start(t, images.SimpleServiceImage)
	shell := start(t, "--network", "container:"+sise, ref, "bin/bash", "-c", "sleep 10000")
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		out, err = docker(context.Background(), "exec", shell, "curl", "-s", "localhost:9876/info")
		if err == nil && strings.Contains(out, `"version":"0.5.0"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("curl -s localhost:9876/info from the shell container: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, `"host":"localhost:9876"`) || !strings.Contains(out, `"from":"127.0.0.1"`) {
		t.Errorf("/info over localhost: %s", out)
	}
}

func TestNginx(t *testing.T) {
	for _, ref := range []string{"nginx", "nginx:latest", "nginx:1.14.2", "nginx:1.19"} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			needImage(t, ref)
			web := start(t, ref)
			ip := containerIP(t, web)
			if code, body := get(t, "http://"+ip+"/"); code != 200 || !strings.Contains(body, "Welcome to nginx!") {
				t.Errorf("GET /: %d %s", code, body)
			}
			// Scenario 04's postStart hook.
			mustDocker(t, "exec", web, "/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message")
			if msg := mustDocker(t, "exec", web, "cat", "/usr/share/message"); msg != "Hello from the postStart handler" {
				t.Errorf("/usr/share/message: %q", msg)
			}
			if pid1 := mustDocker(t, "exec", web, "cat", "/proc/1/cmdline"); !strings.HasPrefix(pid1, "nginx: master process") {
				t.Errorf("PID 1 is %q, want nginx's master in the foreground", pid1)
			}
			logs := mustDocker(t, "logs", web)
			if !strings.Contains(logs, `"GET / HTTP/1.1" 200`) {
				t.Errorf("the access log is not on stdout:\n%s", logs)
			}
			// Scenario 04's preStop hook stops it gracefully. The exec'd process
			// itself may be killed with the container (137) when the master quits
			// before it has exited; the container's own exit code is what counts.
			if _, err := docker(context.Background(), "exec", web, "/usr/sbin/nginx", "-s", "quit"); err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 137 {
					t.Errorf("nginx -s quit: %v", err)
				}
			}
			if code := waitExit(t, web, 10*time.Second); code != 0 {
				t.Errorf("after nginx -s quit: exit %d, want 0", code)
			}
		})
	}

	// Scenario 02: a volume over /usr/share/nginx/html replaces the site.
	t.Run("volume", func(t *testing.T) {
		t.Parallel()
		needImage(t, "nginx")
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("Hello from the debian container\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		web := start(t, "-v", dir+":/usr/share/nginx/html", "nginx")
		if code, body := get(t, "http://"+containerIP(t, web)+"/"); code != 200 || body != "Hello from the debian container\n" {
			t.Errorf("GET /: %d %q", code, body)
		}
	})
}

func TestMySQL(t *testing.T) {
	t.Parallel()
	ref := "mysql"
	needImage(t, ref)
	db := start(t, "-e", "MYSQL_ROOT_PASSWORD=123456", ref)
	addr := net.JoinHostPort(containerIP(t, db), "3306")

	// The server's greeting: protocol 10, then its version, NUL-terminated.
	var greeting string
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(conn)
			head := make([]byte, 5)
			if _, err = io.ReadFull(r, head); err == nil && head[4] == 10 {
				greeting, err = r.ReadString(0)
			}
			conn.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing greets on %s: %v\n%s", addr, err, mustDocker(t, "logs", db))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !strings.Contains(greeting, "MariaDB") {
		t.Errorf("server version %q: the stand-in should say it is MariaDB", greeting)
	}
	// Initialized, the entrypoint has exec'd the server: it gets the pod's signals.
	if pid1 := mustDocker(t, "exec", db, "cat", "/proc/1/comm"); pid1 != "mariadbd" {
		t.Errorf("PID 1 is %q, want the server itself", pid1)
	}

	// The root password is the one the manifest sets, over TCP as pods connect.
	if out, err := docker(context.Background(), "exec", db, "mysql", "-h127.0.0.1", "-uroot", "-p123456", "-e", "SELECT 1"); err != nil {
		t.Errorf("root with MYSQL_ROOT_PASSWORD: %v\n%s", err, out)
	}
	if _, err := docker(context.Background(), "exec", db, "mysql", "-h127.0.0.1", "-uroot", "-pwrong", "-e", "SELECT 1"); err == nil {
		t.Error("root logged in with a wrong password")
	}

	// Like the official image, it refuses to start without a password option.
	if out, code := runOnce(t, ref); code == 0 || !strings.Contains(out, "MYSQL_ROOT_PASSWORD") {
		t.Errorf("without a password option: exit %d\n%s", code, out)
	}
}
