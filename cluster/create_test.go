package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kindlike/kindlike/cluster/loadbalancer"
	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/kubeconfig"
)

func testConfig(name string, cps, workers int) *config.Cluster {
	return &config.Cluster{APIVersion: config.APIVersion, Kind: config.ClusterKind, Name: name, Nodes: config.DefaultNodes(cps, workers)}
}

// planned returns the specs Create would make for a cluster.
func planned(t *testing.T, c *config.Cluster, apiPort int) ([]NodeSpec, *credentials) {
	t.Helper()
	subnet := netipPrefix(t, "10.200.0.0/20")
	plan, lb, err := planNodes(c.Name, c.Nodes, subnet)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := newCredentials(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := c.EffectiveTiming()
	specs, err := nodeSpecs(c.Name, "kindlike/node:test", plan, lb, apiPort, tm, config.NetworkFor(subnet), creds)
	if err != nil {
		t.Fatal(err)
	}
	return specs, creds
}

func fileOf(t *testing.T, s NodeSpec, path string) []byte {
	t.Helper()
	for _, f := range s.Files {
		if f.Path == path {
			return f.Data
		}
	}
	t.Fatalf("%s has no file %s", s.Name, path)
	return nil
}

func nodeYAML(t *testing.T, s NodeSpec) config.Node {
	t.Helper()
	var n config.Node
	if err := yaml.UnmarshalStrict(fileOf(t, s, config.NodeConfigPath), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func certOf(t *testing.T, s NodeSpec, name string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(fileOf(t, s, filepath.Join(config.NodePKIDir, name+".crt")))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeSpecsHA(t *testing.T) {
	specs, _ := planned(t, testConfig("demo", 3, 2), 40000)
	var names, ips []string
	for _, s := range specs {
		names = append(names, s.Name)
		ips = append(ips, s.IP.String())
	}
	wantNames := []string{"demo-control-plane", "demo-control-plane2", "demo-control-plane3", "demo-worker", "demo-worker2", "demo-external-load-balancer"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("containers %q, want %q", names, wantNames)
	}
	if !slices.Equal(ips, []string{"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.5", "10.200.0.6", "10.200.0.7"}) {
		t.Fatalf("addresses %q", ips)
	}
	for _, s := range specs {
		switch s.Role {
		case config.RoleControlPlane:
			if !s.PublishAPI || s.APIHostPort != 0 || !s.StateVolume || !s.DockerSocket || s.Args[0] != "node" {
				t.Errorf("%s: %+v: want API published on a port of the engine's choosing, state volume, socket", s.Name, s)
			}
			n := nodeYAML(t, s)
			if n.APIServer != "https://127.0.0.1:6443" || n.ControlPlane == nil || len(n.ControlPlane.Peers) != 3 || n.ControlPlane.Join {
				t.Errorf("%s node.yaml: %+v", s.Name, n)
			}
			if n.ControlPlane.Peers[1] != (config.Peer{Name: "demo-control-plane2", Address: "demo-control-plane2:6444"}) {
				t.Errorf("peers addressed by container name: %+v", n.ControlPlane.Peers)
			}
			serving := certOf(t, s, config.APIServerName)
			for _, want := range []string{s.Name, "localhost", "demo-external-load-balancer", "kubernetes.default.svc"} {
				if !slices.Contains(serving.DNSNames, want) {
					t.Errorf("%s serving certificate lacks %s: %q", s.Name, want, serving.DNSNames)
				}
			}
			if err := serving.VerifyHostname("127.0.0.1"); err != nil {
				t.Errorf("serving certificate: %v", err)
			}
			if err := serving.VerifyHostname(s.IP.String()); err != nil {
				t.Errorf("serving certificate: %v", err)
			}
			peer := certOf(t, s, config.PeerName)
			if !slices.Contains(peer.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(peer.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
				t.Errorf("peer certificate usages %v", peer.ExtKeyUsage)
			}
			admin := certOf(t, s, adminName)
			if !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
				t.Errorf("admin certificate organizations %q", admin.Subject.Organization)
			}
			fileOf(t, s, filepath.Join(config.NodePKIDir, caKeyFile))
		case config.RoleWorker:
			if s.PublishAPI || !s.StateVolume || !s.DockerSocket {
				t.Errorf("%s: %+v", s.Name, s)
			}
			n := nodeYAML(t, s)
			if n.APIServer != "https://demo-external-load-balancer:6443" || n.ControlPlane != nil || n.Timing != config.DemoTiming() {
				t.Errorf("%s node.yaml: %+v", s.Name, n)
			}
			for _, f := range s.Files {
				if strings.HasSuffix(f.Path, ".key") && !strings.HasSuffix(f.Path, config.AgentName+".key") {
					t.Errorf("worker %s holds %s", s.Name, f.Path)
				}
			}
		case RoleLoadBalancer:
			if !s.PublishAPI || s.APIHostPort != 40000 || s.StateVolume || s.DockerSocket {
				t.Errorf("%s: %+v", s.Name, s)
			}
			var lb loadbalancer.Config
			if err := yaml.Unmarshal(fileOf(t, s, loadbalancer.ConfigPath), &lb); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lb.Backends, []string{"demo-control-plane:6443", "demo-control-plane2:6443", "demo-control-plane3:6443"}) {
				t.Errorf("load balancer backends %q", lb.Backends)
			}
		}
		if s.Role != RoleLoadBalancer {
			agent := certOf(t, s, config.AgentName)
			if agent.Subject.CommonName != "system:node:"+s.Name || !slices.Equal(agent.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("%s agent certificate subject %v", s.Name, agent.Subject)
			}
		}
	}
}

func TestNodeSpecsSingleControlPlane(t *testing.T) {
	c := testConfig("solo", 1, 1)
	c.Nodes[1].Labels = map[string]string{"disk": "ssd"}
	c.Nodes[1].Taints = []config.Taint{{Key: "a", Effect: "NoSchedule"}}
	c.Timing.Preset = config.TimingKubernetes
	specs, _ := planned(t, c, 40001)
	if len(specs) != 2 {
		t.Fatalf("%d containers; a single control plane needs no load balancer", len(specs))
	}
	if specs[0].APIHostPort != 40001 {
		t.Errorf("control plane publishes the API on %d, want 40001", specs[0].APIHostPort)
	}
	w := nodeYAML(t, specs[1])
	if w.APIServer != "https://solo-control-plane:6443" || w.Labels["disk"] != "ssd" || len(w.Taints) != 1 || w.Timing != config.KubernetesTiming() {
		t.Errorf("worker node.yaml %+v", w)
	}
}

// createWith runs Create against the fake with a kubeconfig in a temp dir.
func createWith(t *testing.T, ctx context.Context, f *fakeProvider, c *config.Cluster, retain bool) (*recorder, string, error) {
	t.Helper()
	rec := &recorder{}
	kc := filepath.Join(t.TempDir(), "config")
	err := Create(ctx, f, CreateOptions{Config: c, Binary: "/kindlike", Kubeconfig: kc, Wait: time.Minute, Retain: retain, Progress: rec})
	return rec, kc, err
}

func assertNothingLeft(t *testing.T, f *fakeProvider, cluster, kc string) {
	t.Helper()
	objs, _ := f.Objects(context.Background(), cluster)
	if !objs.Empty() {
		t.Fatalf("left behind: %+v", objs)
	}
	if cfg, err := clientcmd.LoadFromFile(kc); err == nil {
		if _, ok := cfg.Contexts[ContextName(cluster)]; ok {
			t.Fatal("kubeconfig context left behind")
		}
	}
}

func TestCreateFailureRemovesWhatItMade(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		failCreate, failStart string
	}{
		{"node container", "demo-worker2", ""},
		{"load balancer container", "demo-external-load-balancer", ""},
		{"start", "", "demo-control-plane2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProvider()
			f.failCreate, f.failStart = tc.failCreate, tc.failStart
			rec, kc, err := createWith(t, context.Background(), f, testConfig("demo", 3, 2), false)
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("error %v", err)
			}
			assertNothingLeft(t, f, "demo", kc)
			if last := rec.steps[len(rec.steps)-1]; !strings.HasPrefix(last, "✗ ") {
				t.Errorf("steps %q: want the failed one marked ✗", rec.steps)
			}
		})
	}
}

func TestCreateRetainKeepsWhatItMade(t *testing.T) {
	f := newFakeProvider()
	f.failCreate = "demo-worker2"
	rec, _, err := createWith(t, context.Background(), f, testConfig("demo", 3, 2), true)
	if err == nil {
		t.Fatal("no error")
	}
	objs, _ := f.Objects(context.Background(), "demo")
	if len(objs.Networks) != 1 || len(objs.Containers) == 0 {
		t.Fatalf("with --retain, kept %+v", objs)
	}
	if !strings.Contains(strings.Join(rec.steps, "\n"), "kindlike delete cluster --name demo") {
		t.Errorf("no hint on how to remove it: %q", rec.steps)
	}
}

func TestCreateInterruptedRemovesWhatItMade(t *testing.T) {
	f := newFakeProvider()
	f.createDelay = 50 * time.Millisecond
	f.created = make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.created // cancel once something exists
		cancel()
	}()
	_, kc, err := createWith(t, ctx, f, testConfig("demo", 3, 5), false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	assertNothingLeft(t, f, "demo", kc)
}

func TestCreateRefusesExistingCluster(t *testing.T) {
	f := newFakeProvider()
	if err := f.CreateNetwork(context.Background(), "demo", netipPrefix(t, "10.200.0.0/20")); err != nil {
		t.Fatal(err)
	}
	_, _, err := createWith(t, context.Background(), f, testConfig("demo", 1, 0), false)
	if err == nil || !strings.Contains(err.Error(), `cluster "demo" was deleted, but its network kindlike-demo is left: remove it with `+"`kindlike delete cluster --name demo`") {
		t.Fatalf("error %v", err)
	}
	if objs, _ := f.Objects(context.Background(), "demo"); len(objs.Networks) != 1 {
		t.Fatal("the existing cluster's network was removed")
	}
}

func TestCreateBadNetworking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name   string
		change func(c *config.Cluster)
		want   string
	}{
		{"port in use", func(c *config.Cluster) { c.Networking.APIServerPort = busy }, "networking.apiServerPort: 127.0.0.1:" + strconv.Itoa(busy) + " is in use"},
		{"subnet in use", func(c *config.Cluster) { c.Networking.Subnet = "10.210.4.0/24" }, "networking.subnet: 10.210.4.0/24 overlaps 10.210.0.0/16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProvider()
			f.subnets = append(f.subnets, netipPrefix(t, "10.210.0.0/16"))
			c := testConfig("demo", 1, 1)
			tc.change(c)
			_, kc, err := createWith(t, context.Background(), f, c, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			assertNothingLeft(t, f, "demo", kc)
		})
	}
}

// fakeCluster makes a cluster's containers in the fake, running, without Create's waits.
func fakeCluster(t *testing.T, f *fakeProvider, c *config.Cluster) {
	t.Helper()
	specs, _ := planned(t, c, 40002)
	ctx := context.Background()
	if err := f.CreateNetwork(ctx, c.Name, netipPrefix(t, "10.200.0.0/20")); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if err := f.CreateNode(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := f.StartNode(ctx, s.Name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddWorker(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 3, 2))
	ctx := context.Background()
	if err := f.DeleteContainer(ctx, "demo-worker"); err != nil { // frees 10.200.0.5
		t.Fatal(err)
	}
	name, err := AddNode(ctx, f, AddNodeOptions{Cluster: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if name != "demo-worker3" {
		t.Errorf("added %s, want demo-worker3", name)
	}
	n, err := f.Node(ctx, name)
	if err != nil || n.State != "running" || n.IP.String() != "10.200.0.5" || n.Image != "kindlike/node:test" {
		t.Fatalf("added node %+v, %v", n, err)
	}
	nc := nodeYAML(t, f.containers[name].spec)
	if nc.APIServer != "https://demo-external-load-balancer:6443" || nc.Timing != config.DemoTiming() {
		t.Errorf("node.yaml %+v", nc)
	}
}

func TestAddControlPlaneNeedsLoadBalancer(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 1, 1))
	_, err := AddNode(context.Background(), f, AddNodeOptions{Cluster: "demo", ControlPlane: true})
	if err == nil || !strings.Contains(err.Error(), "no load balancer") {
		t.Fatalf("error %v", err)
	}
}

func TestRemoveNodeRefusals(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 1, 1))
	for _, tc := range []struct{ node, want string }{
		{"demo-nope", `no node "demo-nope"`},
		{"demo-control-plane", "last control plane"},
	} {
		err := RemoveNode(context.Background(), f, "demo", tc.node, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("remove %s: %v, want %q", tc.node, err, tc.want)
		}
	}
	f2 := newFakeProvider()
	fakeCluster(t, f2, testConfig("demo", 3, 0))
	err := RemoveNode(context.Background(), f2, "demo", "demo-external-load-balancer", nil)
	if err == nil || !strings.Contains(err.Error(), "load balancer") {
		t.Errorf("remove load balancer: %v", err)
	}
}

func TestRemoveWorker(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 1, 2))
	rec := &recorder{}
	// The API is not there: the Node object cannot be deleted, which is a warning.
	if err := RemoveNode(context.Background(), f, "demo", "demo-worker2", rec); err != nil {
		t.Fatal(err)
	}
	objs, _ := f.Objects(context.Background(), "demo")
	for _, o := range append(objs.Containers, objs.Volumes...) {
		if o.Name == "demo-worker2" {
			t.Fatalf("%s left behind", o.Name)
		}
	}
	if len(objs.Containers) != 2 {
		t.Errorf("containers left: %+v", objs.Containers)
	}
	if !strings.Contains(strings.Join(rec.steps, "\n"), "kubectl delete node demo-worker2") {
		t.Errorf("no warning about the Node object: %q", rec.steps)
	}
}

func TestDeleteAndList(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("one", 3, 1))
	fakeCluster(t, f, testConfig("two", 1, 0))
	ctx := context.Background()
	kc := filepath.Join(t.TempDir(), "config")
	if err := kubeconfig.Merge(kc, kubeconfig.Entry{Context: ContextName("one"), Server: "https://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	names, err := List(ctx, f)
	if err != nil || !slices.Equal(names, []string{"one", "two"}) {
		t.Fatalf("List: %q, %v", names, err)
	}
	found, err := Delete(ctx, f, "one", kc)
	if err != nil || !found {
		t.Fatalf("Delete: %v, %v", found, err)
	}
	assertNothingLeft(t, f, "one", kc)
	if names, _ := List(ctx, f); !slices.Equal(names, []string{"two"}) {
		t.Fatalf("after delete: %q", names)
	}
	if found, err := Delete(ctx, f, "one", kc); found || err != nil {
		t.Fatalf("deleting again: %v, %v", found, err)
	}
}

func TestStopStart(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 3, 1))
	ctx := context.Background()
	if err := Stop(ctx, f, "demo", nil); err != nil {
		t.Fatal(err)
	}
	nodes, _ := f.Nodes(ctx, "demo")
	for _, n := range nodes {
		if n.Running() {
			t.Errorf("%s still running", n.Name)
		}
	}
	if err := Stop(ctx, f, "nope", nil); err == nil || !strings.Contains(err.Error(), `no cluster named "nope"`) {
		t.Errorf("stop of a missing cluster: %v", err)
	}
}

func TestKubeconfigEntry(t *testing.T) {
	f := newFakeProvider()
	fakeCluster(t, f, testConfig("demo", 3, 1))
	ctx := context.Background()
	e, err := Kubeconfig(ctx, f, "demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Server != "https://127.0.0.1:40002" || e.Context != "kindlike-demo" || len(e.ClientCert) == 0 || len(e.CA) == 0 {
		t.Fatalf("entry %+v", e)
	}
	in, err := Kubeconfig(ctx, f, "demo", true)
	if err != nil || in.Server != "https://demo-external-load-balancer:6443" {
		t.Fatalf("internal entry %+v, %v", in.Server, err)
	}
	f2 := newFakeProvider()
	fakeCluster(t, f2, testConfig("solo", 1, 0))
	in, err = Kubeconfig(ctx, f2, "solo", true)
	if err != nil || in.Server != "https://solo-control-plane:6443" {
		t.Fatalf("internal entry of a single control plane %+v, %v", in.Server, err)
	}
}
