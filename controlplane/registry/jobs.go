package registry

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/robfig/cron/v3"
)

// Jobs and CronJobs.

// The unprefixed labels Jobs have always put on their pods, beside the
// batch.kubernetes.io/ ones.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

func init() {
	rules[*batchv1.Job]{
		Default:              defaultJob,
		PrepareForCreate:     prepareJobCreate,
		PrepareForUpdate:     func(j, old *batchv1.Job) { dropDisabledPodSpecFields(&j.Spec.Template.Spec, &old.Spec.Template.Spec) },
		Validate:             validateJob,
		ValidateUpdate:       validateJobUpdate,
		ValidateStatusUpdate: validateJobStatusUpdate,
		Fields: func(j *batchv1.Job) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(j.Status.Succeeded))}
		},
		KubeFinalizers: true,
	}.set(Jobs)

	rules[*batchv1.CronJob]{
		Default: defaultCronJob,
		PrepareForCreate: func(cj *batchv1.CronJob) {
			cj.Status = batchv1.CronJobStatus{}
			dropDisabledPodSpecFields(&cj.Spec.JobTemplate.Spec.Template.Spec, nil)
		},
		PrepareForUpdate: func(cj, old *batchv1.CronJob) {
			dropDisabledPodSpecFields(&cj.Spec.JobTemplate.Spec.Template.Spec, &old.Spec.JobTemplate.Spec.Template.Spec)
		},
		Validate: func(cj *batchv1.CronJob) field.ErrorList {
			errs := validateCronJobSpec(&cj.Spec, nil)
			// A job is named <cronjob>-<11 digits> and must stay a DNS-1035 label.
			if len(cj.Name) > validation.DNS1035LabelMaxLength-11 {
				errs = append(errs, field.Invalid(field.NewPath("metadata").Child("name"), cj.Name, "must be no more than 52 characters"))
			}
			return errs
		},
		ValidateUpdate: func(cj, old *batchv1.CronJob) field.ErrorList { return validateCronJobSpec(&cj.Spec, &old.Spec) },
		KubeFinalizers: true,
	}.set(CronJobs)
}

func defaultJob(j *batchv1.Job) {
	spec := &j.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptr.To[int32](6)
		}
	}
	labelJobFromTemplate(j)
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				if rule.OnPodConditions[i].Status == "" {
					rule.OnPodConditions[i].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	defaultPodTemplate(&spec.Template)
}

// labelJobFromTemplate gives an unlabelled Job its pods' labels.
func labelJobFromTemplate(j *batchv1.Job) {
	if j.Spec.Template.Labels != nil && len(j.Labels) == 0 {
		j.Labels = maps.Clone(j.Spec.Template.Labels)
	}
}

// prepareJobCreate starts the Job without status and, unless the user chose the
// selector, selects its pods by its uid (set by the server before this runs).
func prepareJobCreate(j *batchv1.Job) {
	if !ptr.Deref(j.Spec.ManualSelector, false) {
		generateJobSelector(j)
	}
	j.Status = batchv1.JobStatus{}
	dropDisabledPodSpecFields(&j.Spec.Template.Spec, nil)
	// kube-apiserver's defaulting runs again when it reads the Job back, so a Job
	// created without labels comes back with its pods' generated ones.
	labelJobFromTemplate(j)
}

func generateJobSelector(j *batchv1.Job) {
	tpl := &j.Spec.Template
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	for _, k := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := tpl.Labels[k]; !ok {
			tpl.Labels[k] = j.Name
		}
	}
	for _, k := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := tpl.Labels[k]; !ok {
			tpl.Labels[k] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := validateGeneratedSelector(j, true)
	errs = append(errs, validateJobSpec(&j.Spec, field.NewPath("spec"))...)
	if ptr.Deref(j.Spec.CompletionMode, "") == batchv1.IndexedCompletion && ptr.Deref(j.Spec.Completions, 0) > 0 {
		host := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1)
		if len(validation.IsDNS1123Label(host)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata").Child("name"), j.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", host)))
		}
	}
	return errs
}

// validateGeneratedSelector: a Job that did not choose its selector must carry the one
// generated for it. batchLabels asks for the batch.kubernetes.io/ labels too (Jobs made
// before those existed lack them).
func validateGeneratedSelector(j *batchv1.Job, batchLabels bool) field.ErrorList {
	if ptr.Deref(j.Spec.ManualSelector, false) || j.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata").Child("uid"), ""))
	}
	tp := field.NewPath("spec").Child("template").Child("metadata")
	want := [][2]string{{legacyControllerUIDLabel, string(j.UID)}, {legacyJobNameLabel, j.Name}}
	if batchLabels {
		want = append(want, [2]string{batchv1.ControllerUidLabel, string(j.UID)}, [2]string{batchv1.JobNameLabel, j.Name})
	}
	expected := labels.Set{}
	for _, kv := range want {
		errs = append(errs, validateHasLabel(j.Spec.Template.Labels, kv[0], kv[1], tp)...)
		expected[kv[0]] = kv[1]
	}
	if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !sel.Matches(expected) {
		errs = append(errs, field.Invalid(field.NewPath("spec").Child("selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func validateHasLabel(have map[string]string, key, value string, fldPath *field.Path) field.ErrorList {
	v, ok := have[key]
	if !ok {
		return field.ErrorList{field.Required(fldPath.Child("labels").Key(key), fmt.Sprintf("must be '%s'", value))}
	}
	if v != value {
		return field.ErrorList{field.Invalid(fldPath.Child("labels").Key(key), have, fmt.Sprintf("must be '%s'", value))}
	}
	return nil
}

// validateJobSpec checks a Job's spec, including its selector.
func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	errs := validateJobSpecCommon(spec, fldPath)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

const (
	maxParallelismForIndexedJob       = 100000
	maxFailedIndexesForIndexedJob     = 100_000
	completionsSoftLimit              = 100_000
	parallelismLimitForHighCompletion = 10_000
	maxFailedIndexesForHighCompletion = 10_000
	maxPodFailurePolicyRules          = 20
	maxPodFailurePolicyExitCodes      = 255
	maxPodFailurePolicyConditions     = 20
	maxManagedByLength                = 63
	maxSuccessPolicyRules             = 20
	maxSucceededIndexesLength         = 64 * 1024
)

var (
	podFailureActions     = []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	podReplacementPolices = []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}
	conditionStatuses     = []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}
)

// validateJobSpecCommon is what a Job's spec and a CronJob's job template share.
func validateJobSpecCommon(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", spec.Parallelism}, {"completions", spec.Completions}} {
		if f.v != nil {
			errs = append(errs, validateNonnegative(int64(*f.v), fldPath.Child(f.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"backoffLimit", spec.BackoffLimit}, {"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished}, {"backoffLimitPerIndex", spec.BackoffLimitPerIndex}} {
		if f.v != nil {
			errs = append(errs, validateNonnegative(int64(*f.v), fldPath.Child(f.name))...)
		}
	}
	if spec.MaxFailedIndexes != nil {
		errs = append(errs, validateNonnegative(int64(*spec.MaxFailedIndexes), fldPath.Child("maxFailedIndexes"))...)
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if spec.ManagedBy != nil {
		errs = append(errs, validation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(fldPath.Child("managedBy"), "", maxManagedByLength))
		}
	}
	indexed := ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		if m := *spec.CompletionMode; m != batchv1.NonIndexedCompletion && m != batchv1.IndexedCompletion {
			errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), spec.CompletionMode, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
		if indexed {
			errs = append(errs, validateIndexedJobSpec(spec, fldPath)...)
		}
	}
	if !indexed {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	if spec.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if !indexed {
			errs = append(errs, field.Invalid(fldPath.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		} else {
			errs = append(errs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
		}
	}
	if p := spec.PodReplacementPolicy; p != nil {
		rp := fldPath.Child("podReplacementPolicy")
		if spec.PodFailurePolicy != nil {
			if *p != batchv1.Failed {
				errs = append(errs, field.NotSupported(rp, *p, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		} else if !slices.Contains(podReplacementPolices, *p) {
			errs = append(errs, field.NotSupported(rp, *p, podReplacementPolices))
		}
	}
	tp := fldPath.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp)...)
	restartPath := tp.Child("spec", "restartPolicy")
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(restartPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(restartPath, rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(restartPath, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validateIndexedJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Completions == nil {
		errs = append(errs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
	}
	if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
		errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
	}
	if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
		errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
	}
	if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForIndexedJob {
		errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
	}
	if spec.Completions != nil && *spec.Completions > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
		if spec.MaxFailedIndexes == nil {
			errs = append(errs, field.Required(fldPath.Child("maxFailedIndexes"), fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > parallelismLimitForHighCompletion {
			errs = append(errs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", parallelismLimitForHighCompletion, completionsSoftLimit)))
		}
		if spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > maxFailedIndexesForHighCompletion {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, fmt.Sprintf("must be less than or equal to %d when completions are above %d and used with backoff limit per index", maxFailedIndexesForHighCompletion, completionsSoftLimit)))
		}
	}
	return errs
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	if n := len(spec.PodFailurePolicy.Rules); n > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, n, maxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, spec.Template.Spec.Containers...), spec.Template.Spec.InitContainers...) {
		containers[c.Name] = true
	}
	for i, rule := range spec.PodFailurePolicy.Rules {
		p := rulesPath.Index(i)
		ap := p.Child("action")
		switch {
		case rule.Action == "":
			errs = append(errs, field.Required(ap, fmt.Sprintf("valid values: %q", podFailureActions)))
		case rule.Action == batchv1.PodFailurePolicyActionFailIndex:
			if spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(ap, rule.Action, "requires the backoffLimitPerIndex to be set"))
			}
		case !slices.Contains(podFailureActions, rule.Action):
			errs = append(errs, field.NotSupported(ap, rule.Action, podFailureActions))
		}
		if rule.OnExitCodes != nil {
			errs = append(errs, validateOnExitCodes(rule.OnExitCodes, p.Child("onExitCodes"), containers)...)
		}
		if len(rule.OnPodConditions) > 0 {
			cp := p.Child("onPodConditions")
			if n := len(rule.OnPodConditions); n > maxPodFailurePolicyConditions {
				errs = append(errs, field.TooMany(cp, n, maxPodFailurePolicyConditions))
			}
			for j, c := range rule.OnPodConditions {
				pp := cp.Index(j)
				errs = append(errs, validateQualifiedName(string(c.Type), pp.Child("type"))...)
				switch {
				case c.Status == "":
					errs = append(errs, field.Required(pp.Child("status"), fmt.Sprintf("valid values: %q", conditionStatuses)))
				case !slices.Contains(conditionStatuses, c.Status):
					errs = append(errs, field.NotSupported(pp.Child("status"), c.Status, conditionStatuses))
				}
			}
		}
		if rule.OnExitCodes != nil && len(rule.OnPodConditions) > 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		}
		if rule.OnExitCodes == nil && len(rule.OnPodConditions) == 0 {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
	}
	return errs
}

var exitCodeOperators = []batchv1.PodFailurePolicyOnExitCodesOperator{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}

func validateOnExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, fldPath *field.Path, containers map[string]bool) field.ErrorList {
	var errs field.ErrorList
	op := fldPath.Child("operator")
	switch {
	case req.Operator == "":
		errs = append(errs, field.Required(op, fmt.Sprintf("valid values: %q", exitCodeOperators)))
	case !slices.Contains(exitCodeOperators, req.Operator):
		errs = append(errs, field.NotSupported(op, req.Operator, exitCodeOperators))
	}
	if req.ContainerName != nil && !containers[*req.ContainerName] {
		errs = append(errs, field.Invalid(fldPath.Child("containerName"), *req.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	vp := fldPath.Child("values")
	if len(req.Values) == 0 {
		errs = append(errs, field.Invalid(vp, req.Values, "at least one value is required"))
	} else if len(req.Values) > maxPodFailurePolicyExitCodes {
		errs = append(errs, field.TooMany(vp, len(req.Values), maxPodFailurePolicyExitCodes))
	}
	seen, ordered := map[int32]bool{}, true
	for i, v := range req.Values {
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
			errs = append(errs, field.Invalid(vp.Index(i), v, "must not be 0 for the In operator"))
		}
		if seen[v] {
			errs = append(errs, field.Duplicate(vp.Index(i), v))
		}
		seen[v] = true
		ordered = ordered && (i == 0 || req.Values[i-1] <= v)
	}
	if !ordered {
		errs = append(errs, field.Invalid(vp, req.Values, "must be ordered"))
	}
	return errs
}

func validateSuccessPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	rules := spec.SuccessPolicy.Rules
	if len(rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxSuccessPolicyRules))
	}
	for i, rule := range rules {
		p := rulesPath.Index(i)
		if rule.SucceededCount == nil && rule.SucceededIndexes == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var total int32
		if rule.SucceededIndexes != nil {
			ip := p.Child("succeededIndexes")
			if len(*rule.SucceededIndexes) > maxSucceededIndexesLength {
				errs = append(errs, field.TooLong(ip, "", maxSucceededIndexesLength))
			}
			n, err := parseIndexes(*rule.SucceededIndexes, ptr.Deref(spec.Completions, 0))
			if err != nil {
				errs = append(errs, field.Invalid(ip, *rule.SucceededIndexes, fmt.Sprintf("error parsing succeededIndexes: %s", err.Error())))
			}
			total = n
		}
		if rule.SucceededCount != nil {
			cp := p.Child("succeededCount")
			c := *rule.SucceededCount
			errs = append(errs, validateNonnegative(int64(c), cp)...)
			if completions := ptr.Deref(spec.Completions, 0); c > completions {
				errs = append(errs, field.Invalid(cp, c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if rule.SucceededIndexes != nil && c > total {
				errs = append(errs, field.Invalid(cp, c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// parseIndexes reads an index list ("1,3-5,7") and counts its indexes. Intervals must
// be increasing and below completions.
func parseIndexes(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var total int32
	last := int32(-1)
	for _, interval := range strings.Split(s, ",") {
		x, y, err := parseIndexInterval(interval, completions)
		if err != nil {
			return 0, err
		}
		if last >= x {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", last, x)
		}
		total += y - x + 1
		last = y
	}
	return total, nil
}

func parseIndexInterval(s string, completions int32) (int32, int32, error) {
	parts := strings.Split(s, "-")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", s)
	}
	parse := func(p string) (int32, error) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("cannot convert string to integer for index: %q", p)
		}
		if n >= int(completions) {
			return 0, fmt.Errorf("too large index: %q", p)
		}
		return int32(n), nil
	}
	x, err := parse(parts[0])
	if err != nil {
		return 0, 0, err
	}
	if len(parts) == 1 {
		return x, x, nil
	}
	y, err := parse(parts[1])
	if err != nil {
		return 0, 0, err
	}
	if x >= y {
		return 0, 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", x, y)
	}
	return x, y, nil
}

// validateJobUpdate: a Job's selector, template and modes are fixed once made; a
// suspended Job that never started may still move its pods elsewhere.
func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	_, hadName := old.Spec.Template.Labels[batchv1.JobNameLabel]
	_, hadUID := old.Spec.Template.Labels[batchv1.ControllerUidLabel]
	errs := validateGeneratedSelector(j, hadName && hadUID)
	fldPath := field.NewPath("spec")
	errs = append(errs, validateJobSpec(&j.Spec, fldPath)...)
	if ptr.Deref(j.Spec.CompletionMode, "") == batchv1.IndexedCompletion {
		if !apiequality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) && j.Spec.Completions != nil &&
			*j.Spec.Completions != ptr.Deref(j.Spec.Parallelism, 0) {
			errs = append(errs, field.Invalid(fldPath.Child("completions"), j.Spec.Completions,
				fmt.Sprintf("can only be modified in tandem with %s", field.NewPath("spec").Child("parallelism").String())))
		}
	} else {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.Completions, old.Spec.Completions, fldPath.Child("completions"))...)
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(j.Spec.Selector, old.Spec.Selector, fldPath.Child("selector"))...)
	oldTemplate := &old.Spec.Template
	if ptr.Deref(old.Spec.Suspend, false) && old.Status.StartTime == nil {
		// Scheduling directives of a suspended, never-started Job may change.
		oldTemplate = oldTemplate.DeepCopy()
		tpl := &j.Spec.Template
		switch {
		case tpl.Spec.Affinity == nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = nil
			if *oldTemplate.Spec.Affinity == (corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		case tpl.Spec.Affinity != nil && oldTemplate.Spec.Affinity == nil:
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: tpl.Spec.Affinity.NodeAffinity}
		case tpl.Spec.Affinity != nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = tpl.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = tpl.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = tpl.Spec.Tolerations
		oldTemplate.Annotations = tpl.Annotations
		oldTemplate.Labels = tpl.Labels
		oldTemplate.Spec.SchedulingGates = tpl.Spec.SchedulingGates
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(&j.Spec.Template, oldTemplate, fldPath.Child("template"))...)
	for _, f := range []struct {
		name     string
		new, old any
	}{
		{"completionMode", j.Spec.CompletionMode, old.Spec.CompletionMode},
		{"podFailurePolicy", j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy},
		{"backoffLimitPerIndex", j.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex},
		{"managedBy", j.Spec.ManagedBy, old.Spec.ManagedBy},
		{"successPolicy", j.Spec.SuccessPolicy, old.Spec.SuccessPolicy},
	} {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(f.new, f.old, fldPath.Child(f.name))...)
	}
	return errs
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobFinished(j *batchv1.Job) bool {
	return jobCondition(j, batchv1.JobComplete) || jobCondition(j, batchv1.JobFailed)
}

// validateJobStatusUpdate holds the Job controller to kube-apiserver v1.32's rules for
// Job status (those of the JobManagedBy feature, on by default): counters that only
// grow, terminal conditions that stay, and a Complete or Failed condition only after
// SuccessCriteriaMet or FailureTarget.
func validateJobStatusUpdate(j, old *batchv1.Job) field.ErrorList {
	s := &j.Status
	p := field.NewPath("status")
	errs := validateNonnegative(int64(s.Active), p.Child("active"))
	errs = append(errs, validateNonnegative(int64(s.Succeeded), p.Child("succeeded"))...)
	errs = append(errs, validateNonnegative(int64(s.Failed), p.Child("failed"))...)
	if s.Ready != nil {
		errs = append(errs, validateNonnegative(int64(*s.Ready), p.Child("ready"))...)
	}
	if s.Terminating != nil {
		errs = append(errs, validateNonnegative(int64(*s.Terminating), p.Child("terminating"))...)
	}
	if u := s.UncountedTerminatedPods; u != nil {
		up := p.Child("uncountedTerminatedPods")
		seen := map[string]bool{}
		for _, list := range []struct {
			name string
			uids []string
		}{{"succeeded", uidStrings(u.Succeeded)}, {"failed", uidStrings(u.Failed)}} {
			for i, uid := range list.uids {
				ip := up.Child(list.name).Index(i)
				switch {
				case uid == "":
					errs = append(errs, field.Invalid(ip, uid, "must not be empty"))
				case seen[uid]:
					errs = append(errs, field.Duplicate(ip, uid))
				default:
					seen[uid] = true
				}
			}
		}
	}
	cp := p.Child("conditions")
	omit := field.OmitValueType{}
	complete, failed := jobCondition(j, batchv1.JobComplete), jobCondition(j, batchv1.JobFailed)
	failureTarget, successMet := jobCondition(j, batchv1.JobFailureTarget), jobCondition(j, batchv1.JobSuccessCriteriaMet)
	changed := func(t batchv1.JobConditionType) bool { return jobCondition(j, t) != jobCondition(old, t) }
	completeChanged, failedChanged := changed(batchv1.JobComplete), changed(batchv1.JobFailed)
	finished, finishedChanged := jobFinished(j), jobFinished(j) != jobFinished(old)
	startChanged := !ptr.Equal(timePtr(s.StartTime), timePtr(old.Status.StartTime))
	completionChanged := !ptr.Equal(timePtr(s.CompletionTime), timePtr(old.Status.CompletionTime))
	indexed := ptr.Deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	completedIdxChanged := s.CompletedIndexes != old.Status.CompletedIndexes
	failedIdxChanged := !ptr.Equal(s.FailedIndexes, old.Status.FailedIndexes)

	if (completeChanged || failedChanged) && complete && failed {
		errs = append(errs, field.Invalid(cp, omit, "cannot set Complete=True and Failed=true conditions"))
	}
	if (completeChanged || changed(batchv1.JobFailureTarget)) && complete && failureTarget {
		errs = append(errs, field.Invalid(cp, omit, "cannot set Complete=True and FailureTarget=true conditions"))
	}
	if (completeChanged || completionChanged) && s.CompletionTime != nil && !complete {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "cannot set completionTime when there is no Complete=True condition"))
	}
	if (completeChanged || completionChanged) && s.CompletionTime == nil && complete {
		errs = append(errs, field.Required(p.Child("completionTime"), "completionTime is required for Complete jobs"))
	}
	if (startChanged || completionChanged) && s.StartTime != nil && s.CompletionTime != nil && s.CompletionTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "completionTime cannot be set before startTime"))
	}
	if (failedChanged || failedIdxChanged) && failed && !failureTarget {
		errs = append(errs, field.Invalid(cp, omit, "cannot set Failed=True condition without the FailureTarget=true condition"))
	}
	if (completeChanged || changed(batchv1.JobSuccessCriteriaMet)) && complete && !successMet {
		errs = append(errs, field.Invalid(cp, omit, "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"))
	}
	if (finishedChanged || s.Active != old.Status.Active) && s.Active > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("active"), s.Active, "active>0 is invalid for finished job"))
	}
	suspendedEmpty := ptr.Deref(j.Spec.Suspend, false) && ptr.Deref(j.Spec.Completions, -1) == 0
	if (finishedChanged || startChanged) && !suspendedEmpty && s.StartTime == nil && finished {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime is required for finished job"))
	}
	if u := s.UncountedTerminatedPods; finished && u != nil && len(u.Failed)+len(u.Succeeded) > 0 &&
		(finishedChanged || !apiequality.Semantic.DeepEqual(u, old.Status.UncountedTerminatedPods)) {
		errs = append(errs, field.Invalid(p.Child("uncountedTerminatedPods"), u, "uncountedTerminatedPods needs to be empty for finished job"))
	}
	if completedIdxChanged && j.Spec.Completions != nil {
		if _, err := parseIndexes(s.CompletedIndexes, *j.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, fmt.Sprintf("error parsing completedIndexes: %s", err.Error())))
		}
	}
	if failedIdxChanged && j.Spec.Completions != nil && j.Spec.BackoffLimitPerIndex != nil && s.FailedIndexes != nil {
		if _, err := parseIndexes(*s.FailedIndexes, *j.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child("failedIndexes"), s.FailedIndexes, fmt.Sprintf("error parsing failedIndexes: %s", err.Error())))
		}
	}
	if completedIdxChanged && s.CompletedIndexes != "" && !indexed {
		errs = append(errs, field.Invalid(p.Child("completedIndexes"), s.CompletedIndexes, "cannot set non-empty completedIndexes when non-indexed completion mode"))
	}
	if failedIdxChanged && j.Spec.BackoffLimitPerIndex == nil && s.FailedIndexes != nil {
		errs = append(errs, field.Invalid(p.Child("failedIndexes"), *s.FailedIndexes, "cannot set non-null failedIndexes when backoffLimitPerIndex is null"))
	}
	if (finishedChanged || !ptr.Equal(s.Terminating, old.Status.Terminating)) && ptr.Deref(s.Terminating, 0) > 0 && finished {
		errs = append(errs, field.Invalid(p.Child("terminating"), s.Terminating, "terminating>0 is invalid for finished job"))
	}
	if (!ptr.Equal(s.Ready, old.Status.Ready) || s.Active != old.Status.Active) && s.Ready != nil && *s.Ready > s.Active {
		errs = append(errs, field.Invalid(p.Child("ready"), *s.Ready, "cannot set more ready pods than active"))
	}
	if successMet && failed {
		errs = append(errs, field.Invalid(cp, omit, "cannot set SuccessCriteriaMet=True and Failed=true conditions"))
	}
	if successMet && failureTarget {
		errs = append(errs, field.Invalid(cp, omit, "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions"))
	}
	if j.Spec.SuccessPolicy != nil && !successMet && complete {
		errs = append(errs, field.Invalid(cp, omit, "cannot set Complete=True for Job with SuccessPolicy unless SuccessCriteriaMet=True"))
	}
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if jobCondition(old, t) && !jobCondition(j, t) {
			errs = append(errs, field.Invalid(cp, omit, fmt.Sprintf("cannot disable the terminal %s=True condition", string(t))))
		}
	}
	if s.Failed < old.Status.Failed {
		errs = append(errs, field.Invalid(p.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	if (!indexed || !ptr.Equal(j.Spec.Completions, j.Spec.Parallelism)) && s.Succeeded < old.Status.Succeeded {
		errs = append(errs, field.Invalid(p.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	if s.CompletionTime != nil && old.Status.CompletionTime != nil && !s.CompletionTime.Equal(old.Status.CompletionTime) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), s.CompletionTime, "completionTime cannot be mutated"))
	}
	resuming := jobConditionIs(old, batchv1.JobSuspended, corev1.ConditionTrue) && jobConditionIs(j, batchv1.JobSuspended, corev1.ConditionFalse)
	if startChanged && !resuming && old.Status.StartTime != nil && !ptr.Deref(j.Spec.Suspend, false) {
		errs = append(errs, field.Required(p.Child("startTime"), "startTime cannot be removed for unsuspended job"))
	}
	if jobCondition(old, batchv1.JobSuccessCriteriaMet) && !successMet {
		errs = append(errs, field.Invalid(cp, omit, "cannot disable the SuccessCriteriaMet=True condition"))
	}
	if jobCondition(old, batchv1.JobComplete) && !jobCondition(old, batchv1.JobSuccessCriteriaMet) && successMet {
		errs = append(errs, field.Invalid(cp, omit, "cannot set SuccessCriteriaMet=True for Job already has Complete=true conditions"))
	}
	return errs
}

func jobConditionIs(j *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == status {
			return true
		}
	}
	return false
}

func uidStrings[T ~string](uids []T) []string {
	out := make([]string, len(uids))
	for i, u := range uids {
		out[i] = string(u)
	}
	return out
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

func defaultCronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	// The job template is not a Job: it gets pod template defaults only.
	defaultPodTemplate(&spec.JobTemplate.Spec.Template)
}

var (
	concurrencyPolicies = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}
	timeZonePart        = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)
)

func validateCronJobSpec(spec, old *batchv1.CronJobSpec) field.ErrorList {
	fldPath := field.NewPath("spec")
	var errs field.ErrorList
	sp := fldPath.Child("schedule")
	if spec.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		if _, err := cron.ParseStandard(spec.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, spec.Schedule, err.Error()))
		}
		// A CronJob that already had TZ= in its schedule (before timeZone existed)
		// may keep it, without also setting timeZone.
		allowTZ := old != nil && strings.Contains(old.Schedule, "TZ")
		switch {
		case allowTZ && strings.Contains(spec.Schedule, "TZ") && spec.TimeZone != nil:
			errs = append(errs, field.Invalid(sp, spec.Schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
		case !allowTZ && strings.Contains(spec.Schedule, "TZ"):
			errs = append(errs, field.Invalid(sp, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		}
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, validateNonnegative(*spec.StartingDeadlineSeconds, fldPath.Child("startingDeadlineSeconds"))...)
	}
	if old == nil || !ptr.Equal(old.TimeZone, spec.TimeZone) {
		errs = append(errs, validateTimeZone(spec.TimeZone, fldPath.Child("timeZone"))...)
	}
	cp := fldPath.Child("concurrencyPolicy")
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(cp, ""))
	default:
		errs = append(errs, field.NotSupported(cp, spec.ConcurrencyPolicy, concurrencyPolicies))
	}
	jp := fldPath.Child("jobTemplate")
	errs = append(errs, validateJobSpecCommon(&spec.JobTemplate.Spec, jp.Child("spec"))...)
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ms := spec.JobTemplate.Spec.ManualSelector; ms != nil && *ms {
		errs = append(errs, field.NotSupported(jp.Child("spec", "manualSelector"), ms, []string{"nil", "false"}))
	}
	if spec.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.SuccessfulJobsHistoryLimit), fldPath.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		errs = append(errs, validateNonnegative(int64(*spec.FailedJobsHistoryLimit), fldPath.Child("failedJobsHistoryLimit"))...)
	}
	return errs
}

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(fldPath, tz, err.Error()))
	}
	return errs
}
