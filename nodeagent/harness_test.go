package nodeagent_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	dockerclient "github.com/docker/docker/client"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kindlike/kindlike/config"
	kindlikeimages "github.com/kindlike/kindlike/images"
	"github.com/kindlike/kindlike/internal/testcluster"
	"github.com/kindlike/kindlike/nodeagent"
	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/pki"
)

// The tests run real pods on the host's Docker: a control plane of kindlike processes
// on 127.0.0.1 (internal/testcluster), agents in the test process, and for each agent a
// stand-in node container (busybox sleeping under docker-init) whose PID namespace
// and network the pods join, as they join a real node container's.

// testImages are the images the tests build from busybox-static: the pause image, a
// bare busybox, and, when the engine lacks the tutorials' images (the images step
// builds proper stand-ins with `make offline-images`), minimal equivalents under the
// tutorials' names. Every image built here is removed when the tests end.
type testImages struct {
	run   string
	pause string
	box   string
	built []string
}

var (
	imagesOnce sync.Once
	images     *testImages
	imagesErr  error
	docker     *dockerclient.Client
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChildAgent(path))
	}
	sweepStale()
	code := m.Run()
	if images != nil {
		images.remove()
	}
	os.Exit(code)
}

// sweepStale removes what earlier runs left when they were killed before cleaning
// up (a timeout): test clusters and test images older than an hour.
func sweepStale() {
	d, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runtime.LabelCluster))})
	if err != nil {
		return
	}
	stale := map[string]bool{}
	for _, c := range list {
		name := c.Labels[runtime.LabelCluster]
		if (strings.HasPrefix(name, "kindlike-agenttest-") || strings.HasPrefix(name, "agenttest-")) && time.Since(time.Unix(c.Created, 0)) > time.Hour {
			stale[name] = true
		}
	}
	if len(stale) > 0 && docker == nil {
		docker = d
		defer func() { docker = nil }()
	}
	for name := range stale {
		removeCluster(name)
	}
	imgs, err := d.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "kindlike.test"))})
	if err != nil {
		return
	}
	for _, img := range imgs {
		if time.Since(time.Unix(img.Created, 0)) > time.Hour {
			_, _ = d.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	}
}

// dockerClient fails the test when Docker cannot be reached: these tests never skip.
func dockerClient(t testing.TB) *dockerclient.Client {
	t.Helper()
	if docker == nil {
		c, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatalf("docker client: %v", err)
		}
		docker = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := docker.Ping(ctx); err != nil {
		t.Fatalf("Docker is not reachable (these tests run real containers): %v", err)
	}
	return docker
}

func randomID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// busyboxBinary is a static busybox to build images from.
func busyboxBinary() (string, []string, error) {
	bin := "/bin/busybox"
	if _, err := os.Stat(bin); err != nil {
		p, err := exec.LookPath("busybox")
		if err != nil {
			return "", nil, errors.New("a static busybox is needed to build test images: apt-get install busybox-static")
		}
		bin = p
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return "", nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	return bin, strings.Fields(string(out)), nil
}

func testImagesFor(t testing.TB) *testImages {
	t.Helper()
	d := dockerClient(t)
	imagesOnce.Do(func() {
		images, imagesErr = buildTestImages(d)
	})
	if imagesErr != nil {
		t.Fatalf("build test images: %v", imagesErr)
	}
	return images
}

// file is one file of an image's build context.
type file struct {
	mode int64
	data []byte
	link string
}

func busyboxFiles(bin string, applets []string) (map[string]file, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	files := map[string]file{"bin/busybox": {mode: 0o755, data: data}}
	for _, a := range applets {
		if a != "busybox" {
			files["bin/"+a] = file{link: "busybox"}
		}
	}
	files["etc/passwd"] = file{mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")}
	files["etc/group"] = file{mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")}
	files["tmp/.keep"] = file{mode: 0o644}
	files["var/run/.keep"] = file{mode: 0o644}
	return files, nil
}

func script(s string) file { return file{mode: 0o755, data: []byte("#!/bin/sh\n" + s + "\n")} }

func buildTestImages(d *dockerclient.Client) (*testImages, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ti := &testImages{run: randomID()}
	ti.pause = "kindlike-agenttest/pause:" + ti.run
	ti.box = "kindlike-agenttest/box:" + ti.run
	// `make test` builds kindlike's pause image and the stand-ins first: use them.
	present := func(ref string) bool { _, err := d.ImageInspect(ctx, ref); return err == nil }
	usePause, useBox := present(kindlikeimages.PauseImage), present("busybox:1.31")
	if usePause {
		ti.pause = kindlikeimages.PauseImage
	}
	if useBox {
		ti.box = "busybox:1.31"
	}
	var base map[string]file
	if !usePause || !useBox || !present("debian") || !present("centos:7") || !present("nginx") || !present("nginx:1.19") ||
		!present("quay.io/openshiftlabs/simple-service:0.5.0") {
		bin, applets, err := busyboxBinary()
		if err != nil {
			return nil, err
		}
		if base, err = busyboxFiles(bin, applets); err != nil {
			return nil, err
		}
	}
	with := func(extra map[string]file) map[string]file {
		out := map[string]file{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	builds := []struct {
		ref        string
		dockerfile string
		files      map[string]file
		standIn    bool
	}{
		{ti.pause, "FROM scratch\nCOPY . /\nENTRYPOINT [\"/bin/sleep\", \"2147483647\"]\n", base, true},
		{ti.box, "FROM scratch\nCOPY . /\nCMD [\"sh\"]\n", base, true},
		{"busybox:1.31", "FROM scratch\nCOPY . /\nCMD [\"sh\"]\n", base, true},
		{"debian", "FROM scratch\nCOPY . /\nCMD [\"sh\"]\n", base, true},
		{"centos:7", "FROM scratch\nCOPY . /\nCMD [\"/bin/bash\"]\n", with(map[string]file{
			"bin/bash":     script(`exec /bin/sh "$@"`),
			"usr/bin/curl": script(`for a; do case "$a" in -*) ;; *) u="$a";; esac; done; exec wget -q -O - "$u"`),
		}), true},
		{"quay.io/openshiftlabs/simple-service:0.5.0", "FROM scratch\nCOPY . /\nEXPOSE 9876\nCMD [\"httpd\", \"-f\", \"-p\", \"9876\", \"-h\", \"/www\"]\n", with(map[string]file{
			"www/health": {mode: 0o644, data: []byte("OK\n")},
			"www/info":   {mode: 0o644, data: []byte(`{"host": "simple-service", "version": "0.5.0", "from": "kindlike test stand-in"}` + "\n")},
		}), true},
	}
	nginx := with(map[string]file{
		"usr/share/nginx/html/index.html": {mode: 0o644, data: []byte("<h1>Welcome to nginx!</h1>\n")},
		"usr/sbin/nginx": script(`if [ "$1" = "-s" ]; then kill "$(cat /var/run/nginx.pid)"; exit 0; fi
echo $$ > /var/run/nginx.pid
exec httpd -f -p 80 -h /usr/share/nginx/html`),
	})
	for _, ref := range []string{"nginx", "nginx:1.19"} {
		builds = append(builds, struct {
			ref        string
			dockerfile string
			files      map[string]file
			standIn    bool
		}{ref, "FROM scratch\nCOPY . /\nEXPOSE 80\nSTOPSIGNAL SIGQUIT\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n", nginx, true})
	}
	for _, b := range builds {
		if b.standIn {
			if _, err := d.ImageInspect(ctx, b.ref); err == nil {
				continue
			}
		}
		if err := buildImage(ctx, d, b.ref, b.dockerfile, b.files, ti.run); err != nil {
			ti.remove()
			return nil, fmt.Errorf("build %s: %w", b.ref, err)
		}
		ti.built = append(ti.built, b.ref)
	}
	return ti, nil
}

func buildImage(ctx context.Context, d *dockerclient.Client, ref, dockerfile string, files map[string]file, run string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, f file) error {
		h := &tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Size, h.Mode = tar.TypeSymlink, f.link, 0, 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(f.data)
		return err
	}
	if err := add("Dockerfile", file{mode: 0o644, data: []byte(dockerfile)}); err != nil {
		return err
	}
	for name, f := range files {
		if err := add(name, f); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := d.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Dockerfile: "Dockerfile",
		Labels: map[string]string{"kindlike.test": run, "kindlike.standin": "test stand-in built by nodeagent tests"},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		return fmt.Errorf("%s", out)
	}
	return nil
}

func (ti *testImages) remove() {
	if docker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ref := range ti.built {
		if _, err := docker.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !runtime.IsNotFound(err) {
			fmt.Fprintf(os.Stderr, "remove test image %s: %v\n", ref, err)
		}
	}
}

// env is one test cluster: a control plane, and nodes each with an agent.
type env struct {
	t       testing.TB
	id      string
	cluster string
	network string
	cp      *testcluster.Cluster
	client  kubernetes.Interface
	images  *testImages
	nodes   map[string]*testNode
	log     *slog.Logger
	logBuf  *syncBuffer
	// childAgents runs agents as processes of their own, so they can be measured.
	childAgents bool
}

type testNode struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	cfg    nodeagent.Config
	// child is the agent's process when it runs as one (benchmarks).
	child *exec.Cmd
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts a one-member control plane and the cluster's network; nodes come
// with addNode.
func newEnv(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("runs pods on Docker with a control plane (-short)")
	}
	d := dockerClient(t)
	ti := testImagesFor(t)
	id := randomID()
	e := &env{t: t, id: id, cluster: "kindlike-agenttest-" + id, images: ti, nodes: map[string]*testNode{}, logBuf: &syncBuffer{}}
	e.network = "kindlike-" + e.cluster
	e.log = slog.New(slog.NewTextHandler(e.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(e.cleanup)
	if _, err := d.NetworkCreate(ctx, e.network, network.CreateOptions{Driver: "bridge", Labels: map[string]string{runtime.LabelCluster: e.cluster}}); err != nil {
		t.Fatalf("create network: %v", err)
	}
	cp, err := testcluster.Start(ctx, testcluster.Options{Dir: t.TempDir(), Members: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.cp = cp
	cfg := cp.RestConfig(0)
	cfg.Timeout = 20 * time.Second
	if e.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// nodeName is the name (and container name) of a test node.
func (e *env) nodeName(n string) string { return "kindlike-agenttest-" + e.id + "-" + n }

// addNode creates a stand-in node container and starts an agent for it.
func (e *env) addNode(short string) string {
	e.t.Helper()
	name := e.nodeName(short)
	d := dockerClient(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := true
	_, err := d.ContainerCreate(ctx, &container.Config{
		Image: e.images.box, Cmd: []string{"sleep", "2147483647"}, Hostname: name,
		Labels: map[string]string{runtime.LabelCluster: e.cluster, "kindlike.role": config.RoleWorker},
	}, &container.HostConfig{NetworkMode: container.NetworkMode(e.network), Init: &init}, nil, nil, name)
	if err != nil {
		e.t.Fatalf("create node container: %v", err)
	}
	if err := d.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		e.t.Fatalf("start node container: %v", err)
	}
	agentCert, err := e.cp.CA.Sign(pki.Request{CommonName: "system:node:" + name, Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		e.t.Fatal(err)
	}
	serving, err := e.cp.CA.Sign(pki.Request{CommonName: "system:node:" + name, DNSNames: []string{name}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		e.t.Fatal(err)
	}
	api := e.cp.RestConfig(0)
	api.TLSClientConfig = rest.TLSClientConfig{CAData: e.cp.CA.CertPEM, CertData: agentCert.CertPEM, KeyData: agentCert.KeyPEM}
	timing := config.DemoTiming()
	cfg := nodeagent.Config{
		Node:          config.Node{Cluster: e.cluster, Name: name, Role: config.RoleWorker, Timing: timing, Capacity: map[string]string{"cpu": "4", "memory": "8Gi"}},
		API:           api,
		Logger:        e.log.With("agent", short),
		NodeContainer: name,
		Address:       "127.0.0.1",
		Listen:        "127.0.0.1:0",
		Serving:       serving,
		ClientCA:      e.cp.CA.CertPEM,
		PauseImage:    e.images.pause,
		SyncInterval:  3 * time.Second,
	}
	if e.childAgents {
		// Measured agents run with the defaults a real node has.
		cfg.SyncInterval = 0
	}
	n := &testNode{name: name, cfg: cfg}
	e.nodes[short] = n
	e.startAgent(short)
	e.waitNodeReady(name)
	return name
}

// startAgent runs the node's agent in the test process, or as a child process.
func (e *env) startAgent(short string) {
	n := e.nodes[short]
	if e.childAgents {
		e.startChildAgent(n)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- nodeagent.Run(ctx, n.cfg) }()
}

// stopAgent stops the node's agent, leaving its pods' containers as they are.
func (e *env) stopAgent(short string) {
	n := e.nodes[short]
	if n.child != nil {
		_ = n.child.Process.Signal(syscall.SIGTERM)
		_ = n.child.Wait()
		n.child = nil
		return
	}
	if n.cancel == nil {
		return
	}
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			e.t.Logf("agent %s stopped: %v", short, err)
		}
	case <-time.After(30 * time.Second):
		e.t.Errorf("agent %s did not stop within 30s", short)
	}
	n.cancel = nil
}

func (e *env) waitNodeReady(name string) {
	e.t.Helper()
	k := e.kubectl()
	k.eventually(60*time.Second, `True`, "get", "node", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
}

func (e *env) cleanup() {
	for short := range e.nodes {
		e.stopAgent(short)
	}
	if e.cp != nil {
		e.cp.Stop()
		if e.t.Failed() {
			for _, m := range e.cp.Members {
				if b, err := os.ReadFile(m.LogPath); err == nil {
					e.t.Logf("log of %s:\n%s", m.Name, tail(string(b), 40))
				}
			}
		}
	}
	if e.t.Failed() {
		e.t.Logf("agent log:\n%s", tail(e.logBuf.String(), 150))
	}
	removeCluster(e.cluster)
}

// removeCluster removes every container, volume and network labelled with the test
// cluster's name.
func removeCluster(cluster string) {
	if docker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelCluster+"="+cluster))
	ctrs, _ := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	var wg sync.WaitGroup
	for _, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}()
	}
	wg.Wait()
	vols, _ := docker.VolumeList(ctx, volume.ListOptions{Filters: f})
	for _, v := range vols.Volumes {
		_ = docker.VolumeRemove(ctx, v.Name, true)
	}
	// A network may still hold the endpoint of a container being removed: retry.
	for attempt := 0; attempt < 10; attempt++ {
		nets, _ := docker.NetworkList(ctx, network.ListOptions{Filters: f})
		left := 0
		for _, n := range nets {
			if err := docker.NetworkRemove(ctx, n.ID); err != nil && !runtime.IsNotFound(err) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// containersOf lists the Docker containers of a pod, by its labels.
func (e *env) containersOf(ns, pod string, all bool) []container.Summary {
	e.t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelCluster+"="+e.cluster),
		filters.Arg("label", runtime.LabelPodNamespace+"="+ns), filters.Arg("label", runtime.LabelPodName+"="+pod))
	list, err := dockerClient(e.t).ContainerList(context.Background(), container.ListOptions{All: all, Filters: f})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// volumesOf lists the Docker volumes of a pod.
func (e *env) volumesOf(ns, pod string) []*volume.Volume {
	e.t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelCluster+"="+e.cluster),
		filters.Arg("label", runtime.LabelPodNamespace+"="+ns), filters.Arg("label", runtime.LabelPodName+"="+pod))
	list, err := dockerClient(e.t).VolumeList(context.Background(), volume.ListOptions{Filters: f})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Volumes
}

func (e *env) kubectl() kubectl {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		e.t.Fatalf("kubectl is not on PATH: %v", err)
	}
	return kubectl{t: e.t, bin: path, kubeconfig: e.cp.Kubeconfig(0)}
}

// kubectl runs the real kubectl against the test cluster.
type kubectl struct {
	t          testing.TB
	bin        string
	kubeconfig string
}

// on is the kubectl reporting to another test (a subtest).
func (k kubectl) on(t testing.TB) kubectl {
	k.t = t
	return k
}

func (k kubectl) run(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func (k kubectl) must(args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run("", args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (k kubectl) apply(manifest string) {
	k.t.Helper()
	out, errOut, err := k.run(manifest, "apply", "-f", "-")
	if err != nil {
		k.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, errOut)
	}
}

func (k kubectl) fails(args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run("", args...)
	if err == nil {
		k.t.Fatalf("kubectl %s succeeded, want failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// eventually runs kubectl until its output matches re, failing after timeout.
func (k kubectl) eventually(timeout time.Duration, re string, args ...string) string {
	k.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		out, errOut, _ := k.run("", args...)
		if rx.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			if len(args) > 2 && args[0] == "get" && args[1] == "pod" {
				d, _, _ := k.run("", append([]string{"describe"}, args[1:]...)...)
				errOut += "\n" + d
			}
			k.t.Fatalf("kubectl %s: output never matched %q\nlast stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), re, out, errOut)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func contains(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: missing %q in:\n%s", what, w, out)
		}
	}
}

func matches(t testing.TB, what, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("%s: nothing matches %q in:\n%s", what, re, out)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func scenario(t testing.TB, name string) string {
	p, err := filepath.Abs(filepath.Join("..", "configs", "scenarios", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func errorAs(err error, target any) bool { return errors.As(err, target) }

// childEnv names the file of an agent's config when the test binary runs as an
// agent process.
const childEnv = "KINDLIKE_AGENTTEST_CHILD"

// childConfig is what an agent process needs, as JSON.
type childConfig struct {
	Node                              config.Node
	APIHost                           string
	CA, Cert, Key                     []byte
	NodeContainer, Address, Listen    string
	ServingCert, ServingKey, ClientCA []byte
	PauseImage                        string
	SyncInterval                      time.Duration
}

func (e *env) startChildAgent(n *testNode) {
	c := n.cfg
	cc := childConfig{
		Node: c.Node, APIHost: c.API.Host, CA: c.API.CAData, Cert: c.API.CertData, Key: c.API.KeyData,
		NodeContainer: c.NodeContainer, Address: c.Address, Listen: c.Listen,
		ServingCert: c.Serving.CertPEM, ServingKey: c.Serving.KeyPEM, ClientCA: c.ClientCA,
		PauseImage: c.PauseImage, SyncInterval: c.SyncInterval,
	}
	b, err := json.Marshal(cc)
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.t.TempDir(), "agent.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stdout, cmd.Stderr = e.logBuf, e.logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	n.child = cmd
}

// runChildAgent is the test binary as an agent process, until SIGTERM.
func runChildAgent(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var cc childConfig
	if err := json.Unmarshal(b, &cc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = nodeagent.Run(ctx, nodeagent.Config{
		Node: cc.Node,
		API: &rest.Config{Host: cc.APIHost, TLSClientConfig: rest.TLSClientConfig{CAData: cc.CA, CertData: cc.Cert, KeyData: cc.Key},
			QPS: 50, Burst: 100},
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		NodeContainer: cc.NodeContainer, Address: cc.Address, Listen: cc.Listen,
		Serving: pki.KeyPair{CertPEM: cc.ServingCert, KeyPEM: cc.ServingKey}, ClientCA: cc.ClientCA,
		PauseImage: cc.PauseImage, SyncInterval: cc.SyncInterval,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
