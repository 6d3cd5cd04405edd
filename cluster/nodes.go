package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kindlike/kindlike/cluster/loadbalancer"
	"github.com/kindlike/kindlike/config"
)

// AddNodeOptions say what node to add.
type AddNodeOptions struct {
	Cluster string
	// ControlPlane adds a Raft voter instead of a worker.
	ControlPlane bool
	// Wait bounds the wait for the node to be Ready; 0 does not wait.
	Wait     time.Duration
	Progress Progress
}

// AddNode adds a node to a running cluster and returns its name. The node runs the
// same image as the others and is numbered after the highest of its role; a control
// plane joins the Raft group as a voter and the load balancer's backends.
func AddNode(ctx context.Context, p Provider, o AddNodeOptions) (name string, err error) {
	prog := o.Progress
	if prog == nil {
		prog = discard{}
	}
	nodes, err := clusterNodes(ctx, p, o.Cluster)
	if err != nil {
		return "", err
	}
	role := config.RoleWorker
	if o.ControlPlane {
		role = config.RoleControlPlane
	}
	var lb *Node
	var names, cpNames []string
	var used []netip.Addr
	for i, n := range nodes {
		names = append(names, n.Name)
		used = append(used, n.IP)
		switch n.Role {
		case RoleLoadBalancer:
			lb = &nodes[i]
		case config.RoleControlPlane:
			cpNames = append(cpNames, n.Name)
		}
	}
	if o.ControlPlane && lb == nil {
		return "", fmt.Errorf("cluster %q has a single control plane and no load balancer, so its API endpoint cannot take more; create it with --control-planes 3 to add control planes later", o.Cluster)
	}
	subnet, ok, err := p.Network(ctx, o.Cluster)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("cluster %q has no network %s", o.Cluster, NetworkName(o.Cluster))
	}
	ip, err := freeNodeIP(subnet, used)
	if err != nil {
		return "", err
	}
	creds, err := readCredentials(ctx, p, nodes)
	if err != nil {
		return "", err
	}
	template, err := readNodeConfig(ctx, p, cpNames[0])
	if err != nil {
		return "", err
	}
	name = nextNodeName(o.Cluster, role, names)
	endpoint, _ := endpointNode(nodes)
	entry, err := creds.kubeconfig(ctx, p, o.Cluster, nodes, false)
	if err != nil {
		return "", err
	}
	api, err := newAPIClient(entry)
	if err != nil {
		return "", err
	}

	nc := nodeConfig(o.Cluster, plannedNode{name: name, role: role}, template.Timing, internalServer(endpoint.Name))
	nc.Network = template.Network
	if o.ControlPlane {
		var peers []config.Peer
		for _, cp := range append(cpNames, name) {
			peers = append(peers, config.Peer{Name: cp, Address: raftAddress(cp)})
		}
		nc.ControlPlane = &config.ControlPlaneMember{Peers: peers, Join: true}
	}
	lbName := ""
	if lb != nil {
		lbName = lb.Name
	}
	spec, err := creds.nodeSpec(nc, nodes[0].Image, ip, lbName)
	if err != nil {
		return "", err
	}

	prog.Start(fmt.Sprintf("creating node %s", name))
	joined := false
	defer func() {
		if err == nil {
			return
		}
		prog.End(false)
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if joined {
			_ = api.removeRaftMember(cleanup, name)
		}
		_ = p.DeleteContainer(cleanup, name)
		_ = p.DeleteVolume(cleanup, name)
	}()
	if err := p.CreateNode(ctx, spec); err != nil {
		return name, err
	}
	if err := p.StartNode(ctx, name); err != nil {
		return name, err
	}
	prog.End(true)
	if o.ControlPlane {
		prog.Start(fmt.Sprintf("adding %s to the Raft group", name))
		if err := waitLive(ctx, p, creds, name); err != nil {
			return name, err
		}
		if err := api.addRaftMember(ctx, name, raftAddress(name)); err != nil {
			return name, fmt.Errorf("add %s to the Raft group: %w", name, err)
		}
		joined = true
		prog.End(true)
		prog.Start("adding it to the load balancer")
		if err := writeLoadBalancerBackends(ctx, p, lb.Name, append(cpNames, name)); err != nil {
			return name, err
		}
		prog.End(true)
	}
	if o.Wait > 0 {
		if err := waitReady(ctx, p, prog, o.Cluster, entry, []string{name}, o.Wait, time.Time{}); err != nil {
			return name, err
		}
	}
	return name, nil
}

// RemoveNode takes a node out of a cluster: out of the load balancer and the Raft
// group if it is a control plane, its Node object deleted, then its container, its
// pods' containers and its volumes removed.
func RemoveNode(ctx context.Context, p Provider, clusterName, name string, prog Progress) error {
	if prog == nil {
		prog = discard{}
	}
	nodes, err := clusterNodes(ctx, p, clusterName)
	if err != nil {
		return err
	}
	var node *Node
	var lb *Node
	var cps []string
	for i, n := range nodes {
		switch {
		case n.Name == name:
			node = &nodes[i]
		case n.Role == RoleLoadBalancer:
			lb = &nodes[i]
		}
		if n.Role == config.RoleControlPlane && n.Name != name {
			cps = append(cps, n.Name)
		}
	}
	switch {
	case node == nil:
		return fmt.Errorf("cluster %q has no node %q: `kindlike get nodes --name %s` lists them", clusterName, name, clusterName)
	case node.Role == RoleLoadBalancer:
		return fmt.Errorf("%s is the cluster's load balancer, not a node", name)
	case node.Role == config.RoleControlPlane && len(cps) == 0:
		return fmt.Errorf("%s is the cluster's last control plane: delete the cluster instead", name)
	}
	entry, err := Kubeconfig(ctx, p, clusterName, false)
	if err != nil {
		return err
	}
	api, err := newAPIClient(entry)
	if err != nil {
		return err
	}
	if node.Role == config.RoleControlPlane {
		if lb != nil {
			prog.Start("removing it from the load balancer")
			if err := writeLoadBalancerBackends(ctx, p, lb.Name, cps); err != nil {
				prog.End(false)
				return err
			}
			prog.End(true)
		}
		prog.Start(fmt.Sprintf("removing %s from the Raft group", name))
		if err := api.removeRaftMember(ctx, name); err != nil {
			prog.End(false)
			if lb != nil {
				// Still a member: give the load balancer its backend back.
				restore, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				err = errors.Join(err, writeLoadBalancerBackends(restore, p, lb.Name, append(cps, name)))
			}
			return fmt.Errorf("remove %s from the Raft group: %w", name, err)
		}
		prog.End(true)
	}
	prog.Start(fmt.Sprintf("deleting node %s", name))
	cs, err := api.clientset()
	if err == nil {
		err = cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		prog.Printf("WARNING: could not delete Node %s from the API (%v); remove it with `kubectl delete node %s`", name, err, name)
	}
	objs, err := p.Objects(ctx, clusterName)
	if err != nil {
		prog.End(false)
		return err
	}
	var containers, volumes []Object
	for _, c := range objs.Containers {
		if c.Name == name || c.Node == name {
			containers = append(containers, c)
		}
	}
	for _, v := range objs.Volumes {
		if v.Name == name || v.Node == name {
			volumes = append(volumes, v)
		}
	}
	var errs []error
	for _, step := range []struct {
		items []Object
		del   func(context.Context, string) error
	}{{containers, p.DeleteContainer}, {volumes, p.DeleteVolume}} {
		errs = append(errs, forEach(ctx, step.items, func(ctx context.Context, o Object) error {
			if err := step.del(ctx, o.Name); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			return nil
		}))
	}
	if err := errors.Join(errs...); err != nil {
		prog.End(false)
		return err
	}
	prog.End(true)
	return nil
}

// writeLoadBalancerBackends rewrites the load balancer's config with the control
// planes given; it notices the change within a second.
func writeLoadBalancerBackends(ctx context.Context, p Provider, lb string, controlPlanes []string) error {
	var backends []string
	for _, cp := range controlPlanes {
		backends = append(backends, net.JoinHostPort(cp, strconv.Itoa(config.APIPort)))
	}
	cfg, err := loadBalancerConfig(backends)
	if err != nil {
		return err
	}
	if err := p.WriteFiles(ctx, lb, []File{{Path: loadbalancer.ConfigPath, Mode: 0o644, Data: cfg}}); err != nil {
		return fmt.Errorf("update the load balancer's backends: %w", err)
	}
	return nil
}

// readNodeConfig reads a node's node.yaml back.
func readNodeConfig(ctx context.Context, p Provider, node string) (config.Node, error) {
	var nc config.Node
	b, err := p.ReadFile(ctx, node, config.NodeConfigPath)
	if err != nil {
		return nc, err
	}
	if err := yaml.Unmarshal(b, &nc); err != nil {
		return nc, fmt.Errorf("node config of %s: %w", node, err)
	}
	return nc, nil
}
