package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var serviceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
	column("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
	column("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
	column("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
	ageColumn,
	wide("Selector", "string", corev1.ServiceSpec{}.SwaggerDoc()["selector"]),
}

func serviceRow(svc *corev1.Service, now time.Time) (metav1.TableRow, error) {
	// ClusterIPs[0] is what kube prints; a Service written before dual-stack may carry only
	// ClusterIP, which kube's conversion copies into ClusterIPs.
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		clusterIP = svc.Spec.ClusterIP
	}
	ports := servicePorts(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	return cells(
		svc.Name,
		string(svc.Spec.Type),
		clusterIP,
		serviceExternalIP(svc),
		ports,
		since(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	)
}

// serviceExternalIP is the EXTERNAL-IP cell. kube-apiserver prints tables as for -o wide,
// so load balancer addresses are never shortened.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		ips := loadBalancerAddresses(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(ips, svc.Spec.ExternalIPs...), ",")
		}
		if len(ips) > 0 {
			return strings.Join(ips, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerAddresses are the distinct ingress IPs (or hostnames, for ingress points
// without an IP) of a load balancer, sorted.
func loadBalancerAddresses(lb corev1.LoadBalancerStatus) []string {
	seen := make(map[string]bool)
	var out []string
	for _, in := range lb.Ingress {
		a := in.IP
		if a == "" {
			a = in.Hostname
		}
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// servicePorts is the PORT(S) cell: port/protocol, port:nodePort/protocol for ports open
// on every node.
func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn,
}

func endpointsRow(ep *corev1.Endpoints, now time.Time) (metav1.TableRow, error) {
	return cells(ep.Name, endpointsCell(ep), since(ep.CreationTimestamp, now))
}

// endpointsCell lists ready addresses as ip:port for each port (bare IPs for subsets
// without ports, as headless Services may have), the first three and a count of the rest.
func endpointsCell(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var entries []string
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				entries = append(entries, a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				entries = append(entries, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return firstThree(entries)
}

// EndpointSlice descriptions come from discovery/v1beta1's documentation, as kube's do.
var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("AddressType", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]),
	column("Ports", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]),
	column("Endpoints", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
	ageColumn,
}

func endpointSliceRow(es *discoveryv1.EndpointSlice, now time.Time) (metav1.TableRow, error) {
	ports := make([]string, 0, len(es.Ports))
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addresses []string
	for _, e := range es.Endpoints {
		addresses = append(addresses, e.Addresses...)
	}
	return cells(es.Name, string(es.AddressType), orUnset(firstThree(ports)), orUnset(firstThree(addresses)),
		since(es.CreationTimestamp, now))
}

// orUnset is s, or "<unset>" when s is empty.
func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}
