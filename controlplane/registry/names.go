package registry

import (
	"slices"
	"sort"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Name rules of the objects other objects refer to, as kube-apiserver applies them to
// references (a pod's nodeName, a volume's secretName...).
var (
	nameIsSubdomain = apimachineryvalidation.NameIsDNSSubdomain
	nameIsLabel     = apimachineryvalidation.NameIsDNSLabel
)

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsDNS1123Label(value))
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsDNS1123Subdomain(value))
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, value, validation.IsQualifiedName(value))
}

// validateObjectName reports a reference to an object whose names follow nameFn.
func validateObjectName(name string, nameFn apimachineryvalidation.ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	return invalidEach(fldPath, name, nameFn(name, false))
}

// invalidEach is one Invalid error at fldPath for each message of a check of value
// (validation.IsDNS1123Label and the like).
func invalidEach(fldPath *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// sortedUnique returns the distinct values, sorted: a set to compare by value.
func sortedUnique(values []string) []string {
	out := append([]string(nil), values...)
	sort.Strings(out)
	return slices.Compact(out)
}
