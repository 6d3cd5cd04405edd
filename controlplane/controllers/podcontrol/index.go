package podcontrol

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// NodeIndex names the index of pods by spec.nodeName, which the scheduler and the
// node lifecycle controller share on the one pod informer of a leadership.
const NodeIndex = "spec.nodeName"

// IndexByNode gives the pod informer NodeIndex, unless another controller of the same
// informer did already: an informer refuses a second index of one name.
func IndexByNode(pods cache.SharedIndexInformer) error {
	if _, ok := pods.GetIndexer().GetIndexers()[NodeIndex]; ok {
		return nil
	}
	return pods.AddIndexers(cache.Indexers{NodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
}
