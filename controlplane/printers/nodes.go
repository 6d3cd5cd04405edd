package printers

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var nodeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the node"),
	column("Roles", "string", "The roles of the node"),
	ageColumn,
	column("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
	wide("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wide("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wide("OS-Image", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
	wide("Kernel-Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
	wide("Container-Runtime", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
}

// Labels that give a node its ROLES.
const (
	nodeRoleLabelPrefix = "node-role.kubernetes.io/" // node-role.kubernetes.io/<role>=...
	nodeRoleLabel       = "kubernetes.io/role"       // kubernetes.io/role=<role>
)

func nodeRow(node *corev1.Node, now time.Time) (metav1.TableRow, error) {
	info := node.Status.NodeInfo
	return cells(
		node.Name,
		nodeStatus(node),
		nodeRoles(node),
		since(node.CreationTimestamp, now),
		info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP),
		nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
	)
}

// nodeStatus is Ready when the Ready condition is True, NotReady when it is False or
// Unknown (a node that stopped posting status), Unknown when there is no Ready condition
// at all; cordoned nodes add SchedulingDisabled.
func nodeStatus(node *corev1.Node) string {
	var status []string
	// The last condition of a type wins, should a node list one twice.
	var ready *corev1.NodeCondition
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			ready = &node.Status.Conditions[i]
		}
	}
	switch {
	case ready == nil:
		status = append(status, "Unknown")
	case ready.Status == corev1.ConditionTrue:
		status = append(status, string(corev1.NodeReady))
	default:
		status = append(status, "Not"+string(corev1.NodeReady))
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

// nodeRoles are the roles named by a node's role labels, sorted, or "<none>".
func nodeRoles(node *corev1.Node) string {
	seen := make(map[string]bool)
	for k, v := range node.Labels {
		role := ""
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			role = strings.TrimPrefix(k, nodeRoleLabelPrefix)
		case k == nodeRoleLabel:
			role = v
		}
		if role != "" {
			seen[role] = true
		}
	}
	if len(seen) == 0 {
		return "<none>"
	}
	roles := make([]string, 0, len(seen))
	for r := range seen {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return strings.Join(roles, ",")
}

// nodeAddress is the node's first address of the given type, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

// orUnknown is s, or "<unknown>" when s is empty.
func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
