package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestServiceValidation(t *testing.T) {
	tests := []struct {
		name      string
		file, svc string
		mutate    func(s *corev1.Service)
		want      []string
	}{
		{"second port without a name", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 33060, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(33060)})
		}, []string{"spec.ports[0].name: Required value", "spec.ports[1].name: Required value"}},
		{"duplicate port names and ports", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "mysql"
			s.Spec.Ports = append(s.Spec.Ports, s.Spec.Ports[0])
		}, []string{
			`spec.ports[1].name: Duplicate value: "mysql"`,
			`spec.ports[1]: Duplicate value: v1.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:3306, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`,
		}},
		{"port out of range", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 70000
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(3306)
		}, []string{"spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"protocol", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports[0].Protocol = "tcp"
		}, []string{`spec.ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"`}},
		{"no ports", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports = nil
		}, []string{"spec.ports: Required value"}},
		{"node port on a ClusterIP service", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Ports[0].NodePort = 30306
		}, []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},
		{"node port out of range", "07-myweb-rc-nodeport.yaml", "myweb", func(s *corev1.Service) {
			s.Spec.Ports[0].NodePort = 8080
		}, []string{"spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"}},
		{"duplicate node ports", "07-myweb-rc-nodeport.yaml", "myweb", func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "http"
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 8081, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8081), NodePort: 30001})
		}, []string{"spec.ports[1].nodePort: Duplicate value: 30001"}},
		{"headless NodePort", "07-myweb-rc-nodeport.yaml", "myweb", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, []string{`spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`}},
		{"type", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Type = "Internal"
			s.Spec.InternalTrafficPolicy = nil
		}, []string{`spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{"bad cluster IP", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"}
		}, []string{`spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`}},
		{"cluster IPs out of step", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.11"}
		}, []string{"spec.clusterIPs: Invalid value: []string{\"10.96.0.11\"}: first value must match `clusterIP`"}},
		{"IPv6 on an IPv4 cluster", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, []string{`spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster`}},
		{"dual stack required", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		}, []string{`spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`}},
		{"session affinity", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.SessionAffinity = "Cookie"
		}, []string{`spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"`}},
		{"external traffic policy on ClusterIP", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, []string{`spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services`}},
		{"selector label", "06-mysql-rc-svc.yaml", "mysql", func(s *corev1.Service) {
			s.Spec.Selector = map[string]string{"app": "my sql"}
		}, []string{`spec.selector: Invalid value: "my sql": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{"target port name", "09-web-statefulset.yaml", "nginx-demo", func(s *corev1.Service) {
			s.Spec.Ports[0].TargetPort = intstr.FromString("web_http")
		}, []string{`spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := scenarioObject[*corev1.Service](t, tt.file, tt.svc)
			Services.Strategy.Default(svc)
			tt.mutate(svc)
			checkErrors(t, createObject(t, Services, svc), tt.want)
		})
	}

	ext := decodeYAML[*corev1.Service](t, "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {type: ExternalName, externalName: -db.example.com}")
	checkErrors(t, createObject(t, Services, ext), []string{
		`spec.externalName: Invalid value: "-db.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
	})
	lb := decodeYAML[*corev1.Service](t, "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer, ports: [{port: 10250}], externalTrafficPolicy: Local, healthCheckNodePort: 80}")
	checkErrors(t, createObject(t, Services, lb), []string{
		"spec.ports[0]: Invalid value: 10250: may not expose port 10250 externally since it is used by kubelet",
		"spec.healthCheckNodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
	})
}

func TestServiceUpdate(t *testing.T) {
	allocated := func(t *testing.T) *corev1.Service {
		svc := scenarioObject[*corev1.Service](t, "07-myweb-rc-nodeport.yaml", "myweb")
		if errs := createObject(t, Services, svc); len(errs) > 0 {
			t.Fatal(errs)
		}
		// What the allocator would have done.
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.12.34", []string{"10.96.12.34"}
		return svc
	}

	// kubectl apply of the same manifest: no clusterIP in it, so it keeps its own.
	old := allocated(t)
	again := scenarioObject[*corev1.Service](t, "07-myweb-rc-nodeport.yaml", "myweb")
	again.Spec.ClusterIP = old.Spec.ClusterIP // apply's merge keeps the field it did not set
	checkErrors(t, updateObject(t, Services, again, old), nil)
	if !cmp.Equal(again.Spec.ClusterIPs, []string{"10.96.12.34"}) {
		t.Errorf("clusterIPs %v after an update from an old client", again.Spec.ClusterIPs)
	}

	changed := old.DeepCopy()
	changed.Spec.ClusterIP, changed.Spec.ClusterIPs = "10.96.12.35", []string{"10.96.12.35"}
	checkErrors(t, updateObject(t, Services, changed, old), []string{
		`spec.clusterIPs[0]: Invalid value: []string{"10.96.12.35"}: may not change once set`,
	})

	// NodePort to ClusterIP drops the node port the user did not touch.
	toClusterIP := old.DeepCopy()
	toClusterIP.Spec.Type = corev1.ServiceTypeClusterIP
	checkErrors(t, updateObject(t, Services, toClusterIP, old), nil)
	if toClusterIP.Spec.Ports[0].NodePort != 0 || toClusterIP.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("after NodePort to ClusterIP: nodePort %d externalTrafficPolicy %q", toClusterIP.Spec.Ports[0].NodePort, toClusterIP.Spec.ExternalTrafficPolicy)
	}

	// To ExternalName drops the cluster IP and families.
	toExternal := old.DeepCopy()
	toExternal.Spec.Type = corev1.ServiceTypeExternalName
	toExternal.Spec.ExternalName = "myweb.example.com"
	checkErrors(t, updateObject(t, Services, toExternal, old), nil)
	if toExternal.Spec.ClusterIP != "" || toExternal.Spec.IPFamilies != nil || toExternal.Spec.IPFamilyPolicy != nil {
		t.Errorf("after type ExternalName: %+v", toExternal.Spec)
	}

	// The load balancer status is for LoadBalancer services only.
	status := old.DeepCopy()
	status.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "172.18.0.100"}}
	checkErrors(t, updateStatus(t, Services, status, old), []string{
		"status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'",
	})
}

func TestServiceAllocationHook(t *testing.T) {
	svc := scenarioObject[*corev1.Service](t, "07-myweb-rc-nodeport.yaml", "myweb")
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9100})
	svc.Spec.Ports[0].Name = "http"
	createObject(t, Services, svc)
	if !NeedsClusterIP(svc) {
		t.Errorf("a new NodePort service needs a cluster IP")
	}
	if got := NodePortsToAllocate(svc); !cmp.Equal(got, []int{1}) {
		t.Errorf("node ports to allocate %v, want [1]", got)
	}
	headless := scenarioObject[*corev1.Service](t, "09-web-statefulset.yaml", "nginx-demo")
	createObject(t, Services, headless)
	if NeedsClusterIP(headless) || NodePortsToAllocate(headless) != nil {
		t.Errorf("a headless service needs nothing allocated")
	}
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		AllocateLoadBalancerNodePorts: ptr.To(false), Ports: []corev1.ServicePort{{Port: 80}}}}
	if !NeedsHealthCheckNodePort(lb) || NodePortsToAllocate(lb) != nil {
		t.Errorf("a Local LoadBalancer without node ports needs a health check port only")
	}
}

func TestServiceFields(t *testing.T) {
	svc := scenarioObject[*corev1.Service](t, "09-web-statefulset.yaml", "nginx-demo")
	createObject(t, Services, svc)
	want := fields.Set{"spec.clusterIP": "None", "spec.type": "ClusterIP"}
	if diff := cmp.Diff(want, Services.Strategy.Fields(svc)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}
