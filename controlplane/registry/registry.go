// Package registry is the catalogue of API resources kindlike serves: their names, scope
// and subresources, and the rules each follows (defaults, validation, server-owned fields,
// selectable fields).
package registry

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Scheme knows every type the API server reads or writes, including meta.k8s.io's
// Table and PartialObjectMetadata.
var Scheme = runtime.NewScheme()

// Codecs serializes the Scheme's types as JSON, YAML and protobuf.
var Codecs = serializer.NewCodecFactory(Scheme)

// StrictCodecs is Codecs rejecting unknown and duplicate fields (fieldValidation=Strict).
var StrictCodecs = serializer.NewCodecFactory(Scheme, serializer.EnableStrict)

func init() {
	must(clientgoscheme.AddToScheme(Scheme))
	must(metav1.AddMetaToScheme(Scheme))
	metav1.AddToGroupVersion(Scheme, metav1.SchemeGroupVersion)
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Subresource names the server knows.
const (
	Status      = "status"
	Scale       = "scale"
	Binding     = "binding"
	Eviction    = "eviction"
	Log         = "log"
	Exec        = "exec"
	Attach      = "attach"
	PortForward = "portforward"
	Finalize    = "finalize"
)

// Strategy holds the rules of one resource. Every field may be nil.
type Strategy struct {
	// Default fills the fields a user may leave out, as kube-apiserver's defaulting does.
	// It runs on create and update, before validation.
	Default func(obj runtime.Object)
	// PrepareForCreate sets server-owned fields of a new object (status reset, initial
	// phase). Generic parts (uid, timestamps, generation) are done by the server.
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate carries server-owned fields over from old on an update of the main
	// resource. Status is carried over generically for resources with a status subresource.
	PrepareForUpdate func(obj, old runtime.Object)
	// PrepareForStatusUpdate carries server-owned fields over from old on an update of
	// the status subresource, after the server has copied old's spec over obj's (a pod
	// keeps its QoS class, a persistent volume stamps its phase transition time).
	PrepareForStatusUpdate func(obj, old runtime.Object)
	// Validate reports what is wrong with a new object, beyond its ObjectMeta.
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate reports what is wrong with an update, including immutable fields.
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate reports what is wrong with an update of the status subresource.
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
	// Fields returns the fields a field selector may name, beyond metadata.name and
	// metadata.namespace, which the server always offers.
	Fields func(obj runtime.Object) fields.Set
}

// Resource describes one served resource.
type Resource struct {
	Group, Version, Resource string
	Kind                     string
	Singular                 string
	ShortNames               []string
	Categories               []string
	Namespaced               bool
	Subresources             []string
	// Generation says metadata.generation counts changes of everything outside
	// metadata and status (the spec), as for workloads.
	Generation bool
	// NameIsLabel says names must be DNS-1123 labels (namespaces, services) rather than
	// DNS-1123 subdomains.
	NameIsLabel bool
	// NameIsDNS1035 says names must be DNS-1035 labels (services).
	NameIsDNS1035 bool
	// NoDeleteCollection leaves deletecollection out of the verbs (namespaces).
	NoDeleteCollection bool
	// StoredAs names another resource whose storage this one shares (events.k8s.io/v1
	// events are core/v1 events), with the conversions between the two.
	StoredAs    *Resource
	ToStored    func(obj runtime.Object) (runtime.Object, error)
	FromStored  func(obj runtime.Object) (runtime.Object, error)
	Strategy    Strategy
	storagePath string
}

// GroupVersion of the resource.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GVR of the resource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

// GVK of the resource's objects.
func (r *Resource) GVK() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// ListGVK of the resource's lists.
func (r *Resource) ListGVK() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind + "List")
}

// New returns an empty object of the resource's kind, with its TypeMeta set.
func (r *Resource) New() runtime.Object {
	obj, err := Scheme.New(r.GVK())
	if err != nil {
		panic(fmt.Sprintf("registry: %s not in scheme: %v", r.GVK(), err))
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	return obj
}

// NewList returns an empty list of the resource's kind, with its TypeMeta set.
func (r *Resource) NewList() runtime.Object {
	obj, err := Scheme.New(r.ListGVK())
	if err != nil {
		panic(fmt.Sprintf("registry: %s not in scheme: %v", r.ListGVK(), err))
	}
	obj.GetObjectKind().SetGroupVersionKind(r.ListGVK())
	return obj
}

// HasSubresource reports whether the resource serves the named subresource.
func (r *Resource) HasSubresource(name string) bool {
	for _, s := range r.Subresources {
		if s == name {
			return true
		}
	}
	return false
}

// Stored returns the resource whose storage holds this one's objects: itself, or the
// one named by StoredAs.
func (r *Resource) Stored() *Resource {
	if r.StoredAs != nil {
		return r.StoredAs
	}
	return r
}

// Prefix is the store key prefix of the resource's objects in namespace ns; "" means
// every namespace (or the resource is cluster-scoped).
func (r *Resource) Prefix(ns string) string {
	s := r.Stored()
	if ns == "" || !s.Namespaced {
		return s.storagePath
	}
	return s.storagePath + ns + "/"
}

// Key is the store key of one object.
func (r *Resource) Key(ns, name string) string {
	return r.Prefix(ns) + name
}

// Verbs the resource serves, in discovery order.
func (r *Resource) Verbs() []string {
	if r.NoDeleteCollection {
		return []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	}
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

// SubresourceVerbs are the verbs of one subresource, and the kind it speaks.
func SubresourceVerbs(name string) (verbs []string, gvk schema.GroupVersionKind) {
	switch name {
	case Status:
		return []string{"get", "patch", "update"}, schema.GroupVersionKind{}
	case Scale:
		return []string{"get", "patch", "update"}, schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	case Binding:
		return []string{"create"}, schema.GroupVersionKind{Version: "v1", Kind: "Binding"}
	case Eviction:
		return []string{"create"}, schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
	case Log:
		return []string{"get"}, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	case Exec, Attach, PortForward:
		return []string{"create", "get"}, schema.GroupVersionKind{Version: "v1", Kind: podSubresourceKind(name)}
	case Finalize:
		return []string{"update"}, schema.GroupVersionKind{}
	}
	return nil, schema.GroupVersionKind{}
}

func podSubresourceKind(name string) string {
	switch name {
	case Exec:
		return "PodExecOptions"
	case Attach:
		return "PodAttachOptions"
	}
	return "PodPortForwardOptions"
}

var (
	all     []*Resource
	byGVR   = map[schema.GroupVersionResource]*Resource{}
	byGVK   = map[schema.GroupVersionKind]*Resource{}
	byGroup = map[string][]*Resource{}
)

// register adds resources to the catalogue; resource files call it from init.
func register(rs ...*Resource) {
	for _, r := range rs {
		group := r.Group
		if group == "" {
			group = "core"
		}
		r.storagePath = "/" + group + "/" + r.Resource + "/"
		if r.Singular == "" {
			r.Singular = strings.ToLower(r.Kind)
		}
		if _, dup := byGVR[r.GVR()]; dup {
			panic("registry: duplicate resource " + r.GVR().String())
		}
		all = append(all, r)
		byGVR[r.GVR()] = r
		byGVK[r.GVK()] = r
		byGroup[r.Group] = append(byGroup[r.Group], r)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Group != all[j].Group {
			return groupRank(all[i].Group) < groupRank(all[j].Group)
		}
		return all[i].Resource < all[j].Resource
	})
}

// All returns every resource, core first, then groups in discovery order.
func All() []*Resource { return all }

// Lookup finds a resource by group, version and plural name.
func Lookup(group, version, resource string) (*Resource, bool) {
	r, ok := byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: resource}]
	return r, ok
}

// ForKind finds the resource serving a kind.
func ForKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	r, ok := byGVK[gvk]
	return r, ok
}

// groupOrder is the order discovery lists groups in, as kube-apiserver does.
var groupOrder = []string{
	"", "apps", "events.k8s.io", "autoscaling", "batch", "policy", "storage.k8s.io",
	"coordination.k8s.io", "discovery.k8s.io",
}

func groupRank(g string) int {
	for i, o := range groupOrder {
		if o == g {
			return i
		}
	}
	return len(groupOrder)
}

// GroupVersions returns the served group versions, core ("" group) first, in discovery order.
func GroupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range all {
		gv := r.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// InGroupVersion returns the resources served under gv.
func InGroupVersion(gv schema.GroupVersion) []*Resource {
	var out []*Resource
	for _, r := range byGroup[gv.Group] {
		if r.Version == gv.Version {
			out = append(out, r)
		}
	}
	return out
}
