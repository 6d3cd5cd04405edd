package apiserver

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// admit applies what Kubernetes' default admission plugins do to a new object before
// it is validated: pods run as the namespace's default ServiceAccount unless they name
// one (ServiceAccount), and tolerate an unreachable or not-ready node for the
// cluster's eviction timeout (DefaultTolerationSeconds).
func (s *Server) admit(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	if pod.Spec.DeprecatedServiceAccount == "" {
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		seconds := s.tolerationSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
		})
	}
}

func toleratesNoExecute(tols []corev1.Toleration, key string) bool {
	taint := corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
	for _, t := range tols {
		if t.ToleratesTaint(&taint) {
			return true
		}
	}
	return false
}
