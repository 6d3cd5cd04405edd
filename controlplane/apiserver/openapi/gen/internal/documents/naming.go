package documents

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const gvkExtension = "x-kubernetes-group-version-kind"

// definitionNamer names schemas as kube-apiserver does: the Go package path with its
// domain reversed ("k8s.io/api/core/v1.Pod" is "io.k8s.api.core.v1.Pod"), and marks every
// schema of a kind the server speaks with that kind's group, version and kind, which is how
// kubectl finds the schema of an object.
type definitionNamer struct {
	gvks map[string][]schema.GroupVersionKind
}

// newDefinitionNamer knows the kinds scheme registers under the served group versions.
// Kinds of group versions kindlike does not serve are left out, so no schema claims a kind
// the server would not accept.
func newDefinitionNamer(scheme *runtime.Scheme, served map[schema.GroupVersion]bool) *definitionNamer {
	n := &definitionNamer{gvks: map[string][]schema.GroupVersionKind{}}
	for gvk, t := range scheme.AllKnownTypes() {
		if !served[gvk.GroupVersion()] {
			continue
		}
		name := goTypeName(t)
		n.gvks[name] = append(n.gvks[name], gvk)
	}
	for _, list := range n.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n
}

// goTypeName is the name openapi-gen gives a Go type: its package path, a dot, its name.
func goTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() + "." + t.Name()
}

// name is the builders' GetDefinitionName hook.
func (n *definitionNamer) name(goName string) (string, spec.Extensions) {
	friendly := restFriendlyName(goName)
	gvks := n.gvks[goName]
	if len(gvks) == 0 {
		return friendly, nil
	}
	list := make([]interface{}, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return friendly, spec.Extensions{gvkExtension: list}
}

// restFriendlyName turns "k8s.io/api/core/v1.Pod" into "io.k8s.api.core.v1.Pod".
func restFriendlyName(goName string) string {
	dot := strings.LastIndex(goName, ".")
	if dot < 0 || !strings.Contains(goName, "/") {
		return goName
	}
	pkg, typ := goName[:dot], goName[dot+1:]
	parts := strings.Split(pkg, "/")
	domain := strings.Split(parts[0], ".")
	for i, j := 0, len(domain)-1; i < j; i, j = i+1, j-1 {
		domain[i], domain[j] = domain[j], domain[i]
	}
	out := append(domain, parts[1:]...)
	return strings.Join(append(out, typ), ".")
}

// groupWords splits an API group into the words kube-apiserver builds operation ids and
// tags from: "" is "core", the ".k8s.io" suffix is dropped, and dots separate words
// ("coordination.k8s.io" is [coordination], "flowcontrol.apiserver.k8s.io" is
// [flowcontrol apiserver]).
func groupWords(group string) []string {
	if group == "" {
		return []string{"core"}
	}
	return strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// groupID is the group as it appears inside operation ids: "Core", "Apps", "Coordination".
func groupID(group string) string {
	var b strings.Builder
	for _, w := range groupWords(group) {
		b.WriteString(upperFirst(w))
	}
	return b.String()
}

// groupTag is the group as it appears in tags: "core", "apps", "flowcontrolApiserver".
func groupTag(group string) string {
	words := groupWords(group)
	var b strings.Builder
	b.WriteString(words[0])
	for _, w := range words[1:] {
		b.WriteString(upperFirst(w))
	}
	return b.String()
}

// gvID is the group version inside operation ids: "CoreV1", "AppsV1".
func gvID(gv schema.GroupVersion) string { return groupID(gv.Group) + upperFirst(gv.Version) }

// gvTag is the tag of a group version's operations: "core_v1", "apps_v1".
func gvTag(gv schema.GroupVersion) string { return groupTag(gv.Group) + "_" + gv.Version }
