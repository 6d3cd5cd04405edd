package registry

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func init() {
	rules[*corev1.ReplicationController]{
		Default: defaultReplicationController,
		PrepareForCreate: func(rc *corev1.ReplicationController) {
			rc.Status = corev1.ReplicationControllerStatus{}
			if rc.Spec.Template != nil {
				dropDisabledPodSpecFields(&rc.Spec.Template.Spec, nil)
			}
		},
		PrepareForUpdate: func(rc, old *corev1.ReplicationController) {
			if rc.Spec.Template != nil && old.Spec.Template != nil {
				dropDisabledPodSpecFields(&rc.Spec.Template.Spec, &old.Spec.Template.Spec)
			}
		},
		Validate:             func(rc *corev1.ReplicationController) field.ErrorList { return validateRCSpec(&rc.Spec) },
		ValidateUpdate:       func(rc, _ *corev1.ReplicationController) field.ErrorList { return validateRCSpec(&rc.Spec) },
		ValidateStatusUpdate: func(rc, _ *corev1.ReplicationController) field.ErrorList { return validateRCStatus(&rc.Status) },
		Fields: func(rc *corev1.ReplicationController) fields.Set {
			return fields.Set{"status.replicas": strconv.Itoa(int(rc.Status.Replicas))}
		},
		KubeFinalizers: true,
	}.set(ReplicationControllers)
}

// defaultReplicationController takes the selector, and the controller's own labels,
// from the template when they are not given.
func defaultReplicationController(rc *corev1.ReplicationController) {
	if rc.Spec.Template != nil && rc.Spec.Template.Labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = maps.Clone(rc.Spec.Template.Labels)
		}
		if len(rc.Labels) == 0 {
			rc.Labels = maps.Clone(rc.Spec.Template.Labels)
		}
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr.To[int32](1)
	}
	defaultPodTemplate(rc.Spec.Template)
}

func validateRCSpec(spec *corev1.ReplicationControllerSpec) field.ErrorList {
	fldPath := field.NewPath("spec")
	errs := validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	selector := labels.Set(spec.Selector).AsSelector()
	if selector.Empty() {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	}
	errs = append(errs, validateNonnegative(int64(ptr.Deref(spec.Replicas, 0)), fldPath.Child("replicas"))...)
	tp := fldPath.Child("template")
	if spec.Template == nil {
		return append(errs, field.Required(tp, ""))
	}
	errs = append(errs, validateTemplateSelector(selector, spec.Template, tp)...)
	errs = append(errs, validatePodTemplateSpec(spec.Template, tp)...)
	return append(errs, validateAlwaysRestartingTemplate(&spec.Template.Spec, tp, "ReplicationController")...)
}

// validateAlwaysRestartingTemplate: the pods of a controller that keeps replicas running
// restart always and have no deadline.
func validateAlwaysRestartingTemplate(spec *corev1.PodSpec, tp *field.Path, kind string) field.ErrorList {
	var errs field.ErrorList
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

func validateRCStatus(s *corev1.ReplicationControllerStatus) field.ErrorList {
	return validateReplicaCounts(field.NewPath("status"), s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)
}

// validateReplicaCounts checks the counters RCs and ReplicaSets report.
func validateReplicaCounts(p *field.Path, replicas, fullyLabeled, ready, available int32, observed int64) field.ErrorList {
	errs := validateNonnegative(int64(replicas), p.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(fullyLabeled), p.Child("fullyLabeledReplicas"))...)
	errs = append(errs, validateNonnegative(int64(ready), p.Child("readyReplicas"))...)
	errs = append(errs, validateNonnegative(int64(available), p.Child("availableReplicas"))...)
	errs = append(errs, validateNonnegative(observed, p.Child("observedGeneration"))...)
	const msg = "cannot be greater than status.replicas"
	if fullyLabeled > replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), fullyLabeled, msg))
	}
	if ready > replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), ready, msg))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, msg))
	}
	if available > ready {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}
