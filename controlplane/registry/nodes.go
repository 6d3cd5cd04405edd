package registry

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func init() {
	rules[*corev1.Node]{
		Default: defaultNode,
		PrepareForCreate: func(node *corev1.Node) {
			// configSource belongs to the removed dynamic kubelet configuration.
			//lint:ignore SA1019 still in the API, so still to be cleared
			node.Spec.ConfigSource = nil
			node.Status.Config = nil
		},
		PrepareForUpdate: func(node, old *corev1.Node) {
			//lint:ignore SA1019 still in the API, so still to be kept unset
			if old.Spec.ConfigSource == nil {
				//lint:ignore SA1019 still in the API, so still to be kept unset
				node.Spec.ConfigSource = nil
			}
		},
		PrepareForStatusUpdate: func(node, old *corev1.Node) {
			if old.Status.Config == nil {
				node.Status.Config = nil
			}
		},
		Validate:             validateNode,
		ValidateUpdate:       validateNodeUpdate,
		ValidateStatusUpdate: validateNodeUpdate,
		Fields: func(node *corev1.Node) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(node.Spec.Unschedulable)}
		},
		KubeFinalizers: true,
	}.set(Nodes)
}

func defaultNode(node *corev1.Node) {
	// podCIDR is podCIDRs[0], as kube-apiserver's conversion keeps it.
	if node.Spec.PodCIDR != "" && (len(node.Spec.PodCIDRs) == 0 || node.Spec.PodCIDRs[0] != node.Spec.PodCIDR) {
		node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
	}
	node.Spec.PodCIDR = ""
	if len(node.Spec.PodCIDRs) > 0 {
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	}
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
	defaultResourceList(node.Status.Capacity)
	defaultResourceList(node.Status.Allocatable)
}

func validateNode(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if len(node.Spec.Taints) > 0 {
		errs = append(errs, validateNodeTaints(node.Spec.Taints)...)
	}
	errs = append(errs, validateNodeResources(node)...)
	if len(node.Spec.PodCIDRs) > 0 {
		p := field.NewPath("spec", "podCIDRs")
		for i, cidr := range node.Spec.PodCIDRs {
			errs = append(errs, validation.IsValidCIDR(p.Index(i), cidr)...)
		}
		if len(node.Spec.PodCIDRs) > 1 {
			if !isDualStackCIDRs(node.Spec.PodCIDRs) || len(node.Spec.PodCIDRs) > 2 {
				errs = append(errs, field.Invalid(p, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
			}
			seen := map[string]bool{}
			for i, cidr := range node.Spec.PodCIDRs {
				if seen[cidr] {
					errs = append(errs, field.Duplicate(p.Index(i), cidr))
				}
				seen[cidr] = true
			}
		}
	}
	return errs
}

func isDualStackCIDRs(cidrs []string) bool {
	ips := make([]string, 0, len(cidrs))
	for _, c := range cidrs {
		ip, _, err := net.ParseCIDR(c)
		if err != nil {
			return false
		}
		ips = append(ips, ip.String())
	}
	return isDualStack(ips)
}

// validateNodeTaints reports taints under metadata.taints, the path kube-apiserver uses.
func validateNodeTaints(taints []corev1.Taint) field.ErrorList {
	fldPath := field.NewPath("metadata", "taints")
	var errs field.ErrorList
	unique := map[corev1.TaintEffect]map[string]bool{}
	for i, t := range taints {
		p := fldPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		if unique[t.Effect][t.Key] {
			dup := field.Duplicate(p, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if unique[t.Effect] == nil {
			unique[t.Effect] = map[string]bool{}
		}
		unique[t.Effect][t.Key] = true
	}
	return errs
}

func validateNodeResources(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(node.Status.Capacity) {
		errs = append(errs, validateResourceQuantity(name, node.Status.Capacity[name], field.NewPath("status", "capacity", string(name)))...)
	}
	for _, name := range sortedKeys(node.Status.Allocatable) {
		errs = append(errs, validateResourceQuantity(name, node.Status.Allocatable[name], field.NewPath("status", "allocatable", string(name)))...)
	}
	return errs
}

// validateNodeUpdate covers both the node and its status: a node agent posts both.
func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	errs := validateNodeResources(node)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	// podCIDRs are set once, by whoever allocates them.
	if len(old.Spec.PodCIDRs) > 0 {
		const msg = "node updates may not change podCIDR except from \"\" to valid"
		if len(old.Spec.PodCIDRs) != len(node.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
		} else {
			for i, cidr := range old.Spec.PodCIDRs {
				if cidr != node.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if len(node.Spec.Taints) > 0 {
		errs = append(errs, validateNodeTaints(node.Spec.Taints)...)
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}
