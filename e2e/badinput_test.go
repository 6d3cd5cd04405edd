package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/kindlike/kindlike/cluster"
)

// oneLineError checks a failed command printed exactly one line, an error naming
// want, and exited non-zero.
func oneLineError(t *testing.T, out string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded:\n%s", out)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "ERROR: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Fatalf("want one ERROR line mentioning %q, got:\n%s", want, out)
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: kindlike.dev/v1alpha1\nkind: Cluster\n"+yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBadInput: each mistake gets one clear line, a non-zero exit, and leaves nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		env  []string
		want string
	}{
		{"unknown config field", func(t *testing.T) []string {
			return []string{"--config", writeConfig(t, "nodes:\n- role: control-plane\n  cpus: 2\n")}
		}, nil, `unknown field "nodes[0].cpus"`},
		{"bad role", func(t *testing.T) []string {
			return []string{"--config", writeConfig(t, "nodes:\n- role: control-plane\n- role: master\n")}
		}, nil, `nodes[1].role: "master" is not a role`},
		{"bad timing", func(t *testing.T) []string {
			return []string{"--config", writeConfig(t, "timing:\n  nodeLeaseRenewInterval: 1m\n")}
		}, nil, "timing.nodeLeaseRenewInterval (1m0s) must be shorter than timing.nodeMonitorGracePeriod"},
		{"missing config file", func(t *testing.T) []string {
			return []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}
		}, nil, "no such file"},
		{"flags and config nodes", func(t *testing.T) []string {
			return []string{"--nodes", "3", "--config", writeConfig(t, "nodes:\n- role: control-plane\n")}
		}, nil, "--nodes and --control-planes cannot be used with a config file that lists nodes"},
		{"no control plane", func(t *testing.T) []string { return []string{"--control-planes", "0"} }, nil, "--control-planes: a cluster needs at least 1"},
		{"bad timing preset", func(t *testing.T) []string { return []string{"--timing", "fast"} }, nil, `timing.preset: unknown timing "fast"`},
		{"port in use", func(t *testing.T) []string {
			return []string{"--config", writeConfig(t, "networking:\n  apiServerPort: "+strconv.Itoa(busy)+"\n")}
		}, nil, "networking.apiServerPort: 127.0.0.1:" + strconv.Itoa(busy) + " is in use"},
		{"subnet in use", func(t *testing.T) []string {
			return []string{"--config", writeConfig(t, "networking:\n  subnet: "+dockerBridgeSubnet(t)+"\n")}
		}, nil, "networking.subnet: " + dockerBridgeSubnet(t) + " overlaps"},
		{"docker unreachable", func(t *testing.T) []string { return nil }, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "cannot reach Docker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := clusterName()
			args := append([]string{"create", "cluster", "--name", name, "--kubeconfig", filepath.Join(t.TempDir(), "kubeconfig")}, tc.args(t)...)
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			oneLineError(t, string(out), err, tc.want)
			assertNothingLabelled(t, name)
		})
	}
}

// dockerBridgeSubnet is the subnet of Docker's default bridge network.
func dockerBridgeSubnet(t *testing.T) string {
	t.Helper()
	n, err := dockerCLI.NetworkInspect(context.Background(), "bridge", network.InspectOptions{})
	if err != nil || len(n.IPAM.Config) == 0 {
		t.Fatalf("inspect the bridge network: %v", err)
	}
	return n.IPAM.Config[0].Subnet
}

// TestNameTaken: a cluster name in use (here only its network exists, as a delete
// that Docker refused to finish leaves it) is refused with the way out, and what
// exists is left alone.
func TestNameTaken(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	_, err := dockerCLI.NetworkCreate(context.Background(), cluster.NetworkName(c.name), network.CreateOptions{
		Labels: map[string]string{cluster.LabelCluster: c.name},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.run("create", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig)
	oneLineError(t, out, err, `cluster "`+c.name+`" was deleted, but its network kindlike-`+c.name+` is left`)
	if _, _, nets := labelled(t, c.name); len(nets) != 1 {
		t.Fatalf("the existing network was touched: %q", nets)
	}
}

// TestFailedCreateCleansUp: a create whose nodes are not Ready within --wait removes
// what it made; with --retain it keeps it.
func TestFailedCreateCleansUp(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	out, err := c.run("create", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig, "--control-planes", "1", "--nodes", "1", "--wait", "1ms")
	oneLineError(t, out, err, "after --wait 1ms")
	assertNothingLabelled(t, c.name)

	out, err = c.run("create", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig, "--control-planes", "1", "--nodes", "0", "--wait", "1ms", "--retain")
	oneLineError(t, out, err, "after --wait 1ms")
	if cs, _, _ := labelled(t, c.name); len(cs) != 1 {
		t.Fatalf("--retain kept containers %q", cs)
	}
	if !strings.Contains(out, "kindlike delete cluster --name "+c.name) {
		t.Errorf("no hint on how to remove what was kept:\n%s", out)
	}
}

// TestInterruptedCreate: Ctrl-C during create removes what it made.
func TestInterruptedCreate(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	cmd := exec.Command(bin, "create", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig, "--control-planes", "3", "--nodes", "3")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the cluster's containers exist.
	eventually(t, 2*time.Minute, "containers created", func() error {
		if cs, _, _ := labelled(t, c.name); len(cs) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	oneLineError(t, out.String(), err, "interrupted")
	assertNothingLabelled(t, c.name)
}
