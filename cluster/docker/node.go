package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/config"
)

// apiPort is the control plane's (and load balancer's) API port inside the network.
var apiPort = nat.Port(strconv.Itoa(config.APIPort) + "/tcp")

// stopTimeout is how long a node has to stop cleanly before it is killed: enough for
// the control plane to close its Raft store.
const stopTimeout = 10

// CreateNode makes a node container, and its state volume, without starting it.
//
// The restart policy is unless-stopped: a node that crashes comes back, and so does
// every node when the Docker daemon restarts (a reboot), but one stopped by `docker
// stop`, `docker kill` or `kindlike stop cluster` stays down until started again.
func (p *Provider) CreateNode(ctx context.Context, spec cluster.NodeSpec) error {
	netName := cluster.NetworkName(spec.Cluster)
	cfg := &container.Config{
		Hostname:    spec.Name,
		Image:       spec.Image,
		Cmd:         spec.Args,
		Labels:      labels(spec.Cluster, spec.Role),
		StopTimeout: ptr(stopTimeout),
	}
	init := true
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(netName),
		// tini as PID 1 reaps the orphans of pod processes that join the node's PID
		// namespace, and passes SIGTERM on to kindlike.
		Init:          &init,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
	}
	if spec.Router {
		// The node routes its pods' traffic, as a real node does: kube-proxy's rules
		// (CAP_NET_ADMIN, in the node's own network namespace) turn Service addresses
		// into pod addresses on the way. Redirects would teach pods to skip the node.
		host.CapAdd = []string{"NET_ADMIN", "NET_RAW"}
		host.Sysctls = map[string]string{
			"net.ipv4.ip_forward":                  "1",
			"net.ipv4.conf.all.send_redirects":     "0",
			"net.ipv4.conf.default.send_redirects": "0",
			"net.ipv4.conf.eth0.send_redirects":    "0",
		}
	}
	if spec.PublishAPI {
		hostPort := ""
		if spec.APIHostPort != 0 {
			hostPort = strconv.Itoa(spec.APIHostPort)
		}
		cfg.ExposedPorts = nat.PortSet{apiPort: struct{}{}}
		host.PortBindings = nat.PortMap{apiPort: {{HostIP: "127.0.0.1", HostPort: hostPort}}}
	}
	if spec.StateVolume {
		if _, err := p.cli.VolumeInspect(ctx, spec.Name); err == nil {
			return fmt.Errorf("create node %s: a volume named %s already exists; remove it with `docker volume rm %s`", spec.Name, spec.Name, spec.Name)
		}
		if _, err := p.cli.VolumeCreate(ctx, volume.CreateOptions{Name: spec.Name, Labels: labels(spec.Cluster, spec.Role)}); err != nil {
			return fmt.Errorf("create volume %s: %w", spec.Name, err)
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: spec.Name, Target: config.NodeStateDir})
	}
	if spec.DockerSocket {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: p.socket, Target: config.DockerSocket})
	}
	endpoint := &network.EndpointSettings{}
	if spec.IP.IsValid() {
		endpoint.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: spec.IP.String()}
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: endpoint}}
	created, err := p.cli.ContainerCreate(ctx, cfg, host, netCfg, nil, spec.Name)
	if err != nil {
		return fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	if len(spec.Files) > 0 {
		if err := p.WriteFiles(ctx, created.ID, spec.Files); err != nil {
			return fmt.Errorf("create node %s: %w", spec.Name, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// Nodes lists a cluster's node and load balancer containers (not the pods the agents
// run, which carry the cluster label but another role).
func (p *Provider) Nodes(ctx context.Context, clusterName string) ([]cluster.Node, error) {
	list, err := p.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: clusterFilter(clusterName)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []cluster.Node
	for _, c := range list {
		role := c.Labels[cluster.LabelRole]
		if !isNodeRole(role) || len(c.Names) == 0 {
			continue
		}
		n := cluster.Node{
			Name:    strings.TrimPrefix(c.Names[0], "/"),
			Cluster: c.Labels[cluster.LabelCluster],
			Role:    role,
			State:   c.State,
			Status:  c.Status,
			Image:   c.Image,
		}
		if c.NetworkSettings != nil {
			n.IP = endpointIP(c.NetworkSettings.Networks[cluster.NetworkName(n.Cluster)])
		}
		for _, port := range c.Ports {
			if port.PrivatePort == config.APIPort && port.PublicPort != 0 && port.IP == "127.0.0.1" {
				n.APIHostPort = int(port.PublicPort)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func isNodeRole(role string) bool {
	return role == config.RoleControlPlane || role == config.RoleWorker || role == cluster.RoleLoadBalancer
}

// endpointIP is the container's fixed address, else the one it was given.
func endpointIP(ep *network.EndpointSettings) netip.Addr {
	if ep == nil {
		return netip.Addr{}
	}
	if ep.IPAMConfig != nil {
		if a, err := netip.ParseAddr(ep.IPAMConfig.IPv4Address); err == nil {
			return a
		}
	}
	a, _ := netip.ParseAddr(ep.IPAddress)
	return a
}

// Node inspects one container.
func (p *Provider) Node(ctx context.Context, name string) (cluster.Node, error) {
	c, err := p.cli.ContainerInspect(ctx, name)
	if err != nil {
		return cluster.Node{}, fmt.Errorf("inspect %s: %w", name, notFound(err))
	}
	n := cluster.Node{Name: strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		n.Cluster, n.Role, n.Image = c.Config.Labels[cluster.LabelCluster], c.Config.Labels[cluster.LabelRole], c.Config.Image
	}
	if c.State != nil {
		n.State = c.State.Status
		n.Status = c.State.Status
	}
	if c.NetworkSettings != nil {
		n.IP = endpointIP(c.NetworkSettings.Networks[cluster.NetworkName(n.Cluster)])
		n.APIHostPort = hostPort(c.NetworkSettings.Ports)
	}
	if n.APIHostPort == 0 && c.HostConfig != nil {
		n.APIHostPort = hostPort(c.HostConfig.PortBindings)
	}
	return n, nil
}

func hostPort(m nat.PortMap) int {
	for _, b := range m[apiPort] {
		if port, err := strconv.Atoi(b.HostPort); err == nil && port != 0 {
			return port
		}
	}
	return 0
}

// StartNode starts a container.
func (p *Provider) StartNode(ctx context.Context, name string) error {
	if err := p.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", name, notFound(err))
	}
	return nil
}

// StopNode stops a container: SIGTERM, then SIGKILL after timeout.
func (p *Provider) StopNode(ctx context.Context, name string, timeout time.Duration) error {
	secs := int(timeout.Seconds())
	if err := p.cli.ContainerStop(ctx, name, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop %s: %w", name, notFound(err))
	}
	return nil
}

// DeleteContainer removes a container, killing it if it runs.
func (p *Provider) DeleteContainer(ctx context.Context, name string) error {
	if err := p.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("remove container %s: %w", name, notFound(err))
	}
	return nil
}

// DeleteVolume removes a volume.
func (p *Provider) DeleteVolume(ctx context.Context, name string) error {
	if err := p.cli.VolumeRemove(ctx, name, true); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, notFound(err))
	}
	return nil
}

// Objects lists what carries the cluster label.
func (p *Provider) Objects(ctx context.Context, clusterName string) (cluster.Objects, error) {
	var out cluster.Objects
	f := clusterFilter(clusterName)
	cs, err := p.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return out, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		o := object(name, c.Labels)
		o.State = string(c.State)
		out.Containers = append(out.Containers, o)
	}
	vs, err := p.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return out, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		out.Volumes = append(out.Volumes, object(v.Name, v.Labels))
	}
	ns, err := p.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return out, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		out.Networks = append(out.Networks, object(n.Name, n.Labels))
	}
	return out, nil
}

func object(name string, l map[string]string) cluster.Object {
	return cluster.Object{Name: name, Cluster: l[cluster.LabelCluster], Role: l[cluster.LabelRole], Node: l[cluster.LabelNode]}
}

// WriteFiles copies files into a container through a tar archive extracted at /.
func (p *Provider) WriteFiles(ctx context.Context, name string, files []cluster.File) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, f := range files {
		rel := strings.TrimPrefix(path.Clean(f.Path), "/")
		// Parent directories first, so they are made with sane modes.
		var parents []string
		for d := path.Dir(rel); d != "." && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Name: parents[i] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: mode, Size: int64(len(f.Data)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := p.cli.CopyToContainer(ctx, name, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy files into %s: %w", name, notFound(err))
	}
	return nil
}

// ReadFile copies one file out of a container.
func (p *Provider) ReadFile(ctx context.Context, name, filePath string) ([]byte, error) {
	rc, _, err := p.cli.CopyFromContainer(ctx, name, filePath)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", filePath, name, notFound(err))
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("read %s from %s: %w", filePath, name, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// Logs writes the container's stdout and stderr, interleaved, with timestamps.
func (p *Provider) Logs(ctx context.Context, name string, w io.Writer) error {
	rc, err := p.cli.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("logs of %s: %w", name, notFound(err))
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(w, w, rc)
	return err
}

// Inspect returns docker inspect's JSON for a container, indented.
func (p *Provider) Inspect(ctx context.Context, name string) ([]byte, error) {
	_, raw, err := p.cli.ContainerInspectWithRaw(ctx, name, false)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, notFound(err))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return raw, nil
	}
	return out.Bytes(), nil
}

// MemoryUsage is what docker stats shows as MEM USAGE: usage less inactive file
// pages (cgroup v1: total_inactive_file, v2: inactive_file).
func (p *Provider) MemoryUsage(ctx context.Context, name string) (uint64, error) {
	resp, err := p.cli.ContainerStatsOneShot(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stats of %s: %w", name, notFound(err))
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("stats of %s: %w", name, err)
	}
	m := st.MemoryStats
	for _, key := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[key]; ok && v < m.Usage {
			return m.Usage - v, nil
		}
	}
	return m.Usage, nil
}
