package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/kindlike/kindlike/config"
)

// Stop stops a cluster as a power cut would stop its machines, but cleanly: every
// node and the load balancer together (SIGTERM, then SIGKILL after a grace period),
// then any pod container still running. Containers, volumes and network stay, and
// the engine will not start them again by itself.
func Stop(ctx context.Context, p Provider, clusterName string, prog Progress) error {
	if prog == nil {
		prog = discard{}
	}
	nodes, err := clusterNodes(ctx, p, clusterName)
	if err != nil {
		return err
	}
	prog.Start(fmt.Sprintf("stopping %d containers", len(nodes)))
	if err := forEach(ctx, nodes, func(ctx context.Context, n Node) error {
		return p.StopNode(ctx, n.Name, nodeStopTimeout)
	}); err != nil {
		prog.End(false)
		return err
	}
	objs, err := p.Objects(ctx, clusterName)
	if err != nil {
		prog.End(false)
		return err
	}
	isNode := map[string]bool{}
	for _, n := range nodes {
		isNode[n.Name] = true
	}
	var rest []Object
	for _, o := range objs.Containers {
		if !isNode[o.Name] {
			rest = append(rest, o)
		}
	}
	if err := forEach(ctx, rest, func(ctx context.Context, o Object) error {
		return p.StopNode(ctx, o.Name, time.Second)
	}); err != nil {
		prog.End(false)
		return err
	}
	prog.End(true)
	return nil
}

// Start starts a stopped cluster's nodes and load balancer, and waits as Create does:
// for the API, and if wait is not 0 for every node to be Ready.
func Start(ctx context.Context, p Provider, clusterName string, wait time.Duration, prog Progress) error {
	if prog == nil {
		prog = discard{}
	}
	nodes, err := clusterNodes(ctx, p, clusterName)
	if err != nil {
		return err
	}
	started := time.Now()
	prog.Start(fmt.Sprintf("starting %d containers", len(nodes)))
	if err := forEach(ctx, nodes, func(ctx context.Context, n Node) error {
		if n.Running() {
			return nil
		}
		return p.StartNode(ctx, n.Name)
	}); err != nil {
		prog.End(false)
		return err
	}
	prog.End(true)
	entry, err := Kubeconfig(ctx, p, clusterName, false)
	if err != nil {
		return err
	}
	var names []string
	for _, n := range nodes {
		if n.Role == config.RoleControlPlane || n.Role == config.RoleWorker {
			names = append(names, n.Name)
		}
	}
	if err := waitReady(ctx, p, prog, clusterName, entry, names, wait, started); err != nil {
		prog.End(false)
		return err
	}
	return nil
}
