package registry

import (
	"reflect"
	"slices"
	"unicode"
	"unicode/utf8"
)

// setFieldsExcept lists the fields of struct v that are set (not their zero value),
// leaving out the allowed ones, each named as kube-apiserver names it in errors: the Go
// field name with its first letter lowered.
func setFieldsExcept(v any, allowed ...string) []string {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	var set []string
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if slices.Contains(allowed, f.Name) || rv.Field(i).IsZero() {
			continue
		}
		r, n := utf8.DecodeRuneInString(f.Name)
		set = append(set, string(unicode.ToLower(r))+f.Name[n:])
	}
	return set
}
