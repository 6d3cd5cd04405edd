package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// The apps/v1 workloads: Deployments, ReplicaSets, StatefulSets, DaemonSets, and the
// ControllerRevisions the last two keep their history in.

func init() {
	rules[*appsv1.Deployment]{
		Default: defaultDeployment,
		PrepareForCreate: func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{}
			dropDisabledPodSpecFields(&d.Spec.Template.Spec, nil)
		},
		PrepareForUpdate: func(d, old *appsv1.Deployment) {
			dropDisabledPodSpecFields(&d.Spec.Template.Spec, &old.Spec.Template.Spec)
		},
		PrepareForStatusUpdate: func(d, old *appsv1.Deployment) {
			// The deployment controller writes status, not labels.
			d.Labels = old.Labels
		},
		Validate:             func(d *appsv1.Deployment) field.ErrorList { return validateDeploymentSpec(&d.Spec, d.Annotations) },
		ValidateUpdate:       func(d, _ *appsv1.Deployment) field.ErrorList { return validateDeploymentSpec(&d.Spec, d.Annotations) },
		ValidateStatusUpdate: validateDeploymentStatusUpdate,
		KubeFinalizers:       true,
	}.set(Deployments)

	rules[*appsv1.ReplicaSet]{
		Default: func(rs *appsv1.ReplicaSet) {
			if rs.Spec.Replicas == nil {
				rs.Spec.Replicas = ptr.To[int32](1)
			}
			defaultPodTemplate(&rs.Spec.Template)
		},
		PrepareForCreate: func(rs *appsv1.ReplicaSet) {
			rs.Status = appsv1.ReplicaSetStatus{}
			dropDisabledPodSpecFields(&rs.Spec.Template.Spec, nil)
		},
		PrepareForUpdate: func(rs, old *appsv1.ReplicaSet) {
			dropDisabledPodSpecFields(&rs.Spec.Template.Spec, &old.Spec.Template.Spec)
		},
		Validate:       func(rs *appsv1.ReplicaSet) field.ErrorList { return validateReplicaSetSpec(&rs.Spec) },
		ValidateUpdate: func(rs, _ *appsv1.ReplicaSet) field.ErrorList { return validateReplicaSetSpec(&rs.Spec) },
		ValidateStatusUpdate: func(rs, _ *appsv1.ReplicaSet) field.ErrorList {
			s := &rs.Status
			return validateReplicaCounts(field.NewPath("status"), s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)
		},
		Fields: func(rs *appsv1.ReplicaSet) fields.Set {
			return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
		},
		KubeFinalizers: true,
	}.set(ReplicaSets)

	rules[*appsv1.StatefulSet]{
		Default: defaultStatefulSet,
		PrepareForCreate: func(ss *appsv1.StatefulSet) {
			ss.Status = appsv1.StatefulSetStatus{}
			dropDisabledStatefulSetFields(ss, nil)
		},
		PrepareForUpdate:     dropDisabledStatefulSetFields,
		Validate:             func(ss *appsv1.StatefulSet) field.ErrorList { return validateStatefulSetSpec(&ss.Spec) },
		ValidateUpdate:       validateStatefulSetUpdate,
		ValidateStatusUpdate: validateStatefulSetStatusUpdate,
		KubeFinalizers:       true,
	}.set(StatefulSets)

	rules[*appsv1.DaemonSet]{
		Default:              defaultDaemonSet,
		PrepareForCreate:     prepareDaemonSetCreate,
		PrepareForUpdate:     prepareDaemonSetUpdate,
		Validate:             func(ds *appsv1.DaemonSet) field.ErrorList { return validateDaemonSetSpec(&ds.Spec, ds.Annotations) },
		ValidateUpdate:       validateDaemonSetUpdate,
		ValidateStatusUpdate: validateDaemonSetStatusUpdate,
		KubeFinalizers:       true,
	}.set(DaemonSets)

	rules[*appsv1.ControllerRevision]{
		Validate: validateControllerRevision,
		ValidateUpdate: func(cr, old *appsv1.ControllerRevision) field.ErrorList {
			errs := validateNonnegative(cr.Revision, field.NewPath("revision"))
			return append(errs, apimachineryvalidation.ValidateImmutableField(cr.Data, old.Data, field.NewPath("data"))...)
		},
		KubeFinalizers: true,
	}.set(ControllerRevisions)
}

func defaultDeployment(d *appsv1.Deployment) {
	spec := &d.Spec
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if spec.Strategy.RollingUpdate.MaxSurge == nil {
			spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if spec.ProgressDeadlineSeconds == nil {
		spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	defaultPodTemplate(&spec.Template)
}

func defaultStatefulSet(ss *appsv1.StatefulSet) {
	spec := &ss.Spec
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && spec.UpdateStrategy.RollingUpdate != nil &&
		spec.UpdateStrategy.RollingUpdate.Partition == nil {
		spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0)
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	defaultPodTemplate(&spec.Template)
	for i := range spec.VolumeClaimTemplates {
		c := &spec.VolumeClaimTemplates[i]
		if c.Status.Phase == "" {
			c.Status.Phase = corev1.ClaimPending
		}
		defaultPVCSpec(&c.Spec)
		defaultResourceList(c.Status.Capacity)
		defaultResourceList(c.Status.AllocatedResources)
	}
}

// MaxUnavailableStatefulSet is alpha (off) in kube-apiserver v1.32: its field is dropped
// unless already in use.
func dropDisabledStatefulSetFields(ss, old *appsv1.StatefulSet) {
	inUse := old != nil && old.Spec.UpdateStrategy.RollingUpdate != nil && old.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil
	if !inUse && ss.Spec.UpdateStrategy.RollingUpdate != nil {
		ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = nil
	}
	var oldSpec *corev1.PodSpec
	if old != nil {
		oldSpec = &old.Spec.Template.Spec
	}
	dropDisabledPodSpecFields(&ss.Spec.Template.Spec, oldSpec)
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if spec.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
			spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}
		if spec.UpdateStrategy.RollingUpdate.MaxSurge == nil {
			spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	defaultPodTemplate(&spec.Template)
}

// A DaemonSet's template generation is kept in an annotation in apps/v1: 1 at creation,
// one more at each change of the template.
func templateGeneration(ds *appsv1.DaemonSet) (int64, error) {
	return templateGenerationOf(ds.Annotations)
}

func templateGenerationOf(annotations map[string]string) (int64, error) {
	v, ok := annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(gen, 10)
}

func prepareDaemonSetCreate(ds *appsv1.DaemonSet) {
	ds.Status = appsv1.DaemonSetStatus{}
	dropDisabledPodSpecFields(&ds.Spec.Template.Spec, nil)
	if gen, err := templateGeneration(ds); err == nil && gen < 1 {
		setTemplateGeneration(ds, 1)
	}
}

func prepareDaemonSetUpdate(ds, old *appsv1.DaemonSet) {
	dropDisabledPodSpecFields(&ds.Spec.Template.Spec, &old.Spec.Template.Spec)
	gen, err := templateGeneration(old)
	if err != nil {
		return
	}
	if !apiequality.Semantic.DeepEqual(old.Spec.Template, ds.Spec.Template) {
		gen++
	}
	setTemplateGeneration(ds, gen)
}

// validateSelectedTemplate checks a workload's selector and that it selects its template:
// the part Deployments, ReplicaSets and DaemonSets share. kind names the workload in the
// empty-selector message, as kube-apiserver words it.
func validateSelectedTemplate(selector *metav1.LabelSelector, tpl *corev1.PodTemplateSpec, fldPath *field.Path, kind string) (labels.Selector, field.ErrorList) {
	var errs field.ErrorList
	if selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
		if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(fldPath.Child("selector"), selector, "empty selector is invalid for "+kind))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, append(errs, field.Invalid(fldPath.Child("selector"), selector, "invalid label selector"))
	}
	return sel, errs
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec) field.ErrorList {
	fldPath := field.NewPath("spec")
	errs := validateNonnegative(int64(ptr.Deref(spec.Replicas, 0)), fldPath.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	// kube-apiserver says "deployment" here too.
	sel, selErrs := validateSelectedTemplate(spec.Selector, &spec.Template, fldPath, "deployment")
	errs = append(errs, selErrs...)
	if sel != nil {
		errs = append(errs, validateReplicatedTemplate(sel, &spec.Template, fldPath.Child("template"), "ReplicaSet")...)
	}
	return errs
}

// validateReplicatedTemplate: the template of a Deployment or ReplicaSet.
func validateReplicatedTemplate(sel labels.Selector, tpl *corev1.PodTemplateSpec, tp *field.Path, kind string) field.ErrorList {
	errs := validateTemplateSelector(sel, tpl, tp)
	errs = append(errs, validatePodTemplateSpec(tpl, tp)...)
	return append(errs, validateAlwaysRestartingTemplate(&tpl.Spec, tp, kind)...)
}

var deploymentStrategies = []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, annotations map[string]string) field.ErrorList {
	fldPath := field.NewPath("spec")
	errs := validateNonnegative(int64(ptr.Deref(spec.Replicas, 0)), fldPath.Child("replicas"))
	sel, selErrs := validateSelectedTemplate(spec.Selector, &spec.Template, fldPath, "deployment")
	errs = append(errs, selErrs...)
	if sel != nil {
		// kube-apiserver names a Deployment's template a ReplicaSet's here.
		errs = append(errs, validateReplicatedTemplate(sel, &spec.Template, fldPath.Child("template"), "ReplicaSet")...)
	}
	sp := fldPath.Child("strategy")
	switch spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if ru := spec.Strategy.RollingUpdate; ru == nil {
			errs = append(errs, field.Required(sp.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		} else {
			errs = append(errs, validateRollingUpdateDeployment(ru, sp.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(sp, spec.Strategy, deploymentStrategies))
	}
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if v, ok := annotations[appsv1.DeprecatedRollbackTo]; ok && v != "" {
		// The rollback annotation is the old API's spec.rollbackTo.
		if rev, err := strconv.ParseInt(v, 10, 64); err == nil {
			errs = append(errs, validateNonnegative(rev, fldPath.Child("rollback").Child("version"))...)
		}
	}
	if spec.ProgressDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(int64(*spec.ProgressDeadlineSeconds), fldPath.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := ptr.Deref(ru.MaxUnavailable, intstr.IntOrString{}), ptr.Deref(ru.MaxSurge, intstr.IntOrString{})
	errs := validatePositiveIntOrPercent(maxUnavailable, fldPath.Child("maxUnavailable"))
	errs = append(errs, validatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
		errs = append(errs, field.Invalid(fldPath.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return append(errs, validateNotMoreThan100Percent(maxUnavailable, fldPath.Child("maxUnavailable"))...)
}

func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return invalidEach(fldPath, v, validation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return validateNonnegative(int64(v.IntValue()), fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%%')")}
}

// percentValue returns the number of a valid percentage, and whether it was one.
func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	return v.IntValue()
}

func validateNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if n, ok := percentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	s := &d.Status
	p := field.NewPath("status")
	errs := validateNonnegative(s.ObservedGeneration, p.Child("observedGeneration"))
	errs = append(errs, validateNonnegative(int64(s.Replicas), p.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.UnavailableReplicas), p.Child("unavailableReplicas"))...)
	if s.CollisionCount != nil {
		errs = append(errs, validateNonnegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

// validateCollisionCount: the hash collision count only grows.
func validateCollisionCount(count, old *int32) field.ErrorList {
	if old == nil || (count != nil && *count >= *old) {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("status").Child("collisionCount"), ptr.Deref(count, 0), "cannot be decremented")}
}

var (
	podManagementPolicies = fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)
	retentionPolicies     = []string{string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)}
)

// validateStatefulSetSpec follows kube-apiserver v1.32, which checks a StatefulSet's
// template labels and annotations but not the pod spec inside (a bad one fails when the
// controller creates the pod).
func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec) field.ErrorList {
	fldPath := field.NewPath("spec")
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy, podManagementPolicies))
	}
	us := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := us.Child("rollingUpdate")
			errs = append(errs, validateNonnegative(int64(ptr.Deref(ru.Partition, 0)), rp.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				mp := rp.Child("maxUnavailable")
				errs = append(errs, validatePositiveIntOrPercent(*ru.MaxUnavailable, mp)...)
				if intOrPercentValue(*ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(mp, *ru.MaxUnavailable, "cannot be 0"))
				}
				errs = append(errs, validateNotMoreThan100Percent(*ru.MaxUnavailable, mp)...)
			}
		}
	default:
		errs = append(errs, field.Invalid(us, spec.UpdateStrategy, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		rp := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		for _, v := range []struct {
			name   string
			policy appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			if !slices.Contains(retentionPolicies, string(v.policy)) {
				errs = append(errs, field.NotSupported(rp.Child(v.name), v.policy, retentionPolicies))
			}
		}
	}
	errs = append(errs, validateNonnegative(int64(ptr.Deref(spec.Replicas, 0)), fldPath.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, validateNonnegative(int64(spec.Ordinals.Start), fldPath.Child("ordinals.start"))...)
	}
	if spec.Selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(fldPath.Child("selector"), spec.Selector, "empty selector is invalid for statefulset"))
		}
	}
	tp := fldPath.Child("template")
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
		errs = append(errs, field.Invalid(fldPath.Child("selector"), spec.Selector, ""))
	} else {
		errs = append(errs, validateTemplateSelector(sel, &spec.Template, tp)...)
		errs = append(errs, metav1validation.ValidateLabels(spec.Template.Labels, tp.Child("labels"))...)
		errs = append(errs, apimachineryvalidation.ValidateAnnotations(spec.Template.Annotations, tp.Child("annotations"))...)
	}
	return append(errs, validateAlwaysRestartingTemplate(&spec.Template.Spec, tp, "StatefulSet")...)
}

// validateStatefulSetUpdate: only the fields kube-apiserver names may change.
func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := validateStatefulSetSpec(&ss.Spec)
	rest := ss.Spec.DeepCopy()
	rest.Replicas = old.Spec.Replicas
	rest.Template = old.Spec.Template
	rest.UpdateStrategy = old.Spec.UpdateStrategy
	rest.MinReadySeconds = old.Spec.MinReadySeconds
	rest.Ordinals = old.Spec.Ordinals
	rest.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !apiequality.Semantic.DeepEqual(*rest, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	s := &ss.Status
	p := field.NewPath("status")
	errs := validateNonnegative(int64(s.Replicas), p.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.CurrentReplicas), p.Child("currentReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, validateNonnegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, validateNonnegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	if s.CollisionCount != nil {
		errs = append(errs, validateNonnegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	for _, c := range []struct {
		name string
		n    int32
	}{{"readyReplicas", s.ReadyReplicas}, {"currentReplicas", s.CurrentReplicas}, {"updatedReplicas", s.UpdatedReplicas}, {"availableReplicas", s.AvailableReplicas}} {
		if c.n > s.Replicas {
			errs = append(errs, field.Invalid(p.Child(c.name), c.n, msg))
		}
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

var daemonSetStrategies = []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, annotations map[string]string) field.ErrorList {
	fldPath := field.NewPath("spec")
	errs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	tp := fldPath.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp)...)
	errs = append(errs, validateAlwaysRestartingTemplate(&spec.Template.Spec, tp, "DaemonSet")...)
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if gen, err := templateGenerationOf(annotations); err == nil {
		errs = append(errs, validateNonnegative(gen, fldPath.Child("templateGeneration"))...)
	}
	sp := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			errs = append(errs, field.Required(sp.Child("rollingUpdate"), ""))
			break
		}
		rp := sp.Child("rollingUpdate")
		maxUnavailable, maxSurge := ptr.Deref(ru.MaxUnavailable, intstr.IntOrString{}), ptr.Deref(ru.MaxSurge, intstr.IntOrString{})
		errs = append(errs, validatePositiveIntOrPercent(maxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, validatePositiveIntOrPercent(maxSurge, rp.Child("maxSurge"))...)
		errs = append(errs, validateNotMoreThan100Percent(maxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, validateNotMoreThan100Percent(maxSurge, rp.Child("maxSurge"))...)
		hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(sp, spec.UpdateStrategy, daemonSetStrategies))
	}
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	var errs field.ErrorList
	gen, errNew := templateGeneration(ds)
	oldGen, errOld := templateGeneration(old)
	if errNew == nil && errOld == nil {
		p := field.NewPath("spec", "templateGeneration")
		changed := !apiequality.Semantic.DeepEqual(ds.Spec.Template, old.Spec.Template)
		switch {
		case gen < oldGen:
			errs = append(errs, field.Invalid(p, gen, "must not be decremented"))
		case gen == oldGen && changed:
			errs = append(errs, field.Invalid(p, gen, "must be incremented upon template update"))
		case gen > oldGen && !changed:
			errs = append(errs, field.Invalid(p, gen, "must not be incremented without template update"))
		}
	}
	return append(errs, validateDaemonSetSpec(&ds.Spec, ds.Annotations)...)
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	s := &ds.Status
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		n    int64
	}{
		{"currentNumberScheduled", int64(s.CurrentNumberScheduled)}, {"numberMisscheduled", int64(s.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(s.DesiredNumberScheduled)}, {"numberReady", int64(s.NumberReady)},
		{"observedGeneration", s.ObservedGeneration}, {"updatedNumberScheduled", int64(s.UpdatedNumberScheduled)},
		{"numberAvailable", int64(s.NumberAvailable)}, {"numberUnavailable", int64(s.NumberUnavailable)},
	} {
		errs = append(errs, validateNonnegative(c.n, p.Child(c.name))...)
	}
	if s.CollisionCount != nil {
		errs = append(errs, validateNonnegative(int64(*s.CollisionCount), p.Child("collisionCount"))...)
	}
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := validateNonnegative(cr.Revision, field.NewPath("revision"))
	dataPath := field.NewPath("data")
	if cr.Data.Raw == nil {
		return append(errs, field.Required(dataPath, "data is mandatory"))
	}
	var v any
	if err := json.Unmarshal(cr.Data.Raw, &v); err != nil {
		return append(errs, field.Invalid(dataPath, "<value omitted>", fmt.Sprintf("error parsing data: %v", err.Error())))
	}
	if v == nil {
		return append(errs, field.Required(dataPath, "data is mandatory"))
	}
	if _, ok := v.(map[string]any); !ok {
		errs = append(errs, field.Required(dataPath, "data must be a valid JSON object"))
	}
	return errs
}
