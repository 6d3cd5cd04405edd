package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kindlike/kindlike/cluster/loadbalancer"
	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/kubeconfig"
)

// Progress receives the steps of a long operation as they start and end.
type Progress interface {
	Start(step string)
	// Update changes the running step's text.
	Update(step string)
	End(ok bool)
	Printf(format string, args ...any)
}

// CreateOptions say what cluster to make.
type CreateOptions struct {
	// Config is the cluster, its name set, already validated.
	Config *config.Cluster
	// Binary is the static kindlike binary the node image is made of.
	Binary string
	// Kubeconfig is the file the cluster's context is merged into; "" writes none.
	Kubeconfig string
	// Wait bounds the wait for the API and for every node to be Ready; 0 waits only
	// for the API (up to DefaultAPIWait).
	Wait time.Duration
	// Retain keeps what a failed create made, for debugging.
	Retain   bool
	Progress Progress
}

// DefaultAPIWait bounds the wait for the API when nodes are not waited for.
const DefaultAPIWait = 2 * time.Minute

// nodeStopTimeout is how long a stopping node has before it is killed.
const nodeStopTimeout = 10 * time.Second

// plannedNode is a node container about to be made.
type plannedNode struct {
	name, role string
	ip         netip.Addr
	cfg        config.ClusterNode
}

// Create makes a cluster: node image, network, certificates, node containers and,
// for more than one control plane, the API load balancer; it starts them, writes
// the kubeconfig and waits as asked. Anything made is removed again if it fails or
// ctx ends, unless o.Retain.
func Create(ctx context.Context, p Provider, o CreateOptions) (err error) {
	c := o.Config
	name := c.Name
	prog := o.Progress
	if prog == nil {
		prog = discard{}
	}
	if err := p.Ping(ctx); err != nil {
		return err
	}
	if err := checkFree(ctx, p, name); err != nil {
		return err
	}
	timing, err := c.EffectiveTiming()
	if err != nil {
		return err
	}
	apiPort, err := chooseAPIPort(c.Networking.APIServerPort)
	if err != nil {
		return err
	}
	subnet, err := chooseClusterSubnet(ctx, p, c.Networking.Subnet, nil)
	if err != nil {
		return err
	}
	if _, _, err := planNodes(name, c.Nodes, subnet); err != nil {
		return err
	}

	prog.Start("building node image")
	image, built, err := p.EnsureNodeImage(ctx, o.Binary)
	if err != nil {
		prog.End(false)
		return err
	}
	if !built {
		prog.Update("node image " + image + " (already built)")
	} else {
		prog.Update("building node image " + image)
	}
	prog.End(true)

	creds, err := newCredentials(name)
	if err != nil {
		return err
	}

	prog.Start(fmt.Sprintf("creating network %s", NetworkName(name)))
	if subnet, err = createNetwork(ctx, p, name, subnet, c.Networking.Subnet == ""); err != nil {
		prog.End(false)
		return err
	}
	prog.Update(fmt.Sprintf("creating network %s (%s)", NetworkName(name), subnet))
	// From here on the cluster's name is ours (the network name is unique), so
	// everything labelled with it is what this create made.
	defer func() {
		if err == nil {
			return
		}
		prog.End(false)
		if o.Retain {
			prog.Printf("Kept what was made (--retain): `kindlike export logs --name %s` collects its logs, `kindlike delete cluster --name %s` removes it.", name, name)
			return
		}
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if derr := deleteUntilGone(cleanup, p, name); derr != nil {
			err = errors.Join(err, fmt.Errorf("removing what was made: %w", derr))
		}
		if o.Kubeconfig != "" {
			if kerr := kubeconfig.Remove(o.Kubeconfig, ContextName(name)); kerr != nil {
				err = errors.Join(err, kerr)
			}
		}
	}()

	plan, lb, err := planNodes(name, c.Nodes, subnet)
	if err != nil {
		return err
	}
	specs, err := nodeSpecs(name, image, plan, lb, apiPort, timing, config.NetworkFor(subnet), creds)
	if err != nil {
		return err
	}
	prog.Start(fmt.Sprintf("preparing nodes (%d containers)", len(specs)))
	if err := forEach(ctx, specs, func(ctx context.Context, s NodeSpec) error { return p.CreateNode(ctx, s) }); err != nil {
		return err
	}
	prog.End(true)

	var cps, workers []NodeSpec
	var lbSpec *NodeSpec
	for i, s := range specs {
		switch s.Role {
		case config.RoleControlPlane:
			cps = append(cps, s)
		case RoleLoadBalancer:
			lbSpec = &specs[i]
		default:
			workers = append(workers, s)
		}
	}
	if err := startControlPlanes(ctx, p, prog, creds, cps, apiPort); err != nil {
		return err
	}
	if lbSpec != nil {
		prog.Start("starting load balancer " + lbSpec.Name)
		if err := p.StartNode(ctx, lbSpec.Name); err != nil {
			return portError(err, apiPort)
		}
		prog.End(true)
	}
	if len(workers) > 0 {
		prog.Start(fmt.Sprintf("starting workers (%d)", len(workers)))
		if err := forEach(ctx, workers, func(ctx context.Context, s NodeSpec) error { return p.StartNode(ctx, s.Name) }); err != nil {
			return err
		}
		prog.End(true)
	}

	entry := creds.entry(name, hostServer(apiPort))
	if o.Kubeconfig != "" {
		prog.Start(fmt.Sprintf("writing kubeconfig (context %s)", entry.Context))
		if err := kubeconfig.Merge(o.Kubeconfig, entry); err != nil {
			return err
		}
		prog.End(true)
	}
	return waitReady(ctx, p, prog, name, entry, nodeNamesOf(specs), o.Wait, time.Time{})
}

// discard is the Progress of callers that want none.
type discard struct{}

func (discard) Start(string)          {}
func (discard) Update(string)         {}
func (discard) End(bool)              {}
func (discard) Printf(string, ...any) {}

// checkFree fails if anything is labelled with the cluster's name.
func checkFree(ctx context.Context, p Provider, name string) error {
	objs, err := p.Objects(ctx, name)
	if err != nil {
		return err
	}
	if len(objs.Containers) == 0 && len(objs.Volumes) == 0 && len(objs.Networks) > 0 {
		return fmt.Errorf("cluster %q was deleted, but its network %s is left: remove it with `kindlike delete cluster --name %s`, or choose another --name", name, objs.Networks[0].Name, name)
	}
	if !objs.Empty() {
		return fmt.Errorf("cluster %q already exists: delete it first with `kindlike delete cluster --name %s`, or choose another --name", name, name)
	}
	return nil
}

// chooseAPIPort checks the requested host port is free, or finds a free one.
func chooseAPIPort(requested int) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(requested)))
	if err != nil {
		if requested != 0 {
			return 0, fmt.Errorf("networking.apiServerPort: 127.0.0.1:%d is in use; choose another port, or 0 for a free one", requested)
		}
		return 0, fmt.Errorf("find a free port for the API: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port, nil
}

// portError explains the engine's refusal to publish a port that became taken.
func portError(err error, port int) error {
	if s := err.Error(); strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use") {
		return fmt.Errorf("networking.apiServerPort: 127.0.0.1:%d is in use; choose another port, or 0 for a free one", port)
	}
	return err
}

// createNetwork makes the cluster's network. A subnet kindlike chose may have been
// taken meanwhile by another network (another create running at the same time): then
// it chooses again, a few times.
func createNetwork(ctx context.Context, p Provider, name string, subnet netip.Prefix, chosen bool) (netip.Prefix, error) {
	var tried []netip.Prefix
	for attempt := 0; ; attempt++ {
		err := p.CreateNetwork(ctx, name, subnet)
		if err == nil {
			return subnet, nil
		}
		if !chosen || attempt == 4 || !strings.Contains(err.Error(), "overlaps") {
			return netip.Prefix{}, err
		}
		tried = append(tried, subnet)
		if subnet, err = chooseClusterSubnet(ctx, p, "", tried); err != nil {
			return netip.Prefix{}, err
		}
	}
}

// chooseClusterSubnet checks the requested subnet is clear of every network's, or
// picks a free one that is not in avoid either.
func chooseClusterSubnet(ctx context.Context, p Provider, requested string, avoid []netip.Prefix) (netip.Prefix, error) {
	inUse, err := p.Subnets(ctx)
	if err != nil {
		return netip.Prefix{}, err
	}
	inUse = append(inUse, avoid...)
	if requested == "" {
		return chooseSubnet(inUse)
	}
	subnet, err := config.ParseSubnet(requested)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("networking.subnet: %w", err)
	}
	if o := overlapping(subnet, inUse); o.IsValid() {
		return netip.Prefix{}, fmt.Errorf("networking.subnet: %s overlaps %s, the subnet of an existing Docker network; choose another, or leave it out for a free one", subnet, o)
	}
	return subnet, nil
}

// planNodes names the nodes and gives them addresses: control planes first, then
// workers, then the load balancer if there is more than one control plane.
func planNodes(clusterName string, nodes []config.ClusterNode, subnet netip.Prefix) (plan []plannedNode, lb *plannedNode, err error) {
	names, err := nodeNames(clusterName, nodes)
	if err != nil {
		return nil, nil, err
	}
	for _, role := range []string{config.RoleControlPlane, config.RoleWorker} {
		for i, n := range nodes {
			if n.Role == role {
				plan = append(plan, plannedNode{name: names[i], role: role, cfg: n})
			}
		}
	}
	for i := range plan {
		if plan[i].ip, err = nodeIP(subnet, i); err != nil {
			return nil, nil, fmt.Errorf("networking.subnet: %w", err)
		}
	}
	cps := 0
	for _, n := range plan {
		if n.role == config.RoleControlPlane {
			cps++
		}
	}
	if cps > 1 {
		ip, err := nodeIP(subnet, len(plan))
		if err != nil {
			return nil, nil, fmt.Errorf("networking.subnet: %w", err)
		}
		lb = &plannedNode{name: LoadBalancerName(clusterName), role: RoleLoadBalancer, ip: ip}
	}
	return plan, lb, nil
}

// nodeSpecs are the containers of a planned cluster with their files.
func nodeSpecs(clusterName, image string, plan []plannedNode, lb *plannedNode, apiPort int, timing config.Timing, network config.Network, creds *credentials) ([]NodeSpec, error) {
	var peers []config.Peer
	var backends []string
	for _, n := range plan {
		if n.role == config.RoleControlPlane {
			peers = append(peers, config.Peer{Name: n.name, Address: raftAddress(n.name)})
			backends = append(backends, net.JoinHostPort(n.name, strconv.Itoa(config.APIPort)))
		}
	}
	lbName, endpoint := "", peers[0].Name
	if lb != nil {
		lbName, endpoint = lb.name, lb.name
	}
	var specs []NodeSpec
	for _, n := range plan {
		nc := nodeConfig(clusterName, n, timing, internalServer(endpoint))
		nc.Network = network
		if n.role == config.RoleControlPlane {
			nc.ControlPlane = &config.ControlPlaneMember{Peers: peers}
		}
		spec, err := creds.nodeSpec(nc, image, n.ip, lbName)
		if err != nil {
			return nil, err
		}
		if n.role == config.RoleControlPlane && lb == nil {
			spec.APIHostPort = apiPort
		}
		specs = append(specs, spec)
	}
	if lb != nil {
		spec, err := loadBalancerSpec(clusterName, image, lb.ip, apiPort, backends, creds)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func raftAddress(node string) string {
	return net.JoinHostPort(node, strconv.Itoa(config.RaftPort))
}

// nodeConfig is what the node's container runs. Agents on control planes reach their
// own member's API; others the load balancer, or the single control plane.
func nodeConfig(clusterName string, n plannedNode, timing config.Timing, endpoint string) config.Node {
	nc := config.Node{
		APIVersion: config.APIVersion,
		Kind:       config.NodeKind,
		Cluster:    clusterName,
		Name:       n.name,
		Role:       n.role,
		APIServer:  endpoint,
		// Add-on pods (kube-proxy, CoreDNS) reach the API as workers do.
		ClusterAPIServer: endpoint,
		Labels:           n.cfg.Labels,
		Taints:           n.cfg.Taints,
		Capacity:         n.cfg.Capacity,
		Timing:           timing,
	}
	if n.role == config.RoleControlPlane {
		nc.APIServer = hostServer(config.APIPort)
	}
	return nc
}

// nodeSpec is the container of a node: node.yaml and its certificates in, its state
// volume, the Docker socket for its pods, and on control planes the API published on
// the host (on a port of the engine's choosing, unless the caller fixes it).
func (c *credentials) nodeSpec(nc config.Node, image string, ip netip.Addr, lbName string) (NodeSpec, error) {
	nc.Image = image
	b, err := yaml.Marshal(nc)
	if err != nil {
		return NodeSpec{}, err
	}
	files := []File{{Path: config.NodeConfigPath, Mode: 0o644, Data: b}}
	certs, err := c.nodeCertFiles(nc.Name, nc.Role, net.IP(ip.AsSlice()), lbName)
	if err != nil {
		return NodeSpec{}, err
	}
	return NodeSpec{
		Name:         nc.Name,
		Cluster:      nc.Cluster,
		Role:         nc.Role,
		Image:        image,
		Args:         []string{"node"},
		IP:           ip,
		PublishAPI:   nc.Role == config.RoleControlPlane,
		StateVolume:  true,
		Router:       true,
		DockerSocket: true,
		Files:        append(files, certs...),
	}, nil
}

func loadBalancerSpec(clusterName, image string, ip netip.Addr, apiPort int, backends []string, creds *credentials) (NodeSpec, error) {
	cfg, err := loadBalancerConfig(backends)
	if err != nil {
		return NodeSpec{}, err
	}
	return NodeSpec{
		Name:        LoadBalancerName(clusterName),
		Cluster:     clusterName,
		Role:        RoleLoadBalancer,
		Image:       image,
		Args:        []string{"loadbalancer", "--config", loadbalancer.ConfigPath},
		IP:          ip,
		PublishAPI:  true,
		APIHostPort: apiPort,
		Files: []File{
			{Path: loadbalancer.ConfigPath, Mode: 0o644, Data: cfg},
			pkiFile(config.CACert, creds.ca.CertPEM, false),
		},
	}, nil
}

func loadBalancerConfig(backends []string) ([]byte, error) {
	return loadbalancer.Config{
		Listen:   ":" + strconv.Itoa(config.APIPort),
		Backends: backends,
		CAFile:   path.Join(config.NodePKIDir, config.CACert),
	}.Marshal()
}

func nodeNamesOf(specs []NodeSpec) []string {
	var names []string
	for _, s := range specs {
		if s.Role != RoleLoadBalancer {
			names = append(names, s.Name)
		}
	}
	return names
}

// startControlPlanes starts the control planes together and reports each as its API
// process answers /livez (readiness needs a Raft leader, so a quorum, first).
func startControlPlanes(ctx context.Context, p Provider, prog Progress, creds *credentials, cps []NodeSpec, apiPort int) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, len(cps))
	for _, s := range cps {
		go func() {
			err := p.StartNode(ctx, s.Name)
			if err != nil {
				err = portError(err, apiPort)
			} else {
				err = waitLive(ctx, p, creds, s.Name)
			}
			done <- err
		}()
	}
	received := 0
	// Every goroutine is joined before returning, also after a failure: the caller's
	// cleanup must not race a start still under way.
	defer func() {
		cancel()
		for ; received < len(cps); received++ {
			<-done
		}
	}()
	for i := range cps {
		prog.Start(fmt.Sprintf("starting control plane %d/%d", i+1, len(cps)))
		err := <-done
		received++
		if err != nil {
			return err
		}
		prog.End(true)
	}
	return nil
}

// waitLive waits until a control plane's API answers /livez on its host port.
func waitLive(ctx context.Context, p Provider, creds *credentials, name string) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultAPIWait)
	defer cancel()
	err := poll(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		n, err := p.Node(ctx, name)
		if err != nil {
			return err
		}
		if !n.Running() {
			return backoffStop{stoppedError(ctx, p, n)}
		}
		if n.APIHostPort == 0 {
			return errors.New("API port not published yet")
		}
		api, err := newAPIClient(creds.entry("", hostServer(n.APIHostPort)))
		if err != nil {
			return err
		}
		return api.health(ctx, "livez")
	})
	var stop backoffStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("control plane %s did not start: %w", name, err)
	}
	return nil
}

// stoppedErr is a node container that is not running when it should be.
type stoppedErr struct {
	node, state, logs string
}

func (e *stoppedErr) Error() string {
	msg := fmt.Sprintf("node %s is %s", e.node, e.state)
	if e.logs != "" {
		msg += "; its last log lines:\n" + e.logs
	}
	return msg
}

func stoppedError(ctx context.Context, p Provider, n Node) error {
	var buf bytes.Buffer
	_ = p.Logs(ctx, n.Name, &buf)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return &stoppedErr{node: n.Name, state: n.State, logs: strings.Join(lines, "\n")}
}

// checkRunning fails if any of the named node containers is not running, quoting its
// logs: waiting any longer for it would be pointless.
func checkRunning(ctx context.Context, p Provider, clusterName string, names []string) error {
	nodes, err := p.Nodes(ctx, clusterName)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		for _, name := range names {
			if n.Name == name && !n.Running() {
				return stoppedError(ctx, p, n)
			}
		}
	}
	return nil
}

// waitReady waits for the API to be ready (a Raft leader), then, if wait is not 0,
// for every named node to be Ready, all within wait. A node counts only once its
// agent renewed its lease after since (if not zero): a cluster that was stopped
// still shows the Ready conditions of before.
func waitReady(ctx context.Context, p Provider, prog Progress, clusterName string, entry kubeconfig.Entry, nodes []string, wait time.Duration, since time.Time) error {
	bound := wait
	if bound == 0 {
		bound = DefaultAPIWait
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	api, err := newAPIClient(entry)
	if err != nil {
		return err
	}
	prog.Start("waiting for the API (a Raft leader)")
	err = poll(ctx, 200*time.Millisecond, func(ctx context.Context) error {
		if err := checkRunning(ctx, p, clusterName, nodes); err != nil {
			return stopUnlessDone(ctx, err)
		}
		return api.health(ctx, "readyz")
	})
	if err != nil {
		return waitError("the API is not ready", err, wait)
	}
	prog.End(true)
	if wait == 0 {
		return nil
	}
	cs, err := api.clientset()
	if err != nil {
		return err
	}
	step := func(ready int) string { return fmt.Sprintf("waiting for nodes Ready (%d/%d)", ready, len(nodes)) }
	prog.Start(step(0))
	err = poll(ctx, 500*time.Millisecond, func(ctx context.Context) error {
		if err := checkRunning(ctx, p, clusterName, nodes); err != nil {
			return stopUnlessDone(ctx, err)
		}
		ready, nr, err := nodesReady(ctx, cs, nodes, since)
		if err != nil {
			return err
		}
		prog.Update(step(ready))
		if len(nr) > 0 {
			return fmt.Errorf("not Ready: %s", strings.Join(nr, ", "))
		}
		return nil
	})
	if err != nil {
		return waitError("nodes are not Ready", err, wait)
	}
	prog.End(true)
	return waitAddons(ctx, p, prog, clusterName, cs, nodes, wait)
}

// waitAddons waits for what makes Services work: a kube-proxy Ready on every node and
// a CoreDNS replica Ready behind kube-dns.
func waitAddons(ctx context.Context, p Provider, prog Progress, clusterName string, cs kubernetes.Interface, nodes []string, wait time.Duration) error {
	step := func(proxies, dns int) string {
		return fmt.Sprintf("waiting for kube-proxy (%d/%d) and CoreDNS (%d/1)", proxies, len(nodes), min(dns, 1))
	}
	prog.Start(step(0, 0))
	err := poll(ctx, 500*time.Millisecond, func(ctx context.Context) error {
		if err := checkRunning(ctx, p, clusterName, nodes); err != nil {
			return stopUnlessDone(ctx, err)
		}
		var proxies, dns int
		if ds, err := cs.AppsV1().DaemonSets(metav1.NamespaceSystem).Get(ctx, "kube-proxy", metav1.GetOptions{}); err == nil {
			proxies = int(ds.Status.NumberReady)
		}
		if d, err := cs.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{}); err == nil {
			dns = int(d.Status.ReadyReplicas)
		}
		prog.Update(step(proxies, dns))
		if proxies < len(nodes) || dns < 1 {
			return fmt.Errorf("kube-proxy Ready on %d of %d nodes, CoreDNS replicas Ready %d: see `kubectl get pods -n kube-system`", proxies, len(nodes), dns)
		}
		return nil
	})
	if err != nil {
		return waitError("the cluster's add-ons are not Ready", err, wait)
	}
	prog.End(true)
	return nil
}

// stopUnlessDone ends a poll at once with err, unless ctx ended (and err is only
// that).
func stopUnlessDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return backoffStop{err}
}

// backoffStop ends a poll at once: the condition can no longer come true.
type backoffStop struct{ err error }

func (b backoffStop) Error() string { return b.err.Error() }
func (b backoffStop) Unwrap() error { return b.err }

func waitError(what string, err error, wait time.Duration) error {
	var stop backoffStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if errors.Is(err, context.DeadlineExceeded) && wait > 0 {
		return fmt.Errorf("%s after --wait %s: %w", what, wait, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// forEach runs f on every item concurrently; the first error cancels the rest and is
// returned.
func forEach[T any](ctx context.Context, items []T, f func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, it := range items {
		g.Go(func() error { return f(ctx, it) })
	}
	return g.Wait()
}
