package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
)

// NodeContainer is what pods need of the node's own container: its PID namespace,
// which every pod container joins so that killing the node ends its pods as a
// machine's death would, and its network, where pods get their addresses.
type NodeContainer struct {
	ID      string
	Name    string
	Running bool
	// Network is the cluster network: the node container's network, the one named
	// preferred when it has several.
	Network string
	// IP is the node's address on Network.
	IP string
}

// Node inspects the node container called name, choosing preferred among its networks
// when it has several.
func (r *Runtime) Node(ctx context.Context, name, preferred string) (NodeContainer, error) {
	j, err := r.docker.ContainerInspect(ctx, name)
	if err != nil {
		return NodeContainer{}, fmt.Errorf("inspect node container %s: %w", name, err)
	}
	n := NodeContainer{ID: j.ID, Name: name, Running: j.State != nil && j.State.Running}
	if j.NetworkSettings == nil || len(j.NetworkSettings.Networks) == 0 {
		return n, fmt.Errorf("node container %s: %w", name, errNoNetwork)
	}
	names := make([]string, 0, len(j.NetworkSettings.Networks))
	for k := range j.NetworkSettings.Networks {
		names = append(names, k)
	}
	sort.Strings(names)
	n.Network = names[0]
	if _, ok := j.NetworkSettings.Networks[preferred]; ok {
		n.Network = preferred
	}
	if ep := j.NetworkSettings.Networks[n.Network]; ep != nil {
		n.IP = ep.IPAddress
	}
	return n, nil
}

// DNS is what pods' resolv.conf says; empty fields keep Docker's (its embedded
// server on user networks, which answers container names).
type DNS struct {
	Servers, Searches, Options []string
}

// SandboxSpec describes a pod's pause container.
type SandboxSpec struct {
	Pod     PodRef
	Attempt int
	Image   string
	// Hostname and Domainname are what every container of the pod sees.
	Hostname, Domainname string
	Node                 NodeContainer
	DNS                  DNS
	// ExtraHosts are /etc/hosts lines ("name:ip") from the pod's hostAliases.
	ExtraHosts  []string
	GracePeriod int64
	// Mounts give the pause container every volume of the pod, so files can be
	// written into them through it (see WriteFiles).
	Mounts []Mount
	// Sysctls are the pod's namespaced sysctls, set on its network namespace.
	Sysctls map[string]string
	// HostNetwork puts the pod in the node container's network namespace: the
	// node's "host network".
	HostNetwork bool
	// Gateway, when set, is the pod's default route (its node's address): the pause
	// container sets it as root with CAP_NET_ADMIN, which no other container of the
	// pod gets.
	Gateway string
}

// VolumeRoot is where the pause container mounts the pod's volumes, one directory
// per volume; the agent writes configMap, secret and downward API files there.
const VolumeRoot = "/.kindlike/volumes"

// CreateSandbox creates and starts a pod's pause container and returns it with its IP.
func (r *Runtime) CreateSandbox(ctx context.Context, s SandboxSpec) (Container, error) {
	labels := r.baseLabels(s.Pod)
	labels[LabelType] = TypeSandbox
	labels[LabelAttempt] = strconv.Itoa(s.Attempt)
	labels[LabelGracePeriod] = strconv.FormatInt(s.GracePeriod, 10)
	cfg := &container.Config{
		Image:      s.Image,
		Hostname:   s.Hostname,
		Domainname: s.Domainname,
		Labels:     labels,
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(s.Node.Network),
		IpcMode:     container.IPCModeShareable,
		PidMode:     container.PidMode("container:" + s.Node.ID),
		DNS:         s.DNS.Servers,
		DNSSearch:   s.DNS.Searches,
		DNSOptions:  s.DNS.Options,
		ExtraHosts:  s.ExtraHosts,
		Sysctls:     s.Sysctls,
		Mounts:      dockerMounts(s.Mounts),
		// The pause container takes a few bytes; its logs none.
		LogConfig: container.LogConfig{Type: "none"},
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Node.Network: {}}}
	if s.Gateway != "" && !s.HostNetwork {
		cfg.Cmd = []string{"-gateway", s.Gateway}
		cfg.User = "0"
		host.CapAdd = []string{"NET_ADMIN"}
	}
	if s.HostNetwork {
		host.NetworkMode = container.NetworkMode("container:" + s.Node.ID)
		host.DNS, host.DNSSearch, host.DNSOptions, host.ExtraHosts, host.Sysctls = nil, nil, nil, nil, nil
		cfg.Hostname, cfg.Domainname = "", ""
		netCfg = nil
	}
	name := SandboxName(s.Pod, s.Attempt)
	r.changes.Add(1)
	created, err := r.docker.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
	if err != nil {
		return Container{}, fmt.Errorf("create sandbox %s: %w", name, err)
	}
	if err := r.docker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = r.Remove(context.WithoutCancel(ctx), created.ID)
		return Container{}, fmt.Errorf("start sandbox %s: %w", name, err)
	}
	return r.Inspect(ctx, created.ID)
}

// Mount is a volume or directory of the engine's host mounted into a container.
type Mount struct {
	// Volume is a Docker volume's name; HostPath a path on the engine's host (bind).
	Volume, HostPath string
	Target           string
	ReadOnly         bool
}

func dockerMounts(ms []Mount) []mount.Mount {
	out := make([]mount.Mount, 0, len(ms))
	for _, m := range ms {
		if m.Volume != "" {
			// NoCopy: an emptyDir starts empty, whatever the image has at the mount point.
			out = append(out, mount.Mount{Type: mount.TypeVolume, Source: m.Volume, Target: m.Target, ReadOnly: m.ReadOnly,
				VolumeOptions: &mount.VolumeOptions{NoCopy: true}})
			continue
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.Target, ReadOnly: m.ReadOnly,
			// Sources are under the daemon root (volumes), where Docker wants rslave.
			BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave}})
	}
	return out
}
