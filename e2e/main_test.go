// Package e2e creates real kindlike clusters on the local Docker and drives them with
// the kindlike binary, kubectl and the Docker API. It needs a running Docker daemon
// and fails, loudly, without one; `go test -short` skips it.
//
// Every cluster is named kindlike-e2e-<random> and removed by the test that made it,
// pass or fail, together with anything else carrying its label. A test that fails
// leaves the cluster's logs in e2e/artifacts/<test>/.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/docker"
	"github.com/kindlike/kindlike/config"
)

var (
	// bin is the kindlike binary under test (KINDLIKE_BIN, as `make test` sets it).
	bin string
	// kubectlBin is the system kubectl if there is one, else kindlike's own.
	kubectlBin []string
	dockerCLI  *client.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode (these tests need Docker)")
		os.Exit(0)
	}
	bin = os.Getenv("KINDLIKE_BIN")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "e2e: KINDLIKE_BIN is not set: run `make test`, or `make build` and KINDLIKE_BIN=$PWD/bin/kindlike go test ./e2e/")
		os.Exit(1)
	}
	var err error
	dockerCLI, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = dockerCLI.Ping(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: these tests need a running Docker daemon: %v\n", err)
		os.Exit(1)
	}
	if path, err := exec.LookPath("kubectl"); err == nil {
		kubectlBin = []string{path}
	} else {
		kubectlBin = []string{bin, "kubectl"}
	}
	// The node image of this binary: removed at the end if the tests built it.
	ref, err := docker.NodeImageRef(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	_, err = dockerCLI.ImageInspect(context.Background(), ref)
	imageExisted := err == nil
	// Built once here rather than by every parallel test's first create.
	if out, err := exec.Command(bin, "build", "node-image").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build node-image: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if !imageExisted {
		_, _ = dockerCLI.ImageRemove(context.Background(), ref, image.RemoveOptions{PruneChildren: true})
	}
	os.Exit(code)
}

// testCluster is a cluster a test owns.
type testCluster struct {
	t          *testing.T
	name       string
	kubeconfig string
}

// clusterName is unique per test run and carries the kindlike- prefix.
func clusterName() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "kindlike-e2e-" + hex.EncodeToString(b)
}

// newCluster reserves a name and a kubeconfig for a test, and removes everything
// labelled with the name when the test ends (after saving logs if it failed).
func newCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{t: t, name: clusterName(), kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	t.Cleanup(func() {
		if t.Failed() {
			dir := filepath.Join("artifacts", regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
			out, err := c.run("export", "logs", dir, "--name", c.name)
			t.Logf("logs of %s exported to e2e/%s (%v): %s", c.name, dir, err, out)
		}
		if out, err := c.run("delete", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig); err != nil {
			t.Errorf("delete cluster %s: %v\n%s", c.name, err, out)
		}
		removeLabelled(t, c.name)
	})
	return c
}

// create runs create cluster with the test's name and kubeconfig.
func (c *testCluster) create(args ...string) string {
	c.t.Helper()
	start := time.Now()
	out, err := c.run(append([]string{"create", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig}, args...)...)
	if err != nil {
		c.t.Fatalf("create cluster %s %q: %v\n%s", c.name, args, err, out)
	}
	c.t.Logf("created %s %q in %.1fs", c.name, args, time.Since(start).Seconds())
	return out
}

// run runs the kindlike binary, returning its combined output.
func (c *testCluster) run(args ...string) (string, error) {
	return runKindlike(c.kubeconfig, args...)
}

func runKindlike(kubeconfig string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs kubectl against the cluster; err is its failure with its output.
func (c *testCluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append(append([]string{}, kubectlBin[1:]...), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectlBin[0], full...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (c *testCluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// waitFor runs kubectl until its output matches re, and returns that output.
func (c *testCluster) waitFor(timeout time.Duration, re string, args ...string) string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	var out string
	eventually(c.t, timeout, "kubectl "+strings.Join(args, " "), func() error {
		var err error
		if out, err = c.kubectl(args...); err != nil {
			return err
		}
		if !rx.MatchString(out) {
			return fmt.Errorf("%q does not match %q", out, re)
		}
		return nil
	})
	return out
}

// eventually retries f until it succeeds or timeout passes, returning how long it
// took.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

// labelled lists what Docker holds with the cluster's label.
func labelled(t *testing.T, name string) (containers, volumes, networks []string) {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", cluster.LabelCluster+"="+name))
	cs, err := dockerCLI.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		containers = append(containers, strings.TrimPrefix(c.Names[0], "/"))
	}
	vs, err := dockerCLI.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		volumes = append(volumes, v.Name)
	}
	ns, err := dockerCLI.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		networks = append(networks, n.Name)
	}
	return containers, volumes, networks
}

// scenario is the path of a tutorial manifest in configs/scenarios.
func scenario(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs("../configs/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// nodeContainers lists the cluster's node and load balancer containers.
func nodeContainers(t *testing.T, name string) []string {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", cluster.LabelCluster+"="+name))
	cs, err := dockerCLI.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		switch c.Labels[cluster.LabelRole] {
		case config.RoleControlPlane, config.RoleWorker, cluster.RoleLoadBalancer:
			out = append(out, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	return out
}

// assertNothingLabelled fails if anything carries the cluster's label.
func assertNothingLabelled(t *testing.T, name string) {
	t.Helper()
	cs, vs, ns := labelled(t, name)
	if len(cs)+len(vs)+len(ns) > 0 {
		t.Fatalf("left behind with label %s=%s: containers %q, volumes %q, networks %q", cluster.LabelCluster, name, cs, vs, ns)
	}
}

// removeLabelled removes anything still labelled with the cluster's name: the
// safety net under `delete cluster`, touching only what carries our label.
func removeLabelled(t *testing.T, name string) {
	ctx := context.Background()
	cs, vs, ns := labelled(t, name)
	var errs []error
	for _, c := range cs {
		errs = append(errs, dockerCLI.ContainerRemove(ctx, c, container.RemoveOptions{Force: true}))
	}
	for _, v := range vs {
		errs = append(errs, dockerCLI.VolumeRemove(ctx, v, true))
	}
	for _, n := range ns {
		errs = append(errs, dockerCLI.NetworkRemove(ctx, n))
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("removing what %s left: %v", name, err)
	}
	if len(cs)+len(vs)+len(ns) > 0 {
		t.Errorf("delete cluster left containers %q, volumes %q, networks %q", cs, vs, ns)
	}
}
