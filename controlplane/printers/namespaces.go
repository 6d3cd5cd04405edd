package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var namespaceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the namespace"),
	ageColumn,
}

func namespaceRow(ns *corev1.Namespace, now time.Time) (metav1.TableRow, error) {
	return cells(ns.Name, string(ns.Status.Phase), since(ns.CreationTimestamp, now))
}

var resourceQuotaColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
	column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
	ageColumn,
}

// resourceQuotaRow lists used/hard for every resource the quota's status covers, sorted
// by name: limits.* under LIMIT, everything else under REQUEST.
func resourceQuotaRow(q *corev1.ResourceQuota, now time.Time) (metav1.TableRow, error) {
	names := make([]string, 0, len(q.Status.Hard))
	for name := range q.Status.Hard {
		names = append(names, string(name))
	}
	sort.Strings(names)

	var requests, limits []string
	for _, name := range names {
		used := q.Status.Used[corev1.ResourceName(name)]
		hard := q.Status.Hard[corev1.ResourceName(name)]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if prefix, _, found := strings.Cut(name, "."); found && prefix == "limits" {
			limits = append(limits, entry)
		} else {
			requests = append(requests, entry)
		}
	}
	return cells(q.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), since(q.CreationTimestamp, now))
}
