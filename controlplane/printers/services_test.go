package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestServiceRows(t *testing.T) {
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	tests := []struct {
		name string
		svc  corev1.Service
		want []any // NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
	}{
		{
			name: "cluster DNS",
			svc: corev1.Service{ObjectMeta: objMeta("kube-dns", 3*24*time.Hour), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports: []corev1.ServicePort{
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
					{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP},
				},
				Selector: map[string]string{"k8s-app": "kube-dns"},
			}},
			want: []any{"kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP", "3d", "k8s-app=kube-dns"},
		},
		{
			name: "node port",
			svc: corev1.Service{ObjectMeta: objMeta("web", 5*time.Minute), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.120.4", ClusterIPs: []string{"10.96.120.4"},
				Ports:    []corev1.ServicePort{tcp(8080, 30001)},
				Selector: map[string]string{"app": "web", "tier": "front"},
			}},
			want: []any{"web", "NodePort", "10.96.120.4", "<none>", "8080:30001/TCP", "5m", "app=web,tier=front"},
		},
		{
			name: "headless",
			svc: corev1.Service{ObjectMeta: objMeta("db", time.Hour), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"},
				Ports:    []corev1.ServicePort{tcp(5432, 0)},
				Selector: map[string]string{"app": "db"},
			}},
			want: []any{"db", "ClusterIP", "None", "<none>", "5432/TCP", "60m", "app=db"},
		},
		{
			name: "no ports, no selector, external IPs",
			svc: corev1.Service{ObjectMeta: objMeta("manual", time.Hour), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.3.3"},
				ExternalIPs: []string{"198.51.100.1", "198.51.100.2"},
			}},
			want: []any{"manual", "ClusterIP", "10.96.3.3", "198.51.100.1,198.51.100.2", "<none>", "60m", "<none>"},
		},
		{
			name: "dual stack: first cluster IP",
			svc: corev1.Service{ObjectMeta: objMeta("ds", time.Hour), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20", "fd00:10:96::20"},
				Ports: []corev1.ServicePort{tcp(80, 0)},
			}},
			want: []any{"ds", "ClusterIP", "10.96.0.20", "<none>", "80/TCP", "60m", "<none>"},
		},
		{
			name: "only the single-stack clusterIP field",
			svc: corev1.Service{ObjectMeta: objMeta("old", time.Hour), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.30", Ports: []corev1.ServicePort{tcp(80, 0)},
			}},
			want: []any{"old", "ClusterIP", "10.96.0.30", "<none>", "80/TCP", "60m", "<none>"},
		},
		{
			name: "load balancer waiting for an address",
			svc: corev1.Service{ObjectMeta: objMeta("lb", time.Minute), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.7.7"},
				Ports: []corev1.ServicePort{tcp(80, 31080), tcp(443, 31443)},
			}},
			want: []any{"lb", "LoadBalancer", "10.96.7.7", "<pending>", "80:31080/TCP,443:31443/TCP", "60s", "<none>"},
		},
		{
			name: "load balancer with addresses, sorted and never shortened",
			svc: corev1.Service{ObjectMeta: objMeta("lb", time.Minute),
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.7.7"},
					Ports: []corev1.ServicePort{tcp(80, 31080)}, ExternalIPs: []string{"198.51.100.9"},
				},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "172.18.255.201"}, {Hostname: "lb.example.com"}, {IP: "172.18.255.200"}, {IP: "172.18.255.201"},
				}}}},
			want: []any{"lb", "LoadBalancer", "10.96.7.7", "172.18.255.200,172.18.255.201,lb.example.com,198.51.100.9",
				"80:31080/TCP", "60s", "<none>"},
		},
		{
			name: "external name",
			svc: corev1.Service{ObjectMeta: objMeta("upstream", time.Minute), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "api.example.com",
			}},
			want: []any{"upstream", "ExternalName", "<none>", "api.example.com", "<none>", "60s", "<none>"},
		},
		{
			name: "no type",
			svc: corev1.Service{ObjectMeta: objMeta("odd", time.Minute), Spec: corev1.ServiceSpec{
				ClusterIPs: []string{"10.96.8.8"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolSCTP}},
			}},
			want: []any{"odd", "", "10.96.8.8", "<unknown>", "80/SCTP", "60s", "<none>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, serviceColumns, cellsOf(t, &tt.svc), tt.want)
		})
	}
}

func TestEndpointsRows(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i] = corev1.EndpointAddress{IP: ip}
		}
		return out
	}
	port := func(name string, p int32) corev1.EndpointPort {
		return corev1.EndpointPort{Name: name, Port: p, Protocol: corev1.ProtocolTCP}
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"no subsets", nil, "<none>"},
		{"one port, two addresses", []corev1.EndpointSubset{{
			Addresses: addrs("10.244.1.5", "10.244.2.7"), Ports: []corev1.EndpointPort{port("http", 8080)},
		}}, "10.244.1.5:8080,10.244.2.7:8080"},
		{"exactly three", []corev1.EndpointSubset{{
			Addresses: addrs("10.244.1.5", "10.244.2.7", "10.244.3.2"), Ports: []corev1.EndpointPort{port("http", 80)},
		}}, "10.244.1.5:80,10.244.2.7:80,10.244.3.2:80"},
		{"more than three, over ports and subsets", []corev1.EndpointSubset{
			{Addresses: addrs("10.244.1.5", "10.244.2.7"), Ports: []corev1.EndpointPort{port("http", 80), port("https", 443)}},
			{Addresses: addrs("10.244.3.2"), Ports: []corev1.EndpointPort{port("http", 80)}},
		}, "10.244.1.5:80,10.244.2.7:80,10.244.1.5:443 + 2 more..."},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addrs("10.244.1.5", "10.244.2.7")}},
			"10.244.1.5,10.244.2.7"},
		{"IPv6", []corev1.EndpointSubset{{
			Addresses: addrs("fd00:10:244::5"), Ports: []corev1.EndpointPort{port("http", 80)},
		}}, "[fd00:10:244::5]:80"},
		{"only not-ready addresses", []corev1.EndpointSubset{{
			NotReadyAddresses: addrs("10.244.1.5"), Ports: []corev1.EndpointPort{port("http", 80)},
		}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: objMeta("web", 2*time.Minute), Subsets: tt.subsets}
			checkCells(t, endpointsColumns, cellsOf(t, ep), []any{"web", tt.want, "2m"})
		})
	}
}

func TestEndpointSliceRows(t *testing.T) {
	endpoints := func(ips ...string) []discoveryv1.Endpoint {
		out := make([]discoveryv1.Endpoint, len(ips))
		for i, ip := range ips {
			out[i] = discoveryv1.Endpoint{Addresses: []string{ip}}
		}
		return out
	}
	tests := []struct {
		name  string
		slice discoveryv1.EndpointSlice
		want  []any // NAME ADDRESSTYPE PORTS ENDPOINTS AGE
	}{
		{
			name: "service slice",
			slice: discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-x7k2p", time.Hour), AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("https"), Port: ptr(int32(8443))}},
				Endpoints: endpoints("10.244.1.5", "10.244.2.7")},
			want: []any{"web-x7k2p", "IPv4", "8080,8443", "10.244.1.5,10.244.2.7", "60m"},
		},
		{
			name: "ports by name or any, more than three endpoints",
			slice: discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abcde", time.Hour), AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Name: ptr("http")}, {}},
				Endpoints: endpoints("10.244.1.5", "10.244.2.7", "10.244.3.2", "10.244.4.4", "10.244.5.5")},
			want: []any{"web-abcde", "IPv4", "http,*", "10.244.1.5,10.244.2.7,10.244.3.2 + 2 more...", "60m"},
		},
		{
			name:  "empty",
			slice: discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-empty", time.Hour), AddressType: discoveryv1.AddressTypeIPv6},
			want:  []any{"web-empty", "IPv6", "<unset>", "<unset>", "60m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, endpointSliceColumns, cellsOf(t, &tt.slice), tt.want)
		})
	}
}
