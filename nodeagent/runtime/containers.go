package runtime

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// ContainerSpec is one container of a pod, as the engine needs it.
type ContainerSpec struct {
	Pod     PodRef
	Sandbox Container
	Node    NodeContainer
	// Name is the container's name in the pod spec; Init marks init containers.
	Name    string
	Init    bool
	Attempt int
	Hash    string
	// Image is the pod spec's image; ImageRef what the engine resolved it to.
	Image, ImageRef string
	// Entrypoint and Cmd replace the image's when non-nil (Kubernetes' command and args).
	Entrypoint, Cmd []string
	Env             []string
	WorkingDir      string
	User            string
	GroupAdd        []string
	Mounts          []Mount
	Ports           []Port
	TTY             bool
	Stdin           bool
	StdinOnce       bool

	// Resources: bytes; CPU quota over a 100ms period; relative shares.
	MemoryLimit int64
	CPUQuota    int64
	CPUShares   int64

	Privileged     bool
	CapAdd         []string
	CapDrop        []string
	ReadOnlyRootFS bool
	NoNewPrivs     bool

	GracePeriod int64
	TermMsgPath string
}

// Port is a container port, recorded on the container for inspection.
type Port struct {
	Port     int32
	Protocol string // tcp, udp or sctp
}

// CPUPeriod is the CFS period CPU limits are expressed against, as kubelet's.
const CPUPeriod = 100000

// CreateContainer creates (without starting) a pod container joined to its sandbox.
func (r *Runtime) CreateContainer(ctx context.Context, s ContainerSpec) (string, error) {
	labels := r.baseLabels(s.Pod)
	labels[LabelType] = TypeContainer
	if s.Init {
		labels[LabelType] = TypeInit
	}
	labels[LabelContainerName] = s.Name
	labels[LabelRestartCount] = strconv.Itoa(s.Attempt)
	labels[LabelAttempt] = strconv.Itoa(s.Attempt)
	labels[LabelSandboxID] = s.Sandbox.ID
	labels[LabelHash] = s.Hash
	labels[LabelImage] = s.Image
	labels[LabelGracePeriod] = strconv.FormatInt(s.GracePeriod, 10)
	if s.TermMsgPath != "" {
		labels[LabelTerminationMessagePath] = s.TermMsgPath
	}
	image := s.ImageRef
	if image == "" {
		image = s.Image
	}
	cfg := &container.Config{
		Image:      image,
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		Env:        s.Env,
		WorkingDir: s.WorkingDir,
		User:       s.User,
		Labels:     labels,
		Tty:        s.TTY,
		OpenStdin:  s.Stdin,
		StdinOnce:  s.StdinOnce,
		// Attach needs the streams wired at creation.
		AttachStdin:  s.Stdin,
		AttachStdout: true,
		AttachStderr: true,
	}
	// Docker refuses exposed ports beside a joined network: record them as a label.
	if len(s.Ports) > 0 {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
		labels[LabelPorts] = strings.Join(ports, ",")
	}
	sandbox := "container:" + s.Sandbox.ID
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(sandbox),
		IpcMode:     container.IpcMode(sandbox),
		PidMode:     container.PidMode("container:" + s.Node.ID),
		Mounts:      dockerMounts(s.Mounts),
		GroupAdd:    s.GroupAdd,
		Privileged:  s.Privileged,
		CapAdd:      s.CapAdd,
		CapDrop:     s.CapDrop,
		// Logs as kubelet keeps them: a few rotated files per container.
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
		ReadonlyRootfs: s.ReadOnlyRootFS,
		Resources: container.Resources{
			CPUShares: s.CPUShares,
		},
	}
	if s.MemoryLimit > 0 {
		host.Memory = s.MemoryLimit
		// No swap beyond the limit, as on a node without swap.
		host.MemorySwap = s.MemoryLimit
	}
	if s.CPUQuota > 0 {
		host.CPUQuota = s.CPUQuota
		host.CPUPeriod = CPUPeriod
	}
	if s.NoNewPrivs {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
	}
	name := ContainerName(s.Name, s.Pod, s.Attempt)
	r.changes.Add(1)
	created, err := r.docker.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return "", err
	}
	return created.ID, nil
}
