package registry

import (
	"slices"

	policyv1 "k8s.io/api/policy/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodDisruptionBudgets: how many of a set of pods voluntary disruptions may take.

func init() {
	rules[*policyv1.PodDisruptionBudget]{
		PrepareForCreate: func(pdb *policyv1.PodDisruptionBudget) { pdb.Status = policyv1.PodDisruptionBudgetStatus{} },
		Validate:         func(pdb *policyv1.PodDisruptionBudget) field.ErrorList { return validatePDBSpec(&pdb.Spec) },
		ValidateUpdate:   func(pdb, _ *policyv1.PodDisruptionBudget) field.ErrorList { return validatePDBSpec(&pdb.Spec) },
		ValidateStatusUpdate: func(pdb, _ *policyv1.PodDisruptionBudget) field.ErrorList {
			s := &pdb.Status
			p := field.NewPath("status")
			errs := metav1validation.ValidateConditions(s.Conditions, p.Child("conditions"))
			errs = append(errs, validateNonnegative(int64(s.DisruptionsAllowed), p.Child("disruptionsAllowed"))...)
			errs = append(errs, validateNonnegative(int64(s.CurrentHealthy), p.Child("currentHealthy"))...)
			errs = append(errs, validateNonnegative(int64(s.DesiredHealthy), p.Child("desiredHealthy"))...)
			return append(errs, validateNonnegative(int64(s.ExpectedPods), p.Child("expectedPods"))...)
		},
	}.set(PodDisruptionBudgets)
}

var unhealthyPodEvictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(p, *spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		errs = append(errs, validatePositiveIntOrPercent(*spec.MinAvailable, p.Child("minAvailable"))...)
		errs = append(errs, validateNotMoreThan100Percent(*spec.MinAvailable, p.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		errs = append(errs, validatePositiveIntOrPercent(*spec.MaxUnavailable, p.Child("maxUnavailable"))...)
		errs = append(errs, validateNotMoreThan100Percent(*spec.MaxUnavailable, p.Child("maxUnavailable"))...)
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	if e := spec.UnhealthyPodEvictionPolicy; e != nil && !slices.Contains(unhealthyPodEvictionPolicies, string(*e)) {
		errs = append(errs, field.NotSupported(p.Child("unhealthyPodEvictionPolicy"), *e, unhealthyPodEvictionPolicies))
	}
	return errs
}
