package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/kindlike/kindlike/cluster"
)

// TestPods runs the tutorials' pod manifests unmodified on a real cluster: agents in
// their node containers run the pods beside them, the API server reaches the
// agents over TLS for logs, exec and port-forward, and killing a worker's container
// ends its pods' containers.
func TestPods(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.create("--control-planes", "1", "--nodes", "2")
	c.mustKubectl("create", "ns", "demo")
	for _, f := range []string{"01-twocontainers-pod.yaml", "02-shared-volume-pod.yaml", "03-probes-pod.yaml",
		"04-lifecycle-pod.yaml", "05-init-containers-pod.yaml", "10-configmap-secret.yaml"} {
		c.mustKubectl("apply", "-f", scenario(t, f))
	}
	c.waitFor(90*time.Second, `twocontainers\s+2/2\s+Running`, "get", "pod", "twocontainers")
	if out := c.mustKubectl("exec", "twocontainers", "-c", "shell", "--", "curl", "-s", "localhost:9876/info"); !strings.Contains(out, "0.5.0") {
		t.Errorf("curl localhost from the shell container: %q", out)
	}
	if out := c.mustKubectl("logs", "twocontainers", "-c", "sise"); !strings.Contains(out, "9876") {
		t.Errorf("logs of sise: %q", out)
	}
	c.waitFor(60*time.Second, `two-containers\s+1/2`, "get", "pod", "two-containers")
	if out := c.mustKubectl("exec", "two-containers", "-c", "nginx-container", "--", "cat", "/usr/share/nginx/html/index.html"); out != "Hello from the debian container\n" {
		t.Errorf("shared volume: %q", out)
	}
	c.waitFor(60*time.Second, `probe-demo\s+1/1\s+Running`, "get", "pod", "probe-demo", "-n", "demo")
	c.waitFor(60*time.Second, `lifecycle-demo\s+1/1\s+Running`, "get", "pod", "lifecycle-demo", "-n", "demo")
	if out := c.mustKubectl("exec", "lifecycle-demo", "-n", "demo", "--", "cat", "/usr/share/message"); out != "Hello from the postStart handler\n" {
		t.Errorf("postStart: %q", out)
	}
	c.waitFor(60*time.Second, `myapp-demo\s+0/1\s+Init:0/2`, "get", "pod", "myapp-demo", "-n", "demo")
	c.waitFor(60*time.Second, `config-demo\s+1/1\s+Running`, "get", "pod", "config-demo", "-n", "demo")
	c.waitFor(20*time.Second, `lang=en password=s3cr3t\ngreeting=hello\ncolor=blue`, "logs", "config-demo", "-n", "demo")

	// Deleting runs preStop (nginx -s quit) and leaves nothing of the pod.
	c.mustKubectl("delete", "pod", "lifecycle-demo", "-n", "demo")
	if left := podContainers(t, c.name, "demo", "lifecycle-demo", true); len(left) > 0 {
		t.Errorf("containers of a deleted pod left: %q", left)
	}

	// Killing a worker's container ends the pods on it.
	node := strings.TrimSpace(c.mustKubectl("get", "pod", "twocontainers", "-o", "jsonpath={.spec.nodeName}"))
	onNode := podContainers(t, c.name, "", "", false)
	if err := kill(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pod containers of the killed node stop", func() error {
		var running []string
		for _, name := range podContainers(t, c.name, "", "", false) {
			if strings.Contains(name, "twocontainers") {
				running = append(running, name)
			}
		}
		if len(running) > 0 {
			return fmt.Errorf("still running: %q", running)
		}
		return nil
	})
	t.Logf("pod containers running before the kill: %d", len(onNode))
}

// podContainers lists the names of a cluster's pod containers (of one pod, when ns
// and pod are given), running ones unless all.
func podContainers(t *testing.T, clusterName, ns, pod string, all bool) []string {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", cluster.LabelCluster+"="+clusterName), filters.Arg("label", "io.kubernetes.pod.uid"))
	if pod != "" {
		f.Add("label", "io.kubernetes.pod.namespace="+ns)
		f.Add("label", "io.kubernetes.pod.name="+pod)
	}
	list, err := dockerCLI.ContainerList(context.Background(), container.ListOptions{All: all, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		out = append(out, strings.TrimPrefix(c.Names[0], "/"))
	}
	return out
}
