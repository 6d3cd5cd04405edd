package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/kindlike/kindlike/controlplane/registry"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, t target) {
	if t.name == "" {
		writeError(w, r, notFoundResource())
		return
	}
	switch t.subresource {
	case registry.Status:
		switch r.Method {
		case http.MethodGet:
			s.serveGet(w, r, t)
		case http.MethodPut:
			s.serveUpdate(r.Context(), w, r, t, registry.Status)
		case http.MethodPatch:
			s.servePatch(w, r, t, registry.Status)
		default:
			writeError(w, r, methodNotSupported(t.res, r.Method))
		}
	case registry.Scale:
		s.serveScale(w, r, t)
	case registry.Binding:
		s.serveBinding(w, r, t)
	case registry.Eviction:
		s.serveEviction(w, r, t)
	case registry.Finalize:
		s.serveFinalize(w, r, t)
	case registry.Log, registry.Exec, registry.Attach, registry.PortForward:
		s.serveNodeSubresource(w, r, t)
	default:
		writeError(w, r, notFoundResource())
	}
}

// scaleOf reads the Scale of a scalable workload: desired and observed replicas and
// the selector.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	sc := &autoscalingv1.Scale{}
	m, _ := meta.Accessor(obj)
	sc.ObjectMeta = metav1.ObjectMeta{
		Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
	}
	selector := func(ls *metav1.LabelSelector) string {
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return ""
		}
		return sel.String()
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sc.Spec.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		sc.Status.Replicas = o.Status.Replicas
		sc.Status.Selector = selector(o.Spec.Selector)
	case *appsv1.ReplicaSet:
		sc.Spec.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		sc.Status.Replicas = o.Status.Replicas
		sc.Status.Selector = selector(o.Spec.Selector)
	case *appsv1.StatefulSet:
		sc.Spec.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		sc.Status.Replicas = o.Status.Replicas
		sc.Status.Selector = selector(o.Spec.Selector)
	case *corev1.ReplicationController:
		sc.Spec.Replicas = ptr.Deref(o.Spec.Replicas, 1)
		sc.Status.Replicas = o.Status.Replicas
		sc.Status.Selector = labels.SelectorFromSet(o.Spec.Selector).String()
	default:
		return nil, fmt.Errorf("%T has no scale", obj)
	}
	sc.SetGroupVersionKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
	return sc, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
}

var scaleResource = &registry.Resource{Group: "autoscaling", Version: "v1", Resource: "scale", Kind: "Scale"}

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, t target) {
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var apply func(sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
	switch r.Method {
	case http.MethodGet:
		obj, err := s.get(r.Context(), t.res, t.namespace, t.name, consistentRead(r.URL.Query().Get("resourceVersion")))
		if err != nil {
			writeError(w, r, err)
			return
		}
		sc, err := scaleOf(obj)
		if err != nil {
			writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		write(w, http.StatusOK, out, sc)
		return
	case http.MethodPut:
		want := &autoscalingv1.Scale{}
		if err := decodeInto(r, want, autoscalingv1.SchemeGroupVersion.WithKind("Scale")); err != nil {
			writeError(w, r, err)
			return
		}
		apply = func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			if err := checkRV(t.res, cur, want.ResourceVersion); err != nil {
				return nil, err
			}
			return want, nil
		}
	case http.MethodPatch:
		pt, err := patchType(r)
		if err != nil || pt == types.ApplyYAMLPatchType {
			writeError(w, r, unsupportedPatch(r.Header.Get("Content-Type")))
			return
		}
		patch, err := readBody(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		apply = func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			original, err := json.Marshal(cur)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			patched, err := applyPatch(pt, original, patch, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			sc := &autoscalingv1.Scale{}
			if err := json.Unmarshal(patched, sc); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			return sc, nil
		}
	default:
		writeError(w, r, methodNotSupported(t.res, r.Method))
		return
	}
	updated, err := s.update(r.Context(), t.res, registry.Scale, t.namespace, t.name, func(old runtime.Object) (runtime.Object, error) {
		cur, err := scaleOf(old)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		want, err := apply(cur)
		if err != nil {
			return nil, err
		}
		if want.Spec.Replicas < 0 {
			return nil, invalid(scaleResource, t.name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		setReplicas(old, want.Spec.Replicas)
		return old, nil
	}, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sc, err := scaleOf(updated)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	write(w, http.StatusOK, out, sc)
}

// serveBinding assigns a pod to a node: the scheduler's one write.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, t target) {
	if r.Method != http.MethodPost {
		writeError(w, r, methodNotSupported(t.res, r.Method))
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	b := &corev1.Binding{}
	if err := decodeInto(r, b, corev1.SchemeGroupVersion.WithKind("Binding")); err != nil {
		writeError(w, r, err)
		return
	}
	if errs := registry.ValidateBinding(b); len(errs) > 0 {
		writeError(w, r, invalid(&registry.Resource{Kind: "Binding"}, t.name, errs))
		return
	}
	gr := schema.GroupResource{Resource: "pods/binding"}
	_, err = s.update(r.Context(), t.res, registry.Binding, t.namespace, t.name, func(old runtime.Object) (runtime.Object, error) {
		pod := old.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(gr, t.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", t.name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(gr, t.name, fmt.Errorf("pod %s is already assigned to node %q", t.name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			//lint:ignore ST1005 kube-apiserver's wording, which clients print
			return nil, apierrors.NewConflict(gr, t.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now()),
		})
		return pod, nil
	}, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	write(w, http.StatusCreated, out, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status != c.Status {
				st.Conditions[i] = c
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// serveEviction deletes a pod unless a PodDisruptionBudget forbids it, as the
// eviction API does for kubectl drain.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, t target) {
	if r.Method != http.MethodPost {
		writeError(w, r, methodNotSupported(t.res, r.Method))
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ev := &policyv1.Eviction{}
	if err := decodeInto(r, ev, policyv1.SchemeGroupVersion.WithKind("Eviction")); err != nil {
		writeError(w, r, err)
		return
	}
	if ev.Name != "" && ev.Name != t.name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object (%s != %s)", t.name, ev.Name)))
		return
	}
	obj, err := s.get(r.Context(), t.res, t.namespace, t.name, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	dry, err := dryRun(opts.DryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil {
		if err := s.takeDisruption(r, pod, dry); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if _, _, err := s.deleteObject(r.Context(), t.res, t.namespace, t.name, opts, dry); err != nil {
		writeError(w, r, err)
		return
	}
	write(w, http.StatusCreated, out, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// takeDisruption refuses an eviction that a matching budget has no room for, and
// otherwise takes one disruption from each matching budget, recording the pod in its
// disruptedPods, as the eviction API does: concurrent evictions (kubectl drain evicts
// in parallel) cannot all spend the same allowance. The disruption controller
// recomputes the budget once the pod's deletion shows.
func (s *Server) takeDisruption(r *http.Request, pod *corev1.Pod, dry bool) error {
	pdbs, _, err := s.list(r.Context(), registry.PodDisruptionBudgets, pod.Namespace, true)
	if err != nil {
		return err
	}
	var matching []*policyv1.PodDisruptionBudget
	for _, o := range pdbs {
		pdb := o.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(pod.Labels)) {
			matching = append(matching, pdb)
		}
	}
	if len(matching) > 1 {
		//lint:ignore ST1005 kube-apiserver's own words
		return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	for _, pdb := range matching {
		_, err := s.update(r.Context(), registry.PodDisruptionBudgets, "status", pdb.Namespace, pdb.Name, func(old runtime.Object) (runtime.Object, error) {
			cur := old.(*policyv1.PodDisruptionBudget)
			if cur.Status.ObservedGeneration < cur.Generation || cur.Status.DisruptionsAllowed <= 0 {
				st := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
				st.ErrStatus.Details.Causes = append(st.ErrStatus.Details.Causes, metav1.StatusCause{
					Type:    "DisruptionBudget",
					Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", cur.Name, cur.Status.DesiredHealthy, cur.Status.CurrentHealthy),
				})
				return nil, st
			}
			cur.Status.DisruptionsAllowed--
			if cur.Status.DisruptedPods == nil {
				cur.Status.DisruptedPods = map[string]metav1.Time{}
			}
			cur.Status.DisruptedPods[pod.Name] = metav1.NewTime(s.now())
			return cur, nil
		}, dry)
		if err != nil {
			return err
		}
	}
	return nil
}

// serveFinalize sets a namespace's spec.finalizers, the namespace controller's last
// step before a terminating namespace goes.
func (s *Server) serveFinalize(w http.ResponseWriter, r *http.Request, t target) {
	if r.Method != http.MethodPut {
		writeError(w, r, methodNotSupported(t.res, r.Method))
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.decodeBody(w, r, t.res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	want := obj.(*corev1.Namespace)
	updated, err := s.update(r.Context(), t.res, registry.Finalize, "", t.name, func(old runtime.Object) (runtime.Object, error) {
		if err := checkRV(t.res, old, want.ResourceVersion); err != nil {
			return nil, err
		}
		ns := want.DeepCopy()
		registry.PrepareNamespaceFinalize(ns, old.(*corev1.Namespace))
		if errs := registry.ValidateNamespaceFinalize(ns, old.(*corev1.Namespace)); len(errs) > 0 {
			return nil, invalid(t.res, t.name, errs)
		}
		return ns, nil
	}, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, updated, nil, 0)
}

// serveNodeSubresource hands logs, exec, attach and port-forward to the agent of the
// pod's node.
func (s *Server) serveNodeSubresource(w http.ResponseWriter, r *http.Request, t target) {
	obj, err := s.get(r.Context(), t.res, t.namespace, t.name, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	if s.nodes == nil {
		writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("no connection to the agent of node %s", pod.Spec.NodeName)))
		return
	}
	s.nodes.ServePod(w, r, pod, t.subresource)
}
