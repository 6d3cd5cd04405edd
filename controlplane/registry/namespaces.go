package registry

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func init() {
	rules[*corev1.Namespace]{
		Default: func(ns *corev1.Namespace) {
			labelNamespaceName(ns)
			if ns.Status.Phase == "" {
				ns.Status.Phase = corev1.NamespaceActive
			}
		},
		PrepareForCreate: func(ns *corev1.Namespace) {
			// The name may have just been generated.
			labelNamespaceName(ns)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
		},
		PrepareForUpdate: func(ns, old *corev1.Namespace) {
			// Finalizers change only through the finalize subresource.
			ns.Spec.Finalizers = old.Spec.Finalizers
			labelNamespaceName(ns)
		},
		Validate:             validateNamespace,
		ValidateStatusUpdate: validateNamespaceStatusUpdate,
		Fields: func(ns *corev1.Namespace) fields.Set {
			return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
		},
		KubeFinalizers: true,
	}.set(Namespaces)
}

// labelNamespaceName sets the kubernetes.io/metadata.name label every namespace carries,
// so selectors can pick namespaces by name.
func labelNamespaceName(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for _, f := range ns.Spec.Finalizers {
		// kube-apiserver reports these without an index.
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return errs
}

func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(errs, validateKubeFinalizerName(name, fldPath)...)
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(field.NewPath("status", "Phase"), ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(field.NewPath("status", "Phase"), ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}

// PrepareNamespaceFinalize keeps everything of old but the spec's finalizers, for an
// update of the namespaces/finalize subresource.
func PrepareNamespaceFinalize(ns, old *corev1.Namespace) {
	finalizers := ns.Spec.Finalizers
	meta := ns.ObjectMeta
	*ns = *old.DeepCopy()
	ns.ObjectMeta = meta
	ns.Spec.Finalizers = finalizers
}

// ValidateNamespaceFinalize checks an update of the namespaces/finalize subresource.
func ValidateNamespaceFinalize(ns, old *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return errs
}
