// Package cluster creates, inspects, changes and deletes kindlike clusters: node
// containers on one Docker network, an API load balancer, certificates and kubeconfig.
// It speaks to the container engine only through Provider, whose Docker
// implementation is cluster/docker.
package cluster

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/kindlike/kindlike/config"
)

// Labels on every container, network and volume kindlike makes: the contract with
// the node agents, defined in config.
const (
	LabelCluster = config.LabelCluster
	LabelRole    = config.LabelRole
	LabelNode    = config.LabelNode
	// LabelImage marks images kindlike built, so cleanup can find them.
	LabelImage = "kindlike"
)

// RoleLoadBalancer is the role of the API load balancer container; nodes have
// config.RoleControlPlane or config.RoleWorker.
const RoleLoadBalancer = "external-load-balancer"

// Provider is what a container engine must do for kindlike. Everything it lists it
// finds by label; names are container, network and volume names.
type Provider interface {
	// Ping checks the engine is reachable, saying where it was looked for if not.
	Ping(ctx context.Context) error
	// EnsureNodeImage makes the node image from the kindlike binary at path, unless
	// an image of that exact binary exists; it returns the image reference.
	EnsureNodeImage(ctx context.Context, binary string) (ref string, built bool, err error)

	// Subnets lists the IPv4 subnets of every network of the engine, ours or not.
	Subnets(ctx context.Context) ([]netip.Prefix, error)
	// CreateNetwork makes the cluster's network; it fails if the name is taken.
	CreateNetwork(ctx context.Context, cluster string, subnet netip.Prefix) error
	// Network returns the cluster's network subnet; ok is false if there is none.
	Network(ctx context.Context, cluster string) (subnet netip.Prefix, ok bool, err error)

	// CreateNode makes a node container (and, if asked, its state volume) without
	// starting it, and copies its files in.
	CreateNode(ctx context.Context, spec NodeSpec) error
	// Nodes lists the containers of a cluster, or of every cluster if cluster is "".
	Nodes(ctx context.Context, cluster string) ([]Node, error)
	// Node inspects one container.
	Node(ctx context.Context, name string) (Node, error)
	StartNode(ctx context.Context, name string) error
	StopNode(ctx context.Context, name string, timeout time.Duration) error
	// Objects lists every container (nodes, and pods the agents run), volume and
	// network labelled with the cluster, or with any cluster if cluster is "".
	Objects(ctx context.Context, cluster string) (Objects, error)
	// DeleteContainer removes a container, running or not; its volumes stay.
	DeleteContainer(ctx context.Context, name string) error
	DeleteVolume(ctx context.Context, name string) error
	DeleteNetwork(ctx context.Context, name string) error

	// WriteFiles copies files into a container, running or not.
	WriteFiles(ctx context.Context, name string, files []File) error
	// ReadFile copies one file out of a container, running or not.
	ReadFile(ctx context.Context, name, path string) ([]byte, error)
	// Logs writes a container's output (stdout and stderr) to w.
	Logs(ctx context.Context, name string, w io.Writer) error
	// Inspect returns the engine's description of a container, as JSON.
	Inspect(ctx context.Context, name string) ([]byte, error)
	// MemoryUsage is a running container's memory use as the engine accounts it
	// (docker stats: usage less page cache).
	MemoryUsage(ctx context.Context, name string) (uint64, error)
}

// NodeSpec is a container to create.
type NodeSpec struct {
	Name    string // container name and host name
	Cluster string
	Role    string // control-plane, worker or external-load-balancer
	Image   string
	// Args are the binary's arguments ("node", or "loadbalancer" and its flags).
	Args []string
	// IP is the container's fixed address on the cluster network.
	IP netip.Addr
	// PublishAPI publishes the API port on 127.0.0.1; APIHostPort is the host port, 0
	// for one the engine chooses at every start.
	PublishAPI  bool
	APIHostPort int
	// StateVolume mounts a labelled volume named Name at config.NodeStateDir.
	StateVolume bool
	// Router lets the node forward its pods' traffic and program packet rules
	// (kube-proxy): IP forwarding on, CAP_NET_ADMIN.
	Router bool
	// DockerSocket mounts the engine's socket, for agents that run pods beside the node.
	DockerSocket bool
	// Files are copied in before the container first starts.
	Files []File
}

// File is a file to copy into a container.
type File struct {
	Path string
	Mode int64
	Data []byte
}

// Node is a container of a cluster as the engine reports it.
type Node struct {
	Name    string
	Cluster string
	Role    string
	// State is the engine's: created, running, paused, restarting, exited, dead.
	State string
	// Status is the engine's human form, e.g. "Up 3 minutes".
	Status string
	IP     netip.Addr
	// APIHostPort is the 127.0.0.1 port the container's API port is published on, 0
	// if none (or not running with a port the engine chose).
	APIHostPort int
	Image       string
}

// Running reports whether the container runs.
func (n Node) Running() bool { return n.State == "running" }

// Object is a container, volume or network carrying kindlike's labels.
type Object struct {
	Name, Cluster, Role string
	// Node is the LabelNode label: the node a pod's container or volume belongs to.
	Node string
	// State is a container's state as the engine says it (created, running, exited...).
	State string
}

// Objects are what the engine holds of one cluster, or of all.
type Objects struct {
	Containers, Volumes, Networks []Object
}

// Empty reports whether nothing is left.
func (o Objects) Empty() bool {
	return len(o.Containers)+len(o.Volumes)+len(o.Networks) == 0
}

// ErrNotFound is returned (wrapped) for a container, network or file that does not exist.
var ErrNotFound = errors.New("not found")
