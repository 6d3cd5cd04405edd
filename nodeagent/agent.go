// Package nodeagent is the agent every node runs: it registers the node's Node object,
// renews its Lease, reports status, and runs the pods bound to the node as sibling
// containers through the host's Docker.
package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	dockerclient "github.com/docker/docker/client"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/images"
	"github.com/kindlike/kindlike/nodeagent/probes"
	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/pki"
	"github.com/kindlike/kindlike/version"
)

// Config is what an agent needs. Beyond Node, API and Logger, every field has a
// default that fits an agent running in its node container.
type Config struct {
	// Node is the node's config as the host CLI wrote it.
	Node config.Node
	// API reaches the Kubernetes API as this node (client certificate system:node:<name>).
	API *rest.Config
	// DockerHost is the Docker daemon's address; empty means the mounted socket
	// (unix:///var/run/docker.sock), or DOCKER_HOST.
	DockerHost string
	Logger     *slog.Logger

	// NodeContainer is the node's own Docker container (default: the node's name).
	// Pod containers join its PID namespace, so that killing it ends them, and pods
	// get their addresses on its network.
	NodeContainer string
	// Address is the node's InternalIP, where the API server reaches the agent
	// (default: the node container's address on its network).
	Address string
	// Listen is where the agent serves logs, exec, attach and port-forward to the API
	// server (default ":10250"); the node's status reports the port.
	Listen string
	// Serving is the agent's TLS certificate, and ClientCA the CA (PEM) whose client
	// certificates it accepts; empty, both are read from config.NodePKIDir
	// (agent.crt and agent.key, ca.crt).
	Serving  pki.KeyPair
	ClientCA []byte
	// PauseImage is the image of pods' pause containers (default DefaultPauseImage).
	PauseImage string
	// ClusterDNS are the cluster DNS servers pods with dnsPolicy ClusterFirst use, and
	// ClusterDomain their search domain (default cluster.local). Without servers, pods
	// resolve through Docker's own DNS.
	ClusterDNS    []string
	ClusterDomain string
	// RoutePods makes each pod's node its default route, as on a real cluster where
	// the node routes its pods' traffic: Service addresses are translated by the
	// node's kube-proxy rules, and nothing for them reaches the host's routing.
	RoutePods bool
	// StateDir is the node's state volume as the agent sees it, and StateVolume that
	// volume's Docker name (defaults config.NodeStateDir and the node's name): pods'
	// resolv.conf files are written there and bound into their containers.
	StateDir, StateVolume string
	// SyncInterval is how often every pod is looked at even when nothing signalled a
	// change (default 10s).
	SyncInterval time.Duration
}

// DefaultPauseImage is the pause image pods get unless configured otherwise.
const DefaultPauseImage = images.PauseImage

// withDefaults fills the fields left empty.
func (c Config) withDefaults() Config {
	if c.NodeContainer == "" {
		c.NodeContainer = c.Node.Name
	}
	if c.Listen == "" {
		c.Listen = ":" + strconv.Itoa(AgentPort)
	}
	if c.PauseImage == "" {
		c.PauseImage = DefaultPauseImage
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.StateDir == "" {
		c.StateDir = config.NodeStateDir
	}
	if c.StateVolume == "" {
		c.StateVolume = c.Node.Name
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 10 * time.Second
	}
	return c
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

	// mu guards what the status loop, registration and pod workers share.
	mu      sync.Mutex
	nodeUID string
	bootID  string
	// address is the node's InternalIP; port the agent's serving port.
	address string
	port    int
	// stateMP is the engine's path of the node's state volume.
	stateMP string
	// nodeCtr is the node's container as last inspected.
	nodeCtr runtime.NodeContainer
	// states holds what the agent remembers of each pod between syncs.
	states map[string]*podState

	rt       *runtime.Runtime
	pods     cache.SharedIndexInformer
	source   *apiSource
	services corelisters.ServiceLister
	recorder record.EventRecorder
	workers  *podWorkers
	probes   *probes.Manager
	// crashes and pulls are the restart and image pull back-offs, per container.
	crashes, pulls *flowcontrol.Backoff
	images         *imageCache
	// reclaim wakes the loop that removes deleted PersistentVolumes' Docker volumes.
	reclaim chan struct{}
}

func newAgent(cfg Config) (*agent, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	} else {
		// client-go and the streaming library log through klog: send it where
		// everything else goes, as the control plane does. klog's logger is the
		// process's: the first agent sets it.
		klogOnce.Do(func() { klog.SetSlogLogger(log) })
	}
	api := rest.CopyConfig(cfg.API)
	api.UserAgent = "kindlike-agent/" + version.Kindlike
	if api.QPS == 0 {
		// kubelet's defaults (kubeAPIQPS, kubeAPIBurst): pods starting together post
		// statuses and events in bursts.
		api.QPS, api.Burst = 50, 100
	}
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
		states:  map[string]*podState{},
		source:  &apiSource{client: client},
		rt:      runtime.New(docker, cfg.Node.Cluster, cfg.Node.Name),
		crashes: flowcontrol.NewBackOff(crashBackoffInitial, crashBackoffMax),
		pulls:   flowcontrol.NewBackOff(crashBackoffInitial, crashBackoffMax),
		images:  newImageCache(),
		reclaim: make(chan struct{}, 1),
	}, nil
}

var klogOnce sync.Once

// Kubernetes' restart and image pull back-off: 10s, doubling up to 5 minutes.
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 300 * time.Second
)

func (a *agent) run(ctx context.Context) error {
	defer a.docker.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := a.newServer()
	if err != nil {
		return err
	}
	if err := a.findNodeContainer(ctx); err != nil {
		return err
	}
	if err := a.register(ctx); err != nil {
		return err
	}
	recorder, stopRecorder := newRecorder(a.client, a.node.Name)
	defer stopRecorder()
	a.recorder = recorder
	a.probes = probes.NewManager(ctx, a, a)
	a.workers = newPodWorkers(ctx, a.syncPod, a.log)
	defer a.workers.wait()
	if err := a.startInformers(ctx); err != nil {
		return err
	}
	// Pods are looked at only once the agent knows every pod bound to the node.
	a.workers.begin()

	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	run(srv.serve)
	run(a.renewLease)
	run(a.reportStatus)
	run(a.housekeeping)
	run(a.reclaimVolumes)
	run(func(ctx context.Context) { a.rt.WatchPods(ctx, a.workers.enqueue) })
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
