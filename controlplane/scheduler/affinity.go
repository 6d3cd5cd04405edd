package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Reasons of the inter-pod and spreading filters, in kube-scheduler's words.
const (
	reasonPodAffinity          = "node(s) didn't match pod affinity rules"
	reasonPodAntiAffinity      = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonSpread               = "node(s) didn't match pod topology spread constraints"
	reasonSpreadLabel          = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// termMatches reports whether p is selected by an affinity term declared by owner.
// A term names its namespaces, or an empty namespaceSelector for all of them; with
// neither it means the owner's namespace. (kindlike does not match namespaceSelector
// labels yet: a non-empty one falls back to the named namespaces.)
func termMatches(term corev1.PodAffinityTerm, owner, p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || term.LabelSelector == nil {
		return false
	}
	allNamespaces := term.NamespaceSelector != nil && len(term.NamespaceSelector.MatchLabels) == 0 && len(term.NamespaceSelector.MatchExpressions) == 0
	if !allNamespaces {
		namespaces := term.Namespaces
		if len(namespaces) == 0 {
			namespaces = []string{owner.Namespace}
		}
		found := false
		for _, ns := range namespaces {
			found = found || ns == p.Namespace
		}
		if !found {
			return false
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	return err == nil && sel.Matches(labels.Set(p.Labels))
}

// sameDomain reports whether two nodes share a value of the topology key.
func sameDomain(a, b *corev1.Node, key string) bool {
	va, okA := a.Labels[key]
	vb, okB := b.Labels[key]
	return okA && okB && va == vb
}

// countInDomain counts the pods selected by term on nodes in n's domain.
func countInDomain(term corev1.PodAffinityTerm, owner *corev1.Pod, n *nodeInfo, all *snapshot) int {
	count := 0
	for _, m := range all.nodes {
		if !sameDomain(n.node, m.node, term.TopologyKey) {
			continue
		}
		for _, p := range m.pods {
			if termMatches(term, owner, p) {
				count++
			}
		}
	}
	return count
}

func requiredAffinity(pod *corev1.Pod) []corev1.PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAffinity != nil {
		return a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

func requiredAntiAffinity(pod *corev1.Pod) []corev1.PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		return a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// fitsInterPodAffinity checks the pod's required affinity and anti-affinity, and the
// required anti-affinity of the pods already placed.
func fitsInterPodAffinity(pod *corev1.Pod, n *nodeInfo, all *snapshot) string {
	for _, term := range requiredAffinity(pod) {
		if _, ok := n.node.Labels[term.TopologyKey]; !ok {
			return reasonPodAffinity
		}
		if countInDomain(term, pod, n, all) > 0 {
			continue
		}
		// The first pod of a group that selects itself may go anywhere, or none could.
		if !termMatches(term, pod, pod) || anywhere(term, pod, all) {
			return reasonPodAffinity
		}
	}
	for _, term := range requiredAntiAffinity(pod) {
		if countInDomain(term, pod, n, all) > 0 {
			return reasonPodAntiAffinity
		}
	}
	for _, t := range all.antiAffinity() {
		if sameDomain(n.node, t.node.node, t.term.TopologyKey) && termMatches(t.term, t.pod, pod) {
			return reasonExistingAntiAffinity
		}
	}
	return ""
}

// anywhere reports whether any placed pod is selected by term.
func anywhere(term corev1.PodAffinityTerm, owner *corev1.Pod, all *snapshot) bool {
	for _, m := range all.nodes {
		for _, p := range m.pods {
			if termMatches(term, owner, p) {
				return true
			}
		}
	}
	return false
}

// spreadCounts counts, per value of the constraint's topology key, the pods the
// constraint selects, over the nodes the pod could be placed on by its node affinity.
func spreadCounts(pod *corev1.Pod, c corev1.TopologySpreadConstraint, all *snapshot) map[string]int {
	counts := map[string]int{}
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil || c.LabelSelector == nil {
		sel = labels.Nothing()
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, m := range all.nodes {
		v, ok := m.node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		if match, _ := affinity.Match(m.node); !match && (c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor) {
			continue
		}
		if _, seen := counts[v]; !seen {
			counts[v] = 0
		}
		for _, p := range m.pods {
			if p.Namespace == pod.Namespace && p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) {
				counts[v]++
			}
		}
	}
	return counts
}

// fitsTopologySpread checks the pod's DoNotSchedule spread constraints: placing it
// must not make any domain exceed the others' minimum by more than maxSkew.
func fitsTopologySpread(pod *corev1.Pod, n *nodeInfo, all *snapshot) string {
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		v, ok := n.node.Labels[c.TopologyKey]
		if !ok {
			return reasonSpreadLabel
		}
		if spreadSkew(pod, c, v, all) > int(c.MaxSkew) {
			return reasonSpread
		}
	}
	return ""
}

// spreadSkew is the skew the domain value would have with the pod placed in it.
func spreadSkew(pod *corev1.Pod, c corev1.TopologySpreadConstraint, value string, all *snapshot) int {
	counts := spreadCounts(pod, c, all)
	lowest := -1
	for _, n := range counts {
		if lowest < 0 || n < lowest {
			lowest = n
		}
	}
	if lowest < 0 || (c.MinDomains != nil && int32(len(counts)) < *c.MinDomains) {
		lowest = 0
	}
	self := 0
	if sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector); err == nil && c.LabelSelector != nil && sel.Matches(labels.Set(pod.Labels)) {
		self = 1
	}
	return counts[value] + self - lowest
}
