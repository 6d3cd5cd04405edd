package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LimitRanges and ResourceQuotas: what a namespace's pods and claims may use.

func init() {
	rules[*corev1.LimitRange]{
		Default:        defaultLimitRange,
		Validate:       validateLimitRange,
		ValidateUpdate: func(lr, _ *corev1.LimitRange) field.ErrorList { return validateLimitRange(lr) },
		KubeFinalizers: true,
	}.set(LimitRanges)

	rules[*corev1.ResourceQuota]{
		Default: func(q *corev1.ResourceQuota) {
			defaultResourceList(q.Spec.Hard)
			defaultResourceList(q.Status.Hard)
			defaultResourceList(q.Status.Used)
		},
		PrepareForCreate: func(q *corev1.ResourceQuota) { q.Status = corev1.ResourceQuotaStatus{} },
		Validate: func(q *corev1.ResourceQuota) field.ErrorList {
			errs := validateQuotaSpec(&q.Spec)
			return append(errs, validateQuotaStatus(&q.Status)...)
		},
		ValidateUpdate: func(q, old *corev1.ResourceQuota) field.ErrorList {
			errs := validateQuotaSpec(&q.Spec)
			if !sameScopes(q.Spec.Scopes, old.Spec.Scopes) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, fieldImmutableErrorMsg))
			}
			return errs
		},
		ValidateStatusUpdate: func(q, _ *corev1.ResourceQuota) field.ErrorList { return validateQuotaStatus(&q.Status) },
		KubeFinalizers:       true,
	}.set(ResourceQuotas)
}

// defaultLimitRange fills a container limit's default from its max, and its default
// request from its default or min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			for name, q := range item.Max {
				if _, ok := item.Default[name]; !ok {
					item.Default[name] = q.DeepCopy()
				}
			}
			for name, q := range item.Default {
				if _, ok := item.DefaultRequest[name]; !ok {
					item.DefaultRequest[name] = q.DeepCopy()
				}
			}
			for name, q := range item.Min {
				if _, ok := item.DefaultRequest[name]; !ok {
					item.DefaultRequest[name] = q.DeepCopy()
				}
			}
		}
		for _, list := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			defaultResourceList(list)
		}
	}
}

var limitTypes = map[corev1.LimitType]bool{corev1.LimitTypePod: true, corev1.LimitTypeContainer: true, corev1.LimitTypePersistentVolumeClaim: true}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	seenTypes := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		p := field.NewPath("spec", "limits").Index(i)
		errs = append(errs, validateLimitType(item.Type, p.Child("type"))...)
		if seenTypes[item.Type] {
			errs = append(errs, field.Duplicate(p.Child("type"), item.Type))
		}
		seenTypes[item.Type] = true
		nameFn := validateResourceName
		if item.Type == corev1.LimitTypePod || item.Type == corev1.LimitTypeContainer {
			nameFn = validateContainerResourceName
		}
		keys := map[corev1.ResourceName]bool{}
		check := func(list corev1.ResourceList, child string) {
			for _, name := range sortedKeys(list) {
				errs = append(errs, nameFn(name, p.Child(child).Key(string(name)))...)
				keys[name] = true
			}
		}
		check(item.Max, "max")
		check(item.Min, "min")
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			check(item.Default, "default")
			check(item.DefaultRequest, "defaultRequest")
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		check(item.MaxLimitRequestRatio, "maxLimitRequestRatio")
		for _, name := range sortedKeys(keys) {
			errs = append(errs, validateLimitValues(item, name, p)...)
		}
	}
	return errs
}

func validateLimitType(t corev1.LimitType, fldPath *field.Path) field.ErrorList {
	errs := invalidEach(fldPath, t, validation.IsQualifiedName(string(t)))
	if len(errs) == 0 && !strings.Contains(string(t), "/") && !limitTypes[t] {
		errs = append(errs, field.Invalid(fldPath, t, "must be a standard limit type or fully qualified"))
	}
	return errs
}

// validateLimitValues: min ≤ default request ≤ default ≤ max, and a sane ratio.
func validateLimitValues(item *corev1.LimitRangeItem, name corev1.ResourceName, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	k := string(name)
	min, hasMin := item.Min[name]
	max, hasMax := item.Max[name]
	def, hasDef := item.Default[name]
	defReq, hasDefReq := item.DefaultRequest[name]
	ratio, hasRatio := item.MaxLimitRequestRatio[name]
	if item.Type == corev1.LimitTypePod {
		hasDef, hasDefReq = false, false
	}
	if hasMin && hasMax && min.Cmp(max) > 0 {
		errs = append(errs, field.Invalid(p.Child("min").Key(k), min, fmt.Sprintf("min value %s is greater than max value %s", min.String(), max.String())))
	}
	if hasDefReq && hasMin && min.Cmp(defReq) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(k), defReq, fmt.Sprintf("min value %s is greater than default request value %s", min.String(), defReq.String())))
	}
	if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(k), defReq, fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), max.String())))
	}
	if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(k), defReq, fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
	}
	if hasDef && hasMin && min.Cmp(def) > 0 {
		errs = append(errs, field.Invalid(p.Child("default").Key(k), min, fmt.Sprintf("min value %s is greater than default value %s", min.String(), def.String())))
	}
	if hasDef && hasMax && def.Cmp(max) > 0 {
		errs = append(errs, field.Invalid(p.Child("default").Key(k), max, fmt.Sprintf("default value %s is greater than max value %s", def.String(), max.String())))
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
	}
	if hasRatio && hasMin && hasMax {
		r, lo, hi := float64(ratio.Value()), min.Value(), max.Value()
		if ratio.Value() < resource.MaxMilliValue && lo < resource.MaxMilliValue && hi < resource.MaxMilliValue {
			r, lo, hi = float64(ratio.MilliValue())/1000, min.MilliValue(), max.MilliValue()
		}
		if limit := float64(hi) / float64(lo); r > limit {
			errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
		}
	}
	if !isOvercommitAllowed(name) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(k), defReq, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), k)))
	}
	return errs
}

var (
	quotaScopes = map[corev1.ResourceQuotaScope]bool{
		corev1.ResourceQuotaScopeTerminating: true, corev1.ResourceQuotaScopeNotTerminating: true,
		corev1.ResourceQuotaScopeBestEffort: true, corev1.ResourceQuotaScopeNotBestEffort: true,
		corev1.ResourceQuotaScopePriorityClass: true, corev1.ResourceQuotaScopeCrossNamespacePodAffinity: true,
	}
	podComputeQuota = map[corev1.ResourceName]bool{
		corev1.ResourcePods: true, corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceLimitsCPU: true,
		corev1.ResourceLimitsMemory: true, corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true,
	}
)

// scopeAllows: which standard quota resources a scope can count.
func scopeAllows(scope corev1.ResourceQuotaScope, name corev1.ResourceName) bool {
	switch scope {
	case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return podComputeQuota[name]
	case corev1.ResourceQuotaScopeBestEffort:
		return name == corev1.ResourcePods
	}
	return true
}

func validateQuotaSpec(spec *corev1.ResourceQuotaSpec) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateQuotaList(spec.Hard, p.Child("hard"))
	if len(spec.Scopes) > 0 {
		sp := p.Child("scopes")
		seen := map[corev1.ResourceQuotaScope]bool{}
		for _, scope := range spec.Scopes {
			if !quotaScopes[scope] {
				errs = append(errs, field.Invalid(sp, spec.Scopes, "unsupported scope"))
			}
			for _, name := range sortedKeys(spec.Hard) {
				if standardQuotaResources[name] && !scopeAllows(scope, name) {
					errs = append(errs, field.Invalid(sp, spec.Scopes, "unsupported scope applied to resource"))
				}
			}
			seen[scope] = true
		}
		errs = append(errs, conflictingScopes(seen, sp, spec.Scopes)...)
	}
	if sel := spec.ScopeSelector; sel != nil {
		mp := p.Child("scopeSelector").Child("matchExpressions")
		seen := map[corev1.ResourceQuotaScope]bool{}
		for _, req := range sel.MatchExpressions {
			if !quotaScopes[req.ScopeName] {
				errs = append(errs, field.Invalid(mp.Child("scopeName"), req.ScopeName, "unsupported scope"))
			}
			for _, name := range sortedKeys(spec.Hard) {
				if standardQuotaResources[name] && !scopeAllows(req.ScopeName, name) {
					errs = append(errs, field.Invalid(mp, spec.ScopeSelector, "unsupported scope applied to resource"))
				}
			}
			switch req.ScopeName {
			case corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeTerminating,
				corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
				if req.Operator != corev1.ScopeSelectorOpExists {
					errs = append(errs, field.Invalid(mp.Child("operator"), req.Operator,
						"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
				}
			}
			switch req.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(req.Values) == 0 {
					errs = append(errs, field.Required(mp.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(req.Values) != 0 {
					errs = append(errs, field.Invalid(mp.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(mp.Child("operator"), req.Operator, "not a valid selector operator"))
			}
			seen[req.ScopeName] = true
		}
		errs = append(errs, conflictingScopes(seen, mp, spec.Scopes)...)
	}
	return errs
}

func conflictingScopes(seen map[corev1.ResourceQuotaScope]bool, fldPath *field.Path, scopes []corev1.ResourceQuotaScope) field.ErrorList {
	var errs field.ErrorList
	for _, pair := range [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
	} {
		if seen[pair[0]] && seen[pair[1]] {
			errs = append(errs, field.Invalid(fldPath, scopes, "conflicting scopes"))
		}
	}
	return errs
}

func validateQuotaList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(list) {
		p := fldPath.Key(string(name))
		errs = append(errs, validateQuotaResourceName(name, p)...)
		errs = append(errs, validateResourceQuantity(name, list[name], p)...)
	}
	return errs
}

func validateQuotaStatus(s *corev1.ResourceQuotaStatus) field.ErrorList {
	p := field.NewPath("status")
	return append(validateQuotaList(s.Hard, p.Child("hard")), validateQuotaList(s.Used, p.Child("used"))...)
}

func sameScopes(a, b []corev1.ResourceQuotaScope) bool {
	set := func(l []corev1.ResourceQuotaScope) map[corev1.ResourceQuotaScope]bool {
		m := map[corev1.ResourceQuotaScope]bool{}
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	if len(sa) != len(sb) {
		return false
	}
	for s := range sa {
		if !sb[s] {
			return false
		}
	}
	return true
}
