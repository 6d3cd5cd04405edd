package registry

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Nodes, namespaces and the smaller resources the control plane and its agents write.

// A node as kindlike's node agent registers it.
const workerNode = `
apiVersion: v1
kind: Node
metadata:
  name: kindlike-worker
  labels: {kubernetes.io/hostname: kindlike-worker, kubernetes.io/os: linux}
spec:
  podCIDR: 10.244.1.0/24
status:
  capacity: {cpu: "2", memory: 8Gi, pods: "110"}
  addresses:
  - {type: InternalIP, address: 172.18.0.3}
  - {type: Hostname, address: kindlike-worker}
`

func TestNodeValidation(t *testing.T) {
	node := decodeYAML[*corev1.Node](t, workerNode)
	checkErrors(t, createObject(t, Nodes, node), nil)
	if !cmp.Equal(node.Spec.PodCIDRs, []string{"10.244.1.0/24"}) || node.Status.Allocatable.Pods().String() != "110" {
		t.Errorf("node after create: podCIDRs %v allocatable %v", node.Spec.PodCIDRs, node.Status.Allocatable)
	}

	bad := decodeYAML[*corev1.Node](t, workerNode)
	bad.Spec.PodCIDR = "10.244.1.0/33"
	bad.Spec.Taints = []corev1.Taint{
		{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute},
		{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute},
		{Key: "dedicated", Value: "gpu", Effect: "NoRun"},
	}
	bad.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1.5")
	checkErrors(t, createObject(t, Nodes, bad), []string{
		// kube-apiserver reports node taints under metadata.
		`metadata.taints[1]: Duplicate value: v1.Taint{Key:"node.kubernetes.io/unreachable", Value:"", Effect:"NoExecute", TimeAdded:<nil>}: taints must be unique by key and effect pair`,
		`metadata.taints[2].effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
		`status.capacity.pods: Invalid value: resource.Quantity{...}: must be an integer`,
		`status.allocatable.pods: Invalid value: resource.Quantity{...}: must be an integer`,
		`spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`,
	})

	// The node lifecycle controller taints it, the agent posts status; the pod CIDR stays.
	old := decodeYAML[*corev1.Node](t, workerNode)
	createObject(t, Nodes, old)
	tainted := old.DeepCopy()
	tainted.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute, TimeAdded: &fixedNow}}
	tainted.Spec.Unschedulable = true
	checkErrors(t, updateObject(t, Nodes, tainted, old), nil)
	recidr := old.DeepCopy()
	recidr.Spec.PodCIDR, recidr.Spec.PodCIDRs = "10.244.9.0/24", nil
	checkErrors(t, updateObject(t, Nodes, recidr, old), []string{`spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`})
	status := old.DeepCopy()
	status.Status.Addresses = append(status.Status.Addresses, status.Status.Addresses[0])
	checkErrors(t, updateStatus(t, Nodes, status, old), []string{
		`status.addresses[2]: Duplicate value: v1.NodeAddress{Type:"InternalIP", Address:"172.18.0.3"}`,
	})
	if diff := cmp.Diff(fields.Set{"spec.unschedulable": "true"}, Nodes.Strategy.Fields(tainted)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestNamespaceValidation(t *testing.T) {
	ns := decodeYAML[*corev1.Namespace](t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\nspec: {finalizers: [cleanup]}")
	checkErrors(t, createObject(t, Namespaces, ns), []string{
		`spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`,
	})

	ok := decodeYAML[*corev1.Namespace](t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}")
	createObject(t, Namespaces, ok)
	terminating := ok.DeepCopy()
	terminating.Status.Phase = corev1.NamespaceTerminating
	checkErrors(t, updateStatus(t, Namespaces, terminating, ok), []string{
		`status.Phase: Invalid value: "Terminating": may only be 'Active' if ` + "`deletionTimestamp`" + ` is empty`,
	})
	terminating.DeletionTimestamp = &fixedNow
	checkErrors(t, updateStatus(t, Namespaces, terminating, ok), nil)

	// The namespace controller empties the finalizers through namespaces/finalize.
	finalized := terminating.DeepCopy()
	finalized.Spec.Finalizers = nil
	finalized.Status.Phase = corev1.NamespaceActive
	PrepareNamespaceFinalize(finalized, terminating)
	checkErrors(t, ValidateNamespaceFinalize(finalized, terminating), nil)
	if len(finalized.Spec.Finalizers) != 0 || finalized.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("after finalize: finalizers %v phase %q", finalized.Spec.Finalizers, finalized.Status.Phase)
	}
	badFinalize := terminating.DeepCopy()
	badFinalize.Spec.Finalizers = []corev1.FinalizerName{"cleanup"}
	checkErrors(t, ValidateNamespaceFinalize(badFinalize, terminating), []string{
		`spec.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`,
	})
	if diff := cmp.Diff(fields.Set{"status.phase": "Active", "name": "demo"}, Namespaces.Strategy.Fields(ok)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestLeaseValidation(t *testing.T) {
	holder := "kindlike-worker"
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kindlike-worker", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &metav1.MicroTime{Time: fixedNow.Time}}}
	checkErrors(t, createObject(t, Leases, lease), nil)
	renewed := lease.DeepCopy()
	renewed.Spec.LeaseDurationSeconds = ptr.To[int32](0)
	renewed.Spec.LeaseTransitions = ptr.To[int32](-1)
	checkErrors(t, updateObject(t, Leases, renewed, lease), []string{
		"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
		"spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
	})
}

func TestEndpointsValidation(t *testing.T) {
	ep := decodeYAML[*corev1.Endpoints](t, `
apiVersion: v1
kind: Endpoints
metadata: {name: mysql}
subsets:
- addresses: [{ip: 10.244.1.5, nodeName: kindlike-worker}]
  ports: [{port: 3306}]
`)
	checkErrors(t, createObject(t, Endpoints, ep), nil)
	bad := ep.DeepCopy()
	bad.Subsets = append(bad.Subsets, corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}},
		Ports:     []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
	}, corev1.EndpointSubset{})
	checkErrors(t, updateObject(t, Endpoints, bad, ep), []string{
		`subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`,
		"subsets[1].ports[0].name: Required value",
		"subsets[2]: Required value: must specify `addresses` or `notReadyAddresses`",
	})
}

func TestEndpointSliceValidation(t *testing.T) {
	slice := decodeYAML[*discoveryv1.EndpointSlice](t, `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mysql-abcde, labels: {kubernetes.io/service-name: mysql}}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: kindlike-worker
ports: [{port: 3306}]
`)
	checkErrors(t, createObject(t, EndpointSlices, slice), nil)
	bad := slice.DeepCopy()
	bad.AddressType = discoveryv1.AddressTypeIPv6
	bad.Endpoints = append(bad.Endpoints, discoveryv1.Endpoint{})
	bad.Ports = append(bad.Ports, discoveryv1.EndpointPort{Port: ptr.To[int32](3307)})
	checkErrors(t, updateObject(t, EndpointSlices, bad, slice), []string{
		`endpoints[0].addresses[0]: Invalid value: "10.244.1.5": must be a valid IPv6 address`,
		"endpoints[1].addresses: Required value: must contain at least 1 address",
		`ports[1].name: Duplicate value: ""`,
		`addressType: Invalid value: "IPv6": field is immutable`,
	})
}

func TestPodDisruptionBudgetValidation(t *testing.T) {
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromString("50%")),
		Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
	}}
	checkErrors(t, createObject(t, PodDisruptionBudgets, pdb), nil)
	bad := pdb.DeepCopy()
	bad.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(-1))
	bad.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Never"))
	errs := errorStrings(createObject(t, PodDisruptionBudgets, bad))
	want := []string{
		"spec.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
		`spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", "IfHealthyBudget"`,
	}
	if len(errs) != 3 || errs[1] != want[0] || errs[2] != want[1] ||
		maskPointers(errs[0]) != `spec: Invalid value: v1.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xPTR), Selector:(*v1.LabelSelector)(0xPTR), MaxUnavailable:(*intstr.IntOrString)(0xPTR), UnhealthyPodEvictionPolicy:(*v1.UnhealthyPodEvictionPolicyType)(0xPTR)}: minAvailable and maxUnavailable cannot be both set` {
		t.Errorf("errors %q", errs)
	}
}

func TestQuotaValidation(t *testing.T) {
	q := decodeYAML[*corev1.ResourceQuota](t, `
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute}
spec:
  hard: {requests.cpu: "1", requests.memory: 1Gi, pods: "10", gpus: "1"}
  scopes: [BestEffort, NotBestEffort]
`)
	checkErrors(t, createObject(t, ResourceQuotas, q), []string{
		"spec.hard[gpus]: Invalid value: gpus: must be a standard resource type or fully qualified",
		"spec.hard[gpus]: Invalid value: gpus: must be a standard resource for quota",
		"spec.scopes: Invalid value: []v1.ResourceQuotaScope{\"BestEffort\", \"NotBestEffort\"}: unsupported scope applied to resource",
		"spec.scopes: Invalid value: []v1.ResourceQuotaScope{\"BestEffort\", \"NotBestEffort\"}: unsupported scope applied to resource",
		"spec.scopes: Invalid value: []v1.ResourceQuotaScope{\"BestEffort\", \"NotBestEffort\"}: conflicting scopes",
	})

	lr := decodeYAML[*corev1.LimitRange](t, `
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec:
  limits:
  - type: Container
    min: {cpu: 500m}
    max: {cpu: 200m}
  - type: Pod
    default: {cpu: 100m}
  - type: PersistentVolumeClaim
`)
	checkErrors(t, createObject(t, LimitRanges, lr), []string{
		`spec.limits[0].min[cpu]: Invalid value: resource.Quantity{...}: min value 500m is greater than max value 200m`,
		// The defaults came from max (200m), below min.
		`spec.limits[0].defaultRequest[cpu]: Invalid value: resource.Quantity{...}: min value 500m is greater than default request value 200m`,
		`spec.limits[0].default[cpu]: Invalid value: resource.Quantity{...}: min value 500m is greater than default value 200m`,
		"spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
		"spec.limits[2].limits: Required value: either minimum or maximum storage value is required, but neither was provided",
	})
}

func TestServiceAccountFinalizers(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Finalizers: []string{"example.com/keep", "orphan"}}}
	checkErrors(t, createObject(t, ServiceAccounts, sa), nil)
}

// Every served resource has its rules.
func TestEveryResourceHasAStrategy(t *testing.T) {
	for _, r := range All() {
		if r.Strategy.Validate == nil {
			t.Errorf("%s: no Validate", r.GVR())
		}
	}
}

// No rule may panic on an empty object: the server calls them on whatever it decoded.
// Each must answer as the API would: defaulting settles in one pass, what is wrong is
// named by a field a user can fix, and an update that changes nothing is refused only
// for what a create of the same object would be refused for (never for changing an
// immutable field).
func TestRulesAcceptEmptyObjects(t *testing.T) {
	for _, r := range All() {
		t.Run(r.GVR().String(), func(t *testing.T) {
			s := r.Strategy
			obj := r.New()
			for _, fn := range []func(runtime.Object){s.Default, s.PrepareForCreate} {
				if fn != nil {
					fn(obj)
				}
			}
			if s.Default != nil {
				again := obj.DeepCopyObject()
				s.Default(again)
				if diff := cmp.Diff(obj, again); diff != "" {
					t.Errorf("defaulting twice differs from once (-once +twice):\n%s", diff)
				}
			}
			var created field.ErrorList
			if s.Validate != nil {
				created = s.Validate(obj)
			}
			old := obj.DeepCopyObject()
			for _, fn := range []func(obj, old runtime.Object){s.PrepareForUpdate, s.PrepareForStatusUpdate} {
				if fn != nil {
					fn(obj, old)
				}
			}
			var updated, statusUpdated field.ErrorList
			if s.ValidateUpdate != nil {
				updated = s.ValidateUpdate(obj, old)
			}
			if s.ValidateStatusUpdate != nil {
				statusUpdated = s.ValidateStatusUpdate(obj, old)
			}
			for _, e := range append(append(created, updated...), statusUpdated...) {
				if e.Field == "" || e.Type == field.ErrorTypeInternal {
					t.Errorf("error names no field a user can fix: %v", e)
				}
			}
			onCreate := map[string]bool{}
			for _, e := range created {
				onCreate[e.Error()] = true
			}
			for _, e := range updated {
				if !onCreate[e.Error()] {
					t.Errorf("an update changing nothing is refused for what a create is not: %v", e)
				}
			}
			for _, e := range append(updated, statusUpdated...) {
				if e.Type == field.ErrorTypeForbidden || strings.Contains(e.Detail, "immutable") {
					t.Errorf("an update changing nothing is refused for a change: %v", e)
				}
			}
			if s.Fields != nil {
				for k := range s.Fields(obj) {
					if k == "" || k == "metadata.name" || k == "metadata.namespace" {
						t.Errorf("field set names %q, which the server offers itself", k)
					}
				}
			}
		})
	}
}
