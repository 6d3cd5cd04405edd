package documents

import (
	"fmt"
	"net/http"
	"reflect"
	"sort"

	"github.com/kindlike/kindlike/controlplane/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/common"
)

// Media types, as kube-apiserver lists them for its built-in resources (CBOR is left out:
// it is an alpha feature kube-apiserver 1.32 does not enable by default, and kindlike does
// not speak it).
var (
	objectMedia = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	listMedia   = append(append([]string(nil), objectMedia...),
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	logMedia   = append([]string{"text/plain"}, objectMedia...)
	anyMedia   = []string{"*/*"}
	patchMedia = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
		"application/apply-patch+yaml",
	}
)

// deleteReturnsObject lists the resources whose DELETE answers with the deleted object
// rather than a Status, as kube-apiserver 1.32's storage for them does.
var deleteReturnsObject = map[schema.GroupVersionResource]bool{
	{Version: "v1", Resource: "pods"}:                                    true,
	{Version: "v1", Resource: "services"}:                                true,
	{Version: "v1", Resource: "persistentvolumes"}:                       true,
	{Version: "v1", Resource: "persistentvolumeclaims"}:                  true,
	{Version: "v1", Resource: "resourcequotas"}:                          true,
	{Version: "v1", Resource: "serviceaccounts"}:                         true,
	{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}: true,
}

// paramSet holds the query parameters of each kind of operation, read from the schemas of
// the options types the server decodes query strings into, so their names, types and
// descriptions are those of the k8s.io/apimachinery and k8s.io/api version kindlike builds
// with.
type paramSet struct {
	list, deleteCollection, delete, create, update, patch []common.Parameter
	// connect holds the parameters of the log, exec, attach and portforward subresources.
	connect map[string][]common.Parameter
}

func newParamSet(defs map[string]common.OpenAPIDefinition) (*paramSet, error) {
	var p paramSet
	var err error
	get := func(sample interface{}, drop ...string) []common.Parameter {
		if err != nil {
			return nil
		}
		var params []common.Parameter
		params, err = optionParams(defs, sample, drop...)
		return params
	}
	p.list = get(&metav1.ListOptions{})
	// A deletecollection takes the list options that select what to delete and the
	// delete options that say how; it never watches.
	p.deleteCollection = append(get(&metav1.ListOptions{}, "watch", "allowWatchBookmarks"), get(&metav1.DeleteOptions{})...)
	p.delete = get(&metav1.DeleteOptions{})
	p.create = get(&metav1.CreateOptions{})
	p.update = get(&metav1.UpdateOptions{})
	p.patch = get(&metav1.PatchOptions{})
	p.connect = map[string][]common.Parameter{
		registry.Log:         get(&corev1.PodLogOptions{}),
		registry.Exec:        get(&corev1.PodExecOptions{}),
		registry.Attach:      get(&corev1.PodAttachOptions{}),
		registry.PortForward: get(&corev1.PodPortForwardOptions{}),
	}
	return &p, err
}

// optionParams turns the scalar fields of an options type into query parameters. Fields
// that are objects (preconditions, sinceTime) cannot be given in a query string and are
// left out, as are the type meta fields.
func optionParams(defs map[string]common.OpenAPIDefinition, sample interface{}, drop ...string) ([]common.Parameter, error) {
	name := goTypeName(reflect.TypeOf(sample))
	def, ok := defs[name]
	if !ok {
		return nil, fmt.Errorf("no schema for options type %s", name)
	}
	skip := map[string]bool{"kind": true, "apiVersion": true}
	for _, d := range drop {
		skip[d] = true
	}
	var names []string
	for n := range def.Schema.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []common.Parameter
	for _, n := range names {
		if skip[n] {
			continue
		}
		prop := def.Schema.Properties[n]
		if len(prop.Type) != 1 {
			continue
		}
		typ := prop.Type[0]
		if typ == "array" && prop.Items != nil && prop.Items.Schema != nil && len(prop.Items.Schema.Type) == 1 {
			typ = prop.Items.Schema.Type[0]
		}
		switch typ {
		case "string", "integer", "boolean":
			out = append(out, &parameter{name: n, description: prop.Description, kind: common.QueryParameterKind, dataType: typ})
		}
	}
	return out, nil
}

var (
	prettyParam = &parameter{name: "pretty", kind: common.QueryParameterKind, dataType: "string",
		description: "If 'true', the response is indented for humans to read."}
	namespaceParam = &parameter{name: "namespace", kind: common.PathParameterKind, dataType: "string", required: true,
		description: "namespace of the object: the scope of its name, and of the access granted to it"}
)

func nameParam(kind string) common.Parameter {
	return &parameter{name: "name", kind: common.PathParameterKind, dataType: "string", required: true,
		description: "name of the " + kind}
}

func bodyParam(required bool) common.Parameter {
	return &parameter{name: "body", kind: common.BodyParameterKind, required: required}
}

func params(groups ...[]common.Parameter) []common.Parameter {
	var out []common.Parameter
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(p common.Parameter) []common.Parameter { return []common.Parameter{p} }

func responses(model interface{}, codes ...int) []common.StatusCodeResponse {
	out := make([]common.StatusCodeResponse, 0, len(codes))
	for _, c := range codes {
		out = append(out, &response{code: c, message: http.StatusText(c), model: model})
	}
	return out
}

// gvRoutes collects the routes of one group version.
type gvRoutes struct {
	gv     schema.GroupVersion
	prefix string
	routes []common.Route
}

func newGVRoutes(gv schema.GroupVersion) *gvRoutes {
	prefix := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		prefix = "/api/" + gv.Version
	}
	return &gvRoutes{gv: gv, prefix: prefix}
}

// operation is one route before it is given its group version's id and tag.
type operation struct {
	method string
	path   string
	// verb and name make the operation id, around the group version: "list" + "CoreV1" +
	// "NamespacedPod".
	verb, name  string
	action      string // x-kubernetes-action
	description string
	gvk         schema.GroupVersionKind
	params      []common.Parameter
	body        interface{}
	consumes    []string
	produces    []string
	responses   []common.StatusCodeResponse
}

func (g *gvRoutes) add(o operation) {
	ext := map[string]interface{}{}
	if o.action != "" {
		ext["x-kubernetes-action"] = o.action
	}
	if !o.gvk.Empty() {
		ext[gvkExtension] = map[string]interface{}{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind}
	}
	consumes := o.consumes
	if consumes == nil {
		consumes = anyMedia
	}
	g.routes = append(g.routes, &route{
		method:      o.method,
		path:        o.path,
		id:          o.verb + gvID(g.gv) + o.name,
		tags:        []string{gvTag(g.gv)},
		description: o.description,
		params:      o.params,
		consumes:    consumes,
		produces:    o.produces,
		extensions:  ext,
		body:        o.body,
		responses:   o.responses,
	})
}

// addResource adds the routes kube-apiserver serves for a resource: its collection, its
// objects, the deprecated watch paths and its subresources.
func (g *gvRoutes) addResource(r *registry.Resource, p *paramSet) error {
	kind, gvk := r.Kind, r.GVK()
	obj, list := r.New(), r.NewList()
	verbs := map[string]bool{}
	for _, v := range r.Verbs() {
		verbs[v] = true
	}

	scope := ""
	var scopeParams []common.Parameter
	collection := g.prefix + "/" + r.Resource
	watchCollection := g.prefix + "/watch/" + r.Resource
	if r.Namespaced {
		scope = "Namespaced"
		scopeParams = one(namespaceParam)
		collection = g.prefix + "/namespaces/{namespace}/" + r.Resource
		watchCollection = g.prefix + "/watch/namespaces/{namespace}/" + r.Resource
	}
	item := collection + "/{name}"
	itemParams := params(scopeParams, one(nameParam(kind)))
	pretty := one(prettyParam)

	deleted := interface{}(&metav1.Status{})
	if deleteReturnsObject[r.GVR()] {
		deleted = obj
	}

	if verbs["list"] {
		g.add(operation{method: http.MethodGet, path: collection, verb: "list", name: scope + kind, action: "list",
			description: "list or watch " + kind + " objects", gvk: gvk,
			params: params(scopeParams, pretty, p.list), produces: listMedia, responses: responses(list, 200)})
		if r.Namespaced {
			g.add(operation{method: http.MethodGet, path: g.prefix + "/" + r.Resource, verb: "list", name: kind + "ForAllNamespaces",
				action: "list", description: "list or watch " + kind + " objects in all namespaces", gvk: gvk,
				params: params(pretty, p.list), produces: listMedia, responses: responses(list, 200)})
		}
	}
	if verbs["watch"] {
		const deprecated = "; deprecated: list with the 'watch' parameter instead"
		g.add(operation{method: http.MethodGet, path: watchCollection, verb: "watch", name: scope + kind + "List",
			action: "watchlist", description: "watch changes to " + kind + " objects" + deprecated, gvk: gvk,
			params: params(scopeParams, pretty, p.list), produces: listMedia, responses: responses(&metav1.WatchEvent{}, 200)})
		g.add(operation{method: http.MethodGet, path: watchCollection + "/{name}", verb: "watch", name: scope + kind,
			action: "watch", description: "watch changes to the named " + kind + deprecated + ", selecting metadata.name", gvk: gvk,
			params: params(itemParams, pretty, p.list), produces: listMedia, responses: responses(&metav1.WatchEvent{}, 200)})
		if r.Namespaced {
			g.add(operation{method: http.MethodGet, path: g.prefix + "/watch/" + r.Resource, verb: "watch", name: kind + "ListForAllNamespaces",
				action: "watchlist", description: "watch changes to " + kind + " objects in all namespaces" + deprecated, gvk: gvk,
				params: params(pretty, p.list), produces: listMedia, responses: responses(&metav1.WatchEvent{}, 200)})
		}
	}
	if verbs["create"] {
		g.add(operation{method: http.MethodPost, path: collection, verb: "create", name: scope + kind, action: "post",
			description: "create a " + kind, gvk: gvk,
			params: params(scopeParams, pretty, p.create, one(bodyParam(true))), body: obj,
			produces: objectMedia, responses: responses(obj, 200, 201, 202)})
	}
	if verbs["deletecollection"] {
		g.add(operation{method: http.MethodDelete, path: collection, verb: "delete", name: "Collection" + scope + kind,
			action: "deletecollection", description: "delete a collection of " + kind + " objects", gvk: gvk,
			params: params(scopeParams, pretty, p.deleteCollection, one(bodyParam(false))), body: &metav1.DeleteOptions{},
			produces: objectMedia, responses: responses(&metav1.Status{}, 200)})
	}
	if verbs["get"] {
		g.add(operation{method: http.MethodGet, path: item, verb: "read", name: scope + kind, action: "get",
			description: "read the named " + kind, gvk: gvk,
			params: params(itemParams, pretty), produces: objectMedia, responses: responses(obj, 200)})
	}
	if verbs["update"] {
		g.add(operation{method: http.MethodPut, path: item, verb: "replace", name: scope + kind, action: "put",
			description: "replace the named " + kind, gvk: gvk,
			params: params(itemParams, pretty, p.update, one(bodyParam(true))), body: obj,
			produces: objectMedia, responses: responses(obj, 200, 201)})
	}
	if verbs["patch"] {
		g.add(operation{method: http.MethodPatch, path: item, verb: "patch", name: scope + kind, action: "patch",
			description: "partially update the named " + kind, gvk: gvk,
			params: params(itemParams, pretty, p.patch, one(bodyParam(true))), body: &metav1.Patch{},
			consumes: patchMedia, produces: objectMedia, responses: responses(obj, 200, 201)})
	}
	if verbs["delete"] {
		g.add(operation{method: http.MethodDelete, path: item, verb: "delete", name: scope + kind, action: "delete",
			description: "delete the named " + kind, gvk: gvk,
			params: params(itemParams, pretty, p.delete, one(bodyParam(false))), body: &metav1.DeleteOptions{},
			produces: objectMedia, responses: responses(deleted, 200, 202)})
	}

	for _, sub := range r.Subresources {
		if err := g.addSubresource(r, sub, item, itemParams, p); err != nil {
			return err
		}
	}
	return nil
}

func (g *gvRoutes) addSubresource(r *registry.Resource, sub, item string, itemParams []common.Parameter, p *paramSet) error {
	kind := r.Kind
	path := item + "/" + sub
	name := scopeName(r) + upperFirst(sub)
	verbs, gvk := registry.SubresourceVerbs(sub)
	if len(verbs) == 0 {
		return fmt.Errorf("%s: subresource %q unknown to the OpenAPI generator", r.GVR(), sub)
	}
	if gvk.Empty() {
		gvk = r.GVK()
	}
	pretty := one(prettyParam)

	switch sub {
	case registry.Exec, registry.Attach, registry.PortForward:
		// Streaming subresources: the connection is upgraded (SPDY or WebSocket).
		for _, v := range verbs {
			method := map[string]string{"get": http.MethodGet, "create": http.MethodPost}[v]
			if method == "" {
				return fmt.Errorf("%s/%s: verb %q has no connect method", r.GVR(), sub, v)
			}
			word := upperFirst(map[string]string{"get": "get", "create": "post"}[v])
			g.add(operation{method: method, path: path, verb: "connect", name: word + name, action: "connect",
				description: "connect " + method + " requests to " + sub + " of the named " + kind, gvk: gvk,
				params: params(itemParams, p.connect[sub]), produces: anyMedia, responses: responses("", 200)})
		}
		return nil
	case registry.Log:
		g.add(operation{method: http.MethodGet, path: path, verb: "read", name: name, action: "get",
			description: "read the log of the named " + kind, gvk: gvk,
			params: params(itemParams, pretty, p.connect[sub]), produces: logMedia, responses: responses("", 200)})
		return nil
	}

	// Subresources that read and write an object: the resource's own kind (status,
	// finalize) or another (scale, binding, eviction).
	model := r.New()
	if gvk != r.GVK() {
		obj, err := registry.Scheme.New(gvk)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.GVR(), sub, err)
		}
		model = obj
	}
	for _, v := range verbs {
		switch v {
		case "get":
			g.add(operation{method: http.MethodGet, path: path, verb: "read", name: name, action: "get",
				description: "read " + sub + " of the named " + kind, gvk: gvk,
				params: params(itemParams, pretty), produces: objectMedia, responses: responses(model, 200)})
		case "update":
			g.add(operation{method: http.MethodPut, path: path, verb: "replace", name: name, action: "put",
				description: "replace " + sub + " of the named " + kind, gvk: gvk,
				params: params(itemParams, pretty, p.update, one(bodyParam(true))), body: model,
				produces: objectMedia, responses: responses(model, 200, 201)})
		case "patch":
			g.add(operation{method: http.MethodPatch, path: path, verb: "patch", name: name, action: "patch",
				description: "partially update " + sub + " of the named " + kind, gvk: gvk,
				params: params(itemParams, pretty, p.patch, one(bodyParam(true))), body: &metav1.Patch{},
				consumes: patchMedia, produces: objectMedia, responses: responses(model, 200, 201)})
		case "create":
			g.add(operation{method: http.MethodPost, path: path, verb: "create", name: name, action: "post",
				description: "create " + sub + " of the named " + kind, gvk: gvk,
				params: params(itemParams, pretty, p.create, one(bodyParam(true))), body: model,
				produces: objectMedia, responses: responses(model, 200, 201, 202)})
		default:
			return fmt.Errorf("%s/%s: verb %q unknown to the OpenAPI generator", r.GVR(), sub, v)
		}
	}
	return nil
}

func scopeName(r *registry.Resource) string {
	if r.Namespaced {
		return "Namespaced" + r.Kind
	}
	return r.Kind
}

// addDiscovery adds the group version's discovery document, "/api/v1/" or "/apis/apps/v1/".
func (g *gvRoutes) addDiscovery() {
	g.add(operation{method: http.MethodGet, path: g.prefix + "/", verb: "get", name: "APIResources",
		description: "get the resources of " + g.gv.String(), consumes: objectMedia, produces: objectMedia,
		responses: responses(&metav1.APIResourceList{}, 200)})
}

// discoveryRoutes are the documents outside any group version: "/api/", "/apis/", each
// group's "/apis/<group>/", and "/version/". The key is the name of the OpenAPI v3
// document that describes the route.
func discoveryRoutes(groups []string) map[string]*routeContainer {
	out := map[string]*routeContainer{}
	single := func(doc, path, id, tag, description string, model interface{}, media []string) {
		out[doc] = &routeContainer{root: path, routes: []common.Route{&route{
			method: http.MethodGet, path: path, id: id, tags: []string{tag}, description: description,
			consumes: media, produces: media, responses: responses(model, 200),
		}}}
	}
	single("api", "/api/", "getCoreAPIVersions", "core", "get the versions of the core API", &metav1.APIVersions{}, objectMedia)
	single("apis", "/apis/", "getAPIVersions", "apis", "get the API groups and their versions", &metav1.APIGroupList{}, objectMedia)
	for _, group := range groups {
		single("apis/"+group, "/apis/"+group+"/", "get"+groupID(group)+"APIGroup", groupTag(group),
			"get the versions of group "+group, &metav1.APIGroup{}, objectMedia)
	}
	single("version", "/version/", "getCodeVersion", "version", "get the server's version", &version.Info{}, []string{"application/json"})
	return out
}
