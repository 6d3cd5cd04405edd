package cluster

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/kubeconfig"
)

// endpointNode is the container holding the cluster's API endpoint: the load
// balancer if there is one, else the (single) control plane.
func endpointNode(nodes []Node) (Node, bool) {
	var first *Node
	for i, n := range nodes {
		if n.Role == RoleLoadBalancer {
			return n, true
		}
		if n.Role == config.RoleControlPlane && (first == nil || n.Name < first.Name) {
			first = &nodes[i]
		}
	}
	if first == nil {
		return Node{}, false
	}
	return *first, true
}

// internalServer is the API URL inside the cluster network.
func internalServer(endpoint string) string {
	return "https://" + net.JoinHostPort(endpoint, strconv.Itoa(config.APIPort))
}

// hostServer is the API URL on the host.
func hostServer(port int) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func (c *credentials) entry(clusterName, server string) kubeconfig.Entry {
	return kubeconfig.Entry{
		Context:    ContextName(clusterName),
		Server:     server,
		CA:         c.ca.CertPEM,
		ClientCert: c.admin.CertPEM,
		ClientKey:  c.admin.KeyPEM,
	}
}

// Kubeconfig returns the cluster's admin kubeconfig entry, read from its control-plane
// nodes: with the host's address of the API (127.0.0.1:<port>), or, if internal,
// the address inside the cluster's network.
func Kubeconfig(ctx context.Context, p Provider, clusterName string, internal bool) (kubeconfig.Entry, error) {
	nodes, err := clusterNodes(ctx, p, clusterName)
	if err != nil {
		return kubeconfig.Entry{}, err
	}
	creds, err := readCredentials(ctx, p, nodes)
	if err != nil {
		return kubeconfig.Entry{}, err
	}
	return creds.kubeconfig(ctx, p, clusterName, nodes, internal)
}

// kubeconfig is Kubeconfig for a caller that has listed the cluster's nodes and read
// its credentials already.
func (c *credentials) kubeconfig(ctx context.Context, p Provider, clusterName string, nodes []Node, internal bool) (kubeconfig.Entry, error) {
	ep, ok := endpointNode(nodes)
	if !ok {
		return kubeconfig.Entry{}, fmt.Errorf("cluster %q has no control-plane node", clusterName)
	}
	if internal {
		return c.entry(clusterName, internalServer(ep.Name)), nil
	}
	// The inspected port: fixed at creation, so known even while stopped.
	n, err := p.Node(ctx, ep.Name)
	if err != nil {
		return kubeconfig.Entry{}, err
	}
	if n.APIHostPort == 0 {
		return kubeconfig.Entry{}, fmt.Errorf("the API port of %s on the host is not known", ep.Name)
	}
	return c.entry(clusterName, hostServer(n.APIHostPort)), nil
}

// ExportKubeconfig merges the cluster's entry into the kubeconfig file at path and
// makes its context current.
func ExportKubeconfig(ctx context.Context, p Provider, clusterName, path string) error {
	e, err := Kubeconfig(ctx, p, clusterName, false)
	if err != nil {
		return err
	}
	return kubeconfig.Merge(path, e)
}

// clusterNodes lists a cluster's node containers, failing if there are none.
func clusterNodes(ctx context.Context, p Provider, clusterName string) ([]Node, error) {
	nodes, err := p.Nodes(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no cluster named %q: `kindlike get clusters` lists them", clusterName)
	}
	return nodes, nil
}

// Nodes lists a cluster's node and load balancer containers ("" for every cluster's),
// sorted by cluster, then control planes, workers and load balancer, then name.
func Nodes(ctx context.Context, p Provider, clusterName string) ([]Node, error) {
	nodes, err := p.Nodes(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 && clusterName != "" {
		return nil, fmt.Errorf("no cluster named %q: `kindlike get clusters` lists them", clusterName)
	}
	rank := map[string]int{config.RoleControlPlane: 0, config.RoleWorker: 1, RoleLoadBalancer: 2}
	slices.SortFunc(nodes, func(a, b Node) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(rank[a.Role], rank[b.Role]), compareNodeNames(a.Name, b.Name))
	})
	return nodes, nil
}

// compareNodeNames orders worker before worker2 before worker10.
func compareNodeNames(a, b string) int {
	ta, tb := strings.TrimRight(a, "0123456789"), strings.TrimRight(b, "0123456789")
	if ta != tb {
		return cmp.Compare(a, b)
	}
	na, _ := strconv.Atoi(a[len(ta):])
	nb, _ := strconv.Atoi(b[len(tb):])
	return cmp.Compare(na, nb)
}
