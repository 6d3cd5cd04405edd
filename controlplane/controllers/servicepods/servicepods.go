// Package servicepods says which pods back a Service and how, for the Endpoints and
// EndpointSlice controllers: the Services a pod change concerns, whether a pod is an
// endpoint, its ports (named target ports resolved per pod), its hostname, and the
// time of the change that an endpoints write reflects.
package servicepods

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// TriggerTimeAnnotation is where Endpoints and EndpointSlices record the time of the
// pod or Service change they reflect, as kube-controller-manager writes it.
const TriggerTimeAnnotation = corev1.EndpointsLastChangeTriggerTime

// Selected reports whether a Service's endpoints come from pods: it has a selector
// and is not ExternalName. Other Services' endpoints are their users' to write.
func Selected(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// Selector of a Selected Service.
func Selector(svc *corev1.Service) labels.Selector {
	return labels.SelectorFromValidatedSet(svc.Spec.Selector)
}

// Headless reports whether the Service has no cluster IP of its own.
func Headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// ServicesOf lists the keys of the Services in the pod's namespace that select it.
func ServicesOf(services corelisters.ServiceLister, pod *corev1.Pod) []string {
	all, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	set := labels.Set(pod.Labels)
	for _, svc := range all {
		if Selected(svc) && Selector(svc).Matches(set) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// IsEndpoint reports whether a pod belongs in a Service's endpoints: it has an
// address and has not finished for good (Succeeded or Failed), and, unless terminating
// pods are wanted, it is not being deleted.
func IsEndpoint(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	if !includeTerminating && pod.DeletionTimestamp != nil {
		return false
	}
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// IsReady reports the pod's Ready condition.
func IsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// IP is the pod's IPv4 address, "" when it has none.
func IP(pod *corev1.Pod) string {
	for _, ip := range pod.Status.PodIPs {
		if isIPv4(ip.IP) {
			return ip.IP
		}
	}
	if isIPv4(pod.Status.PodIP) {
		return pod.Status.PodIP
	}
	return ""
}

func isIPv4(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return false
		}
	}
	return true
}

// Hostname is the name the pod has under the Service in DNS (a StatefulSet's pods
// under their governing Service): its spec.hostname when its subdomain is the Service.
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// TargetPort resolves a Service port's targetPort on one pod: a number is itself, a
// name is the container port of that name and protocol, which pods of one Service
// may number differently. false when the pod has no such port.
func TargetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	if sp.TargetPort.Type == intstr.Int {
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
	name := sp.TargetPort.StrVal
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	match := func(containers []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for _, c := range containers {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == name && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if port, ok := match(pod.Spec.Containers, false); ok {
		return port, true
	}
	return match(pod.Spec.InitContainers, true)
}

// ChangeTime is when a pod last changed in a way endpoints show: created, started
// deleting, or its readiness flipped.
func ChangeTime(pod *corev1.Pod) time.Time {
	t := pod.CreationTimestamp.Time
	if d := pod.DeletionTimestamp; d != nil && d.After(t) {
		t = d.Time
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	return t
}

// TriggerTimes remembers, per Service key, the earliest change not yet reflected in
// its endpoints, which the next write records in TriggerTimeAnnotation.
type TriggerTimes struct {
	mu      sync.Mutex
	pending map[string]time.Time
}

// NewTriggerTimes makes an empty record.
func NewTriggerTimes() *TriggerTimes {
	return &TriggerTimes{pending: map[string]time.Time{}}
}

// Observe notes a change at t concerning the Service key.
func (tt *TriggerTimes) Observe(key string, t time.Time) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if cur, ok := tt.pending[key]; !ok || t.Before(cur) {
		tt.pending[key] = t
	}
}

// Take returns and forgets the earliest pending change of key (ok false: none).
func (tt *TriggerTimes) Take(key string) (time.Time, bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	t, ok := tt.pending[key]
	delete(tt.pending, key)
	return t, ok
}

// Format is the annotation's value for t.
func Format(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// ServiceChangeTime is when a Service's change happened: its creation, for a new one.
func ServiceChangeTime(svc *corev1.Service, created bool, now time.Time) time.Time {
	if created && !svc.CreationTimestamp.IsZero() {
		return svc.CreationTimestamp.Time
	}
	return now
}

// HeadlessLabels is the Service's labels as its endpoints carry them: with
// service.kubernetes.io/headless when it is headless, without otherwise.
func HeadlessLabels(svc *corev1.Service, extra map[string]string) map[string]string {
	out := make(map[string]string, len(svc.Labels)+len(extra)+1)
	for k, v := range svc.Labels {
		out[k] = v
	}
	delete(out, corev1.IsHeadlessService)
	if Headless(svc) {
		out[corev1.IsHeadlessService] = ""
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// OwnerReference is the controller reference endpoint slices carry to their Service.
func OwnerReference(svc *corev1.Service) metav1.OwnerReference {
	return *metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
}
