package config

// Labels on every container, network and volume kindlike makes, written by the host
// CLI (cluster) and by node agents (nodeagent/runtime) alike: one contract, defined
// once. They are the only record of what exists: "which clusters are there" and
// "what does this node own" are label queries.
const (
	// LabelCluster names the cluster everything belongs to.
	LabelCluster = "kindlike.cluster"
	// LabelRole is a node container's role (RoleControlPlane, RoleWorker, or the
	// load balancer's).
	LabelRole = "kindlike.role"
	// LabelNode names the node a pod's containers and volumes belong to, so
	// `remove node` can remove them with it.
	LabelNode = "kindlike.node"
)
