package registry

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Leases: node heartbeats and leader election.

func init() {
	rules[*coordinationv1.Lease]{
		PrepareForCreate: func(l *coordinationv1.Lease) { dropDisabledLeaseFields(l, nil) },
		PrepareForUpdate: dropDisabledLeaseFields,
		Validate:         func(l *coordinationv1.Lease) field.ErrorList { return validateLeaseSpec(&l.Spec) },
		ValidateUpdate:   func(l, _ *coordinationv1.Lease) field.ErrorList { return validateLeaseSpec(&l.Spec) },
	}.set(Leases)
}

// Coordinated leader election is alpha (off) in kube-apiserver v1.32, so its fields are
// dropped unless already in use.
func dropDisabledLeaseFields(l, old *coordinationv1.Lease) {
	if old == nil || old.Spec.Strategy == nil {
		l.Spec.Strategy = nil
	}
	if old == nil || old.Spec.PreferredHolder == nil {
		l.Spec.PreferredHolder = nil
	}
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(p.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	return errs
}
