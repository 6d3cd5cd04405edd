// Package nodeagent is the agent every node runs: it registers the node's Node object,
// renews its Lease, reports status, and runs the pods bound to the node as sibling
// containers through the host's Docker.
package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	dockerclient "github.com/docker/docker/client"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/utils/clock"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/version"
)

// Config is what an agent needs.
type Config struct {
	// Node is the node's config as the host CLI wrote it.
	Node config.Node
	// API reaches the Kubernetes API as this node (client certificate system:node:<name>).
	API *rest.Config
	// DockerHost is the Docker daemon's address; empty means the mounted socket
	// (unix:///var/run/docker.sock), or DOCKER_HOST.
	DockerHost string
	Logger     *slog.Logger
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

type agent struct {
	cfg    Config
	node   config.Node
	client kubernetes.Interface
	docker *dockerclient.Client
	log    *slog.Logger

	// mu guards what the status loop and registration share.
	mu      sync.Mutex
	nodeUID string
	bootID  string
}

func newAgent(cfg Config) (*agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api := rest.CopyConfig(cfg.API)
	api.UserAgent = "kindlike-agent/" + version.Kindlike
	client, err := kubernetes.NewForConfig(api)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	opts := []dockerclient.Opt{dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation()}
	if cfg.DockerHost != "" {
		opts = append(opts, dockerclient.WithHost(cfg.DockerHost))
	}
	docker, err := dockerclient.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &agent{
		cfg: cfg, node: cfg.Node, client: client, docker: docker,
		log: log.With("node", cfg.Node.Name), bootID: newBootID(),
	}, nil
}

func (a *agent) run(ctx context.Context) error {
	defer a.docker.Close()
	if err := a.register(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	run(a.renewLease)
	run(a.reportStatus)
	wg.Wait()
	return nil
}

// renewLease keeps the node's Lease in kube-node-lease fresh: the heartbeat the node
// lifecycle controller watches.
func (a *agent) renewLease(ctx context.Context) {
	t := a.node.Timing
	ctl := lease.NewController(clock.RealClock{}, a.client, a.node.Name,
		int32(t.NodeLeaseDuration.Seconds()), nil, t.NodeLeaseRenewInterval.Duration,
		a.node.Name, corev1.NamespaceNodeLease, a.ownLease)
	ctl.Run(ctx)
}

// ownLease makes the Node the owner of its Lease, so deleting the node deletes it.
func (a *agent) ownLease(l *coordinationv1.Lease) error {
	a.mu.Lock()
	uid := a.nodeUID
	a.mu.Unlock()
	if uid == "" {
		return nil
	}
	l.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: a.node.Name, UID: typesUID(uid),
	}}
	return nil
}

// retry runs f until it succeeds or ctx ends, backing off up to max between tries.
func retry(ctx context.Context, max time.Duration, f func() error) error {
	wait := 200 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait *= 2; wait > max {
			wait = max
		}
	}
}
