package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// kind is what the controller needs of the workload kind it manages. The controller
// works on a ReplicaSet view of every object; a ReplicationController is converted to
// one (its equality selector becomes matchLabels), as Kubernetes' replication manager
// does. Writes and events go to the original object.
type kind struct {
	name     string // controller name, for the queue and logs
	gvk      schema.GroupVersionKind
	informer cache.SharedIndexInformer
	// get returns the view of namespace/name and the object it was made from.
	get func(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error)
	// list returns the views of every object of namespace.
	list func(namespace string) ([]*appsv1.ReplicaSet, error)
	// view converts an informer object; nil if it is not of this kind.
	view func(obj any) *appsv1.ReplicaSet
	// updateStatus writes status to the original object and returns the new view.
	updateStatus func(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error)
}

var (
	replicaSetKind            = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	replicationControllerKind = corev1.SchemeGroupVersion.WithKind("ReplicationController")
)

func replicaSets(client kubernetes.Interface, inf appsinformers.ReplicaSetInformer) kind {
	lister := inf.Lister()
	return kind{
		name:     "replicaset",
		gvk:      replicaSetKind,
		informer: inf.Informer(),
		get: func(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
			rs, err := lister.ReplicaSets(namespace).Get(name)
			return rs, rs, err
		},
		list: func(namespace string) ([]*appsv1.ReplicaSet, error) {
			return lister.ReplicaSets(namespace).List(labels.Everything())
		},
		view: func(obj any) *appsv1.ReplicaSet {
			rs, _ := obj.(*appsv1.ReplicaSet)
			return rs
		},
		updateStatus: func(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
			rs := orig.(*appsv1.ReplicaSet).DeepCopy()
			rs.Status = status
			return client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		},
	}
}

func replicationControllers(client kubernetes.Interface, inf coreinformers.ReplicationControllerInformer) kind {
	lister := inf.Lister()
	return kind{
		name:     "replicationcontroller",
		gvk:      replicationControllerKind,
		informer: inf.Informer(),
		get: func(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
			rc, err := lister.ReplicationControllers(namespace).Get(name)
			if err != nil {
				return nil, nil, err
			}
			return rcView(rc), rc, nil
		},
		list: func(namespace string) ([]*appsv1.ReplicaSet, error) {
			return listRCViews(lister, namespace)
		},
		view: func(obj any) *appsv1.ReplicaSet {
			if rc, ok := obj.(*corev1.ReplicationController); ok {
				return rcView(rc)
			}
			return nil
		},
		updateStatus: func(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
			rc := orig.(*corev1.ReplicationController).DeepCopy()
			rc.Status = rcStatus(status)
			updated, err := client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			return rcView(updated), nil
		},
	}
}

func listRCViews(lister corelisters.ReplicationControllerLister, namespace string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, rcView(rc))
	}
	return out, nil
}

// rcView is the ReplicaSet a ReplicationController means: same metadata (so owner
// references made from it name the RC's uid), its selector as matchLabels.
func rcView(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

func rcStatus(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}

// ownedBy says whether ref names an object of kind k.
func (k kind) ownedBy(ref *metav1.OwnerReference) bool {
	if ref == nil || ref.Kind != k.gvk.Kind {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == k.gvk.Group
}
