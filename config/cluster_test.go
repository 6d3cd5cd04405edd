package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseClusterValid(t *testing.T) {
	c, err := ParseCluster([]byte(`
apiVersion: kindlike.dev/v1alpha1
kind: Cluster
name: demo
nodes:
- role: control-plane
- role: worker
  name: gpu
  labels: {disk: ssd, example.com/zone: a}
  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
  capacity: {cpu: "2", memory: 4Gi, pods: "50"}
networking:
  subnet: 10.210.0.0/20
  apiServerPort: 7443
timing:
  preset: kubernetes
  nodeMonitorGracePeriod: 20s
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "demo" || len(c.Nodes) != 2 || c.Nodes[1].Labels["disk"] != "ssd" || c.Networking.APIServerPort != 7443 {
		t.Fatalf("decoded %+v", c)
	}
	tm, err := c.EffectiveTiming()
	if err != nil {
		t.Fatal(err)
	}
	if tm.NodeMonitorGracePeriod.Duration != 20*time.Second || tm.PodEvictionTimeout.Duration != 300*time.Second {
		t.Fatalf("timing %+v: want the kubernetes preset with a 20s grace period", tm)
	}
}

func TestParseClusterErrors(t *testing.T) {
	head := "apiVersion: kindlike.dev/v1alpha1\nkind: Cluster\n"
	for _, tc := range []struct {
		name, yaml string
		want       string // substring of the error
	}{
		{"unknown top-level field", head + "nodez: []\n", `unknown field "nodez"`},
		{"unknown node field", head + "nodes: [{role: worker, cpus: 2}]\n", `unknown field "nodes[0].cpus"`},
		{"wrong apiVersion", "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n", "apiVersion"},
		{"wrong kind", "apiVersion: kindlike.dev/v1alpha1\nkind: Node\n", "kind:"},
		{"bad duration", head + "timing: {nodeMonitorGracePeriod: soon}\n", `invalid duration "soon"`},
		{"not yaml", head + "nodes: [\n", "yaml"},
		{"port type", head + "networking: {apiServerPort: high}\n", "apiServerPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCluster([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Cluster {
		return &Cluster{APIVersion: APIVersion, Kind: ClusterKind, Name: "demo", Nodes: DefaultNodes(3, 2)}
	}
	for _, tc := range []struct {
		name   string
		change func(c *Cluster)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*Cluster) {}, ""},
		{"empty name", func(c *Cluster) { c.Name = "" }, "name: must not be empty"},
		{"upper-case name", func(c *Cluster) { c.Name = "Demo" }, "name: \"Demo\" is not a valid name"},
		{"long name", func(c *Cluster) { c.Name = strings.Repeat("a", 41) }, "at most 40"},
		{"no nodes", func(c *Cluster) { c.Nodes = nil }, "nodes: a cluster needs at least one control-plane"},
		{"only workers", func(c *Cluster) { c.Nodes = DefaultNodes(0, 2) }, "no node has role control-plane"},
		{"bad role", func(c *Cluster) { c.Nodes[1].Role = "master" }, `nodes[1].role: "master" is not a role`},
		{"missing role", func(c *Cluster) { c.Nodes[1].Role = "" }, "nodes[1].role: missing"},
		{"bad node name", func(c *Cluster) { c.Nodes[3].Name = "GPU_1" }, `nodes[3].name: "GPU_1" is not a valid name`},
		{"duplicate node name", func(c *Cluster) { c.Nodes[3].Name, c.Nodes[4].Name = "a", "a" }, "nodes[4].name: \"a\" is already the name of nodes[3]"},
		{"load balancer name", func(c *Cluster) { c.Nodes[3].Name = "external-load-balancer" }, "load balancer"},
		{"bad label key", func(c *Cluster) { c.Nodes[3].Labels = map[string]string{"a b": "c"} }, `nodes[3].labels: key "a b" is invalid`},
		{"bad label value", func(c *Cluster) { c.Nodes[3].Labels = map[string]string{"a": "b c"} }, `nodes[3].labels[a]: value "b c" is invalid`},
		{"bad taint effect", func(c *Cluster) { c.Nodes[3].Taints = []Taint{{Key: "a", Effect: "Never"}} }, `nodes[3].taints[0].effect: "Never" is not an effect`},
		{"bad taint key", func(c *Cluster) { c.Nodes[3].Taints = []Taint{{Key: "", Effect: "NoSchedule"}} }, "nodes[3].taints[0].key"},
		{"unknown capacity", func(c *Cluster) { c.Nodes[3].Capacity = map[string]string{"gpu": "1"} }, `nodes[3].capacity: "gpu" is not a resource`},
		{"bad quantity", func(c *Cluster) { c.Nodes[3].Capacity = map[string]string{"memory": "lots"} }, `nodes[3].capacity.memory: "lots" is not a quantity`},
		{"negative quantity", func(c *Cluster) { c.Nodes[3].Capacity = map[string]string{"cpu": "-1"} }, "nodes[3].capacity.cpu: must be positive"},
		{"subnet not CIDR", func(c *Cluster) { c.Networking.Subnet = "10.1.2.3" }, "networking.subnet: \"10.1.2.3\" is not a CIDR"},
		{"subnet IPv6", func(c *Cluster) { c.Networking.Subnet = "fd00::/64" }, "not IPv4"},
		{"subnet small", func(c *Cluster) { c.Networking.Subnet = "10.1.2.0/25" }, "too small"},
		{"subnet host bits", func(c *Cluster) { c.Networking.Subnet = "10.1.2.5/24" }, "did you mean 10.1.2.0/24"},
		{"subnet in service range", func(c *Cluster) { c.Networking.Subnet = "10.100.0.0/16" }, "Service range"},
		{"port range", func(c *Cluster) { c.Networking.APIServerPort = 70000 }, "networking.apiServerPort: 70000 is not a port"},
		{"timing preset", func(c *Cluster) { c.Timing.Preset = "fast" }, `timing.preset: unknown timing "fast"`},
		{"timing order", func(c *Cluster) { c.Timing.NodeLeaseRenewInterval = Duration{time.Minute} }, "timing.nodeLeaseRenewInterval (1m0s) must be shorter"},
		{"timing negative", func(c *Cluster) { c.Timing.PodEvictionTimeout = Duration{-time.Second} }, "timing.podEvictionTimeout: must be a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(c)
			_, err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateWarnsOnEvenControlPlanes(t *testing.T) {
	c := &Cluster{APIVersion: APIVersion, Kind: ClusterKind, Name: "demo", Nodes: DefaultNodes(2, 0)}
	warnings, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "odd number") {
		t.Fatalf("warnings %q", warnings)
	}
	c.Nodes = DefaultNodes(3, 0)
	if warnings, _ := c.Validate(); len(warnings) != 0 {
		t.Fatalf("warnings for 3 control planes: %q", warnings)
	}
}

// TestExampleConfigs keeps the examples in configs/ valid.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../configs/cluster-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no configs/cluster-*.yaml examples found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadCluster(f)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name == "" {
				c.Name = DefaultClusterName
			}
			if _, err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadClusterMissingFile(t *testing.T) {
	_, err := LoadCluster(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("error %v, want not-exist", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
