// Package downward reads the downward API: the pod fields and container resources a
// pod may learn about itself through environment variables and volume files.
package downward

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldValue is the value of a fieldRef path of pod. Status fields (pod IP, host IP)
// are read from the pod as given, so callers set them before asking.
func FieldValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		return joinIPs(pod.Status.HostIPs), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]corev1.HostIP, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, corev1.HostIP(ip))
		}
		return joinIPs(ips), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

func joinIPs(ips []corev1.HostIP) string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.IP)
	}
	return strings.Join(out, ",")
}

// subscript reads "metadata.labels['key']".
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "]")
	if len(rest) >= 2 && (rest[0] == '\'' || rest[0] == '"') && rest[len(rest)-1] == rest[0] {
		return rest[1 : len(rest)-1], true
	}
	return "", false
}

// formatMap writes labels or annotations one per line as key="value", sorted, the
// format the downward API's files have.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceValue is a container's resource request or limit ("limits.cpu",
// "requests.memory", ...) in units of divisor, rounded up; a limit not set is the
// node's allocatable amount, as on a real node.
func ResourceValue(pod *corev1.Pod, containerName, res string, divisor resource.Quantity, allocatable corev1.ResourceList) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == containerName {
			c = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == containerName {
			c = &pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found in pod %s", containerName, pod.Name)
	}
	kind, name, ok := strings.Cut(res, ".")
	if !ok {
		return "", fmt.Errorf("unsupported container resource: %s", res)
	}
	rn := corev1.ResourceName(name)
	var q resource.Quantity
	switch kind {
	case "limits":
		var set bool
		if q, set = c.Resources.Limits[rn]; !set {
			q = allocatable[rn]
		}
	case "requests":
		// An unset request reads as zero (the API copies limits into unset requests).
		q = c.Resources.Requests[rn]
	default:
		return "", fmt.Errorf("unsupported container resource: %s", res)
	}
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch rn {
	case corev1.ResourceCPU:
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		return strconv.FormatInt(int64(v), 10), nil
	default:
		v := math.Ceil(float64(q.Value()) / float64(divisor.Value()))
		return strconv.FormatInt(int64(v), 10), nil
	}
}
