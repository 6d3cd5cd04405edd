// Package runtime runs pods as Docker containers: one pause container per pod that owns
// the pod's network, IPC namespace and hostname, and the pod's own containers joined to
// it, every one labelled so that the agent can find them again after a restart.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/kindlike/kindlike/config"
)

// Labels on every container and volume the agent makes. The cluster and node labels
// are the ones `kindlike delete cluster` and `kindlike remove node` select by (one
// contract, defined in config); the pod labels are the ones kubelet's
// Docker integration used, so tools that know those understand ours.
const (
	LabelCluster = config.LabelCluster
	LabelNode    = config.LabelNode

	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelPodUID       = "io.kubernetes.pod.uid"
	// LabelType is TypeSandbox for pause containers, TypeContainer or TypeInit for the
	// pod's containers.
	LabelType          = "io.kubernetes.docker.type"
	LabelContainerName = "io.kubernetes.container.name"
	LabelRestartCount  = "io.kubernetes.container.restartCount"
	LabelAttempt       = "kindlike.attempt"
	// LabelSandboxID ties a container to the pause container it was joined to.
	LabelSandboxID = "io.kubernetes.sandbox.id"
	// LabelHash is a hash of the container's spec: a changed spec restarts it.
	LabelHash = "io.kubernetes.container.hash"
	// LabelImage is the image as the pod spec names it.
	LabelImage = "kindlike.image"
	// LabelGracePeriod is the pod's termination grace period, for killing containers
	// of a pod the API no longer knows.
	LabelGracePeriod = "io.kubernetes.pod.terminationGracePeriod"
	// LabelTerminationMessagePath is where the container writes its termination message.
	LabelTerminationMessagePath = "io.kubernetes.container.terminationMessagePath"
	// LabelPorts lists the container's ports ("9876/tcp,53/udp").
	LabelPorts = "io.kubernetes.container.ports"
	// LabelVolume names the pod volume a Docker volume holds.
	LabelVolume = "kindlike.volume"
	// LabelPersistentVolume names the PersistentVolume a cluster's Docker volume backs.
	LabelPersistentVolume = "kindlike.persistentvolume"

	TypeSandbox   = "podsandbox"
	TypeContainer = "container"
	TypeInit      = "init"
)

// Runtime is the Docker engine as one node sees it.
type Runtime struct {
	docker  *dockerclient.Client
	cluster string
	node    string

	// mu guards inspected, a cache of container inspections: a container only moves
	// forward (created, running, exited) and is never restarted by us, so the
	// inspection of a running or exited one stays right as long as the listed state
	// is the same. A created one is not cached: a failed start leaves it listed as
	// created, with the engine's error only in a new inspection.
	mu        sync.Mutex
	inspected map[string]cachedInspect

	// changes counts the calls that create, start, stop or remove containers: a list
	// taken when it read the same still shows every change the agent made since.
	changes atomic.Uint64
}

type cachedInspect struct {
	state string
	c     Container
}

// New makes a runtime for node of cluster on the engine docker talks to.
func New(docker *dockerclient.Client, cluster, node string) *Runtime {
	return &Runtime{docker: docker, cluster: cluster, node: node, inspected: map[string]cachedInspect{}}
}

// PodRef names a pod as the labels do.
type PodRef struct {
	Namespace, Name, UID string
}

func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// State is a container's state as Kubernetes distinguishes them.
type State string

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Container is one container of a pod as found in Docker.
type Container struct {
	ID   string
	Name string // Docker's name, without the leading slash
	Pod  PodRef
	// Type is TypeSandbox, TypeContainer or TypeInit.
	Type string
	// ContainerName is the name in the pod spec; empty for sandboxes.
	ContainerName string
	SandboxID     string
	Attempt       int
	Hash          string
	Image         string // as the pod spec names it
	ImageRef      string // the engine's image ID
	GracePeriod   int64
	TermMsgPath   string

	State      State
	ExitCode   int
	OOMKilled  bool
	Error      string // the engine's error starting it
	CreatedAt  string
	StartedAt  string
	FinishedAt string
	TTY        bool
	// IP is the sandbox's address on the cluster network.
	IP string
}

// Running reports whether the container's process runs.
func (c Container) Running() bool { return c.State == StateRunning }

// ContainerName names a pod container as kubelet did, so `docker ps` tells whose it is:
// k8s_<container>_<pod>_<namespace>_<uid>_<attempt>; the pause container is k8s_POD_....
func ContainerName(container string, pod PodRef, attempt int) string {
	return fmt.Sprintf("k8s_%s_%s_%s_%s_%d", container, pod.Name, pod.Namespace, pod.UID, attempt)
}

// SandboxName is the pause container's name.
func SandboxName(pod PodRef, attempt int) string { return ContainerName("POD", pod, attempt) }

func (r *Runtime) baseLabels(pod PodRef) map[string]string {
	return map[string]string{
		LabelCluster: r.cluster, LabelNode: r.node,
		LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace, LabelPodUID: pod.UID,
	}
}

func (r *Runtime) nodeFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelCluster+"="+r.cluster), filters.Arg("label", LabelNode+"="+r.node))
}

// Changes counts the agent's own changes to containers so far: a listing taken
// after Changes returned n is as good as a new one while Changes still says n (up to
// what others, such as a container's own exit, changed meanwhile).
func (r *Runtime) Changes() uint64 { return r.changes.Load() }

// PodContainers lists the containers (pause included) of the pod with uid, in any state.
func (r *Runtime) PodContainers(ctx context.Context, uid string) ([]Container, error) {
	f := r.nodeFilter()
	f.Add("label", LabelPodUID+"="+uid)
	return r.list(ctx, f)
}

// AllContainers lists every container of every pod of this node.
func (r *Runtime) AllContainers(ctx context.Context) ([]Container, error) {
	return r.list(ctx, r.nodeFilter())
}

func (r *Runtime) list(ctx context.Context, f filters.Args) ([]Container, error) {
	list, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Container, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		seen[s.ID] = true
		c, err := r.inspectCached(ctx, s.ID, string(s.State))
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Forget drops cached inspections of containers that are gone.
func (r *Runtime) Forget(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.inspected, id)
	}
}

func (r *Runtime) inspectCached(ctx context.Context, id, state string) (Container, error) {
	r.mu.Lock()
	c, ok := r.inspected[id]
	r.mu.Unlock()
	if ok && c.state == state {
		return c.c, nil
	}
	got, err := r.Inspect(ctx, id)
	if err != nil {
		return Container{}, err
	}
	if state != string(container.StateRunning) && state != string(container.StateExited) {
		return got, nil
	}
	r.mu.Lock()
	r.inspected[id] = cachedInspect{state: state, c: got}
	r.mu.Unlock()
	return got, nil
}

// Inspect reads one container.
func (r *Runtime) Inspect(ctx context.Context, id string) (Container, error) {
	j, err := r.docker.ContainerInspect(ctx, id)
	if err != nil {
		return Container{}, err
	}
	return fromInspect(j), nil
}

func fromInspect(j container.InspectResponse) Container {
	c := Container{}
	if j.ContainerJSONBase != nil {
		c.ID = j.ID
		c.Name = strings.TrimPrefix(j.Name, "/")
		c.ImageRef = j.Image
		c.CreatedAt = j.Created
		if s := j.State; s != nil {
			switch {
			case s.Running || s.Paused || s.Restarting:
				c.State = StateRunning
			case s.Status == container.StateCreated:
				c.State = StateCreated
			case s.Status == container.StateExited || s.Status == container.StateDead:
				c.State = StateExited
			default:
				c.State = StateUnknown
			}
			c.ExitCode, c.OOMKilled, c.Error = s.ExitCode, s.OOMKilled, s.Error
			c.StartedAt, c.FinishedAt = s.StartedAt, s.FinishedAt
		}
	}
	if cfg := j.Config; cfg != nil {
		l := cfg.Labels
		c.Pod = PodRef{Namespace: l[LabelPodNamespace], Name: l[LabelPodName], UID: l[LabelPodUID]}
		c.Type = l[LabelType]
		c.ContainerName = l[LabelContainerName]
		c.SandboxID = l[LabelSandboxID]
		c.Attempt, _ = strconv.Atoi(l[LabelAttempt])
		c.Hash = l[LabelHash]
		c.Image = l[LabelImage]
		c.GracePeriod, _ = strconv.ParseInt(l[LabelGracePeriod], 10, 64)
		c.TermMsgPath = l[LabelTerminationMessagePath]
		c.TTY = cfg.Tty
	}
	if ns := j.NetworkSettings; ns != nil {
		for _, ep := range ns.Networks {
			if ep != nil && ep.IPAddress != "" {
				c.IP = ep.IPAddress
				break
			}
		}
	}
	return c
}

// Start starts a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.changes.Add(1)
	return r.docker.ContainerStart(ctx, id, container.StartOptions{})
}

func isNotRunning(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is not running")
}

// Remove removes a container, killing it if it still runs.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.changes.Add(1)
	err := r.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	r.Forget(id)
	if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// IsNotFound reports whether err says a container, image or volume does not exist.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// errNoNetwork says the node container has no network to put pods on.
var errNoNetwork = errors.New("the node container is on no network")

// StopBy stops a container with its stop signal (SIGTERM unless its image says
// otherwise), and SIGKILL at deadline, or as soon as urgent says so.
func (r *Runtime) StopBy(ctx context.Context, id string, deadline time.Time, urgent func() bool) error {
	j, err := r.docker.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.State == nil || !j.State.Running {
		return nil
	}
	r.changes.Add(1)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, errs := r.docker.ContainerWait(waitCtx, id, container.WaitConditionNotRunning)
	// kill sends SIGKILL and waits a little for the exit to be recorded.
	kill := func() error {
		if err := r.docker.ContainerKill(ctx, id, "KILL"); err != nil && !cerrdefs.IsNotFound(err) && !isNotRunning(err) {
			return err
		}
		select {
		case <-exited:
		case <-errs:
		case <-time.After(2 * time.Second):
		}
		return nil
	}
	if !time.Now().Before(deadline) {
		return kill()
	}
	signal := "TERM"
	if j.Config != nil && j.Config.StopSignal != "" {
		signal = j.Config.StopSignal
	}
	if err := r.docker.ContainerKill(ctx, id, signal); err != nil {
		if cerrdefs.IsNotFound(err) || isNotRunning(err) {
			return nil
		}
		return err
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return nil
		case <-errs:
			// The wait broke off; look again, then kill if need be.
			if c, err := r.Inspect(ctx, id); err == nil && !c.Running() {
				return nil
			}
			return kill()
		case <-timer.C:
			return kill()
		case <-tick.C:
			if urgent != nil && urgent() {
				return kill()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
