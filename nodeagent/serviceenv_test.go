package nodeagent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceLinks(t *testing.T) {
	svc := func(name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	got := serviceLinks(map[string]*corev1.Service{
		"mysql":    svc("mysql", "10.96.0.20", corev1.ServicePort{Port: 3306, Protocol: corev1.ProtocolTCP}),
		"kube-dns": svc("kube-dns", "10.96.0.10", corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}),
		"headless": svc("headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}),
	})
	env := map[string]string{}
	var names []string
	for _, kv := range got {
		env[kv[0]] = kv[1]
		names = append(names, kv[0])
	}
	want := map[string]string{
		"MYSQL_SERVICE_HOST":         "10.96.0.20",
		"MYSQL_SERVICE_PORT":         "3306",
		"MYSQL_PORT":                 "tcp://10.96.0.20:3306",
		"MYSQL_PORT_3306_TCP":        "tcp://10.96.0.20:3306",
		"MYSQL_PORT_3306_TCP_PROTO":  "tcp",
		"MYSQL_PORT_3306_TCP_PORT":   "3306",
		"MYSQL_PORT_3306_TCP_ADDR":   "10.96.0.20",
		"KUBE_DNS_SERVICE_HOST":      "10.96.0.10",
		"KUBE_DNS_SERVICE_PORT_DNS":  "53",
		"KUBE_DNS_PORT_53_UDP_PROTO": "udp",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, n := range names {
		if n == "HEADLESS_SERVICE_HOST" {
			t.Error("a headless Service got variables")
		}
	}
	// In Service name order, so a pod's environment reads the same on every start.
	if len(names) == 0 || names[0] != "KUBE_DNS_SERVICE_HOST" || names[len(names)-1] != "MYSQL_PORT_3306_TCP_ADDR" {
		t.Errorf("variables not in Service name order: %q", names)
	}
}
