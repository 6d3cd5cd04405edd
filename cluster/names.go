package cluster

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kindlike/kindlike/config"
)

// NetworkName is the cluster's Docker network.
func NetworkName(cluster string) string { return "kindlike-" + cluster }

// ContextName is the cluster's kubeconfig context, cluster and user name.
func ContextName(cluster string) string { return "kindlike-" + cluster }

// LoadBalancerName is the API load balancer's container.
func LoadBalancerName(cluster string) string { return cluster + "-" + RoleLoadBalancer }

// nodeName names the index-th (1-based) node of a role as kind does: the first is
// <cluster>-<role>, the next <cluster>-<role>2, and so on.
func nodeName(cluster, role string, index int) string {
	if index <= 1 {
		return cluster + "-" + role
	}
	return cluster + "-" + role + strconv.Itoa(index)
}

// nodeIndex is the inverse of nodeName: the index of a numbered node name, or 0 if
// the name is not one.
func nodeIndex(cluster, role, name string) int {
	rest, ok := strings.CutPrefix(name, cluster+"-"+role)
	if !ok {
		return 0
	}
	if rest == "" {
		return 1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// nextNodeName is the name of a new node of role: one past the highest index in
// use, so a removed node's name (and Raft server ID) is never reused.
func nextNodeName(cluster, role string, existing []string) string {
	highest := 0
	for _, name := range existing {
		highest = max(highest, nodeIndex(cluster, role, name))
	}
	return nodeName(cluster, role, highest+1)
}

// nodeNames names the nodes of a cluster config in order: a node's own name if the
// config gives one, else the next number of its role.
func nodeNames(cluster string, nodes []config.ClusterNode) ([]string, error) {
	names := make([]string, len(nodes))
	count := map[string]int{}
	taken := map[string]bool{}
	for i, n := range nodes {
		if n.Name != "" {
			names[i] = cluster + "-" + n.Name
			taken[names[i]] = true
		}
	}
	for i, n := range nodes {
		if names[i] != "" {
			continue
		}
		for {
			count[n.Role]++
			name := nodeName(cluster, n.Role, count[n.Role])
			if !taken[name] {
				names[i] = name
				taken[name] = true
				break
			}
		}
	}
	if taken[LoadBalancerName(cluster)] {
		return nil, fmt.Errorf("a node may not be named %s", LoadBalancerName(cluster))
	}
	return names, nil
}
