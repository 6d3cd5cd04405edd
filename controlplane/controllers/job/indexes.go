package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Indexed Jobs: each pod carries a completion index in [0, completions), and the Job
// is done when every index has a succeeded pod.

const (
	noIndex = -1
	// indexEnv is the variable Kubernetes gives an indexed Job's containers.
	indexEnv = "JOB_COMPLETION_INDEX"
	// maxGenerateNamePrefix leaves room for the 5 random characters of a generated name.
	maxGenerateNamePrefix = 63 - 5
)

func indexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

// completionIndex reads a pod's index from its annotation; noIndex if it has none.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// parseIndexes reads a status list such as "1,3-5,7", ignoring indexes at or above
// completions.
func parseIndexes(s string, completions int) (map[int]bool, error) {
	out := map[int]bool{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil {
			return out, fmt.Errorf("cannot convert string to integer for index: %q", first)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(last); err != nil {
				return out, fmt.Errorf("cannot convert string to integer for index: %q", last)
			}
		}
		for i := a; i <= b && i < completions; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// formatIndexes writes indexes as Kubernetes does: runs of three or more as "a-b",
// pairs as "a,b".
func formatIndexes(set map[int]bool) string {
	var idx []int
	for i, ok := range set {
		if ok {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		switch {
		case j == i+1:
			b.WriteString("," + strconv.Itoa(idx[j]))
		case j > i+1:
			b.WriteString("-" + strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

// pendingIndexes returns up to n of the lowest indexes that have neither succeeded nor
// an active pod.
func pendingIndexes(n, completions int, succeeded map[int]bool, active []*corev1.Pod) []int {
	busy := map[int]bool{}
	for _, p := range active {
		busy[completionIndex(p)] = true
	}
	var out []int
	for i := 0; i < completions && len(out) < n; i++ {
		if !succeeded[i] && !busy[i] {
			out = append(out, i)
		}
	}
	return out
}

// surplusIndexed returns the active pods of an indexed Job that must go: without a
// valid index, with an index that already succeeded, or a second pod for one index.
func surplusIndexed(active []*corev1.Pod, completions int, succeeded map[int]bool) (rm, keep []*corev1.Pod) {
	seen := map[int]bool{}
	for _, p := range active {
		i := completionIndex(p)
		if i == noIndex || i >= completions || succeeded[i] || seen[i] {
			rm = append(rm, p)
			continue
		}
		seen[i] = true
		keep = append(keep, p)
	}
	return rm, keep
}

// indexedTemplate gives a pod template its completion index: annotation, label,
// hostname <job>-<index>, and the JOB_COMPLETION_INDEX variable in every container.
func indexedTemplate(job *batchv1.Job, tpl *corev1.PodTemplateSpec, index int) {
	v := strconv.Itoa(index)
	if tpl.Annotations == nil {
		tpl.Annotations = map[string]string{}
	}
	tpl.Annotations[batchv1.JobCompletionIndexAnnotation] = v
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	tpl.Labels[batchv1.JobCompletionIndexAnnotation] = v
	tpl.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	env := corev1.EnvVar{Name: indexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for _, cs := range [][]corev1.Container{tpl.Spec.InitContainers, tpl.Spec.Containers} {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == indexEnv }) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
}

// indexedGenerateName is "<job>-<index>-", the job name cut to fit.
func indexedGenerateName(name string, index int) string {
	suffix := fmt.Sprintf("-%d-", index)
	if len(name)+len(suffix) > maxGenerateNamePrefix {
		name = name[:maxGenerateNamePrefix-len(suffix)]
	}
	return name + suffix
}
