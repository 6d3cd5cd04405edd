package config

// Paths inside a node container. The host CLI copies the node config and certificates
// in before the container starts; the node's state lives on a labelled volume.
const (
	NodeConfigPath = "/etc/kindlike/node.yaml"
	NodePKIDir     = "/etc/kindlike/pki"
	NodeStateDir   = "/var/lib/kindlike"
	DockerSocket   = "/var/run/docker.sock"
	// APIPort is the API port of control-plane nodes (and of the load balancer) on the
	// cluster network; RaftPort is the control planes' peer port.
	APIPort  = 6443
	RaftPort = 6444
)

// Files in NodePKIDir. Control-plane nodes have all; workers have the CA and their
// agent's client certificate.
const (
	CACert        = "ca.crt"
	APIServerName = "apiserver" // apiserver.crt, apiserver.key: serving certificate
	PeerName      = "peer"      // peer.crt, peer.key: Raft peer port, both ends
	AgentName     = "agent"     // agent.crt, agent.key: the node agent's client certificate (CN system:node:<name>, O system:nodes), also its serving certificate on AgentPort (DNS name: the node's name)
	// KubeletClientName names the client certificate control planes show node agents
	// when proxying logs, exec, attach and port-forward
	// (apiserver-kubelet-client.crt, .key: CN KubeletClientCN, O system:masters).
	KubeletClientName = "apiserver-kubelet-client"
	KubeletClientCN   = "kube-apiserver-kubelet-client"
)

// Node is what one node container runs: written by `kindlike create cluster` to
// NodeConfigPath, read by `kindlike node`.
type Node struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Cluster is the cluster's name; Name the node's (its container name).
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	// ControlPlane is set on control-plane nodes: this node's Raft membership.
	ControlPlane *ControlPlaneMember `json:"controlPlane,omitempty"`
	// APIServer is the URL the agent reaches the API at, e.g.
	// https://kindlike-external-load-balancer:6443.
	APIServer string `json:"apiServer"`
	// ClusterAPIServer is the URL pods of the cluster's add-ons reach the API at from
	// any node: the load balancer, or the single control plane.
	ClusterAPIServer string `json:"clusterAPIServer,omitempty"`
	// Image is the node image the node runs; the cluster's add-ons (kube-proxy,
	// CoreDNS) run its kindlike binary too.
	Image  string            `json:"image,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
	// Capacity overrides the host's, e.g. {"cpu": "2", "memory": "4Gi", "pods": "110"}.
	Capacity map[string]string `json:"capacity,omitempty"`
	Timing   Timing            `json:"timing"`
	// Network is the cluster's address plan (absent in configs of kindlike before
	// Services: WithDefaults fills it from the subnet).
	Network Network `json:"network,omitempty"`
}

// ControlPlaneMember is a control-plane node's part of the Raft group.
type ControlPlaneMember struct {
	// Peers is every voter as name and peer address (host:port), this node included,
	// addressed by container name so restarts cannot break the group.
	Peers []Peer `json:"peers"`
	// Join is set on a control plane added to a running cluster (`kindlike add node
	// --control-plane`): it must not bootstrap a group with Peers, but start empty and
	// wait for the leader to add it (POST /kindlike/v1/raft/members).
	Join bool `json:"join,omitempty"`
}

// Peer is one Raft voter.
type Peer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Taint is a node taint as a config file writes it.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}
