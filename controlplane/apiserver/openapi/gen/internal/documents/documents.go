// Package documents builds kindlike's OpenAPI v2 document and its OpenAPI v3 documents
// from the resource registry and the schemas openapi-gen wrote for the Kubernetes types,
// and writes them as the compressed files package openapi embeds and serves.
package documents

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/kindlike/kindlike/controlplane/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
	builder2 "k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/schemamutation"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Set is the documents in JSON: the v2 document, and the v3 documents by the name the
// server lists them under at /openapi/v3 ("api/v1", "apis/apps/v1", "version").
type Set struct {
	// Version is the Kubernetes version the documents describe.
	Version string
	V2      []byte
	V3      map[string][]byte
}

// Build makes the documents of the Kubernetes API version.
func Build(getDefinitions common.GetOpenAPIDefinitions, version string) (*Set, error) {
	defs := getDefinitions(func(string) spec.Ref { return spec.Ref{} })
	p, err := newParamSet(defs)
	if err != nil {
		return nil, err
	}
	namer := newDefinitionNamer(registry.Scheme, servedGroupVersions())

	var groups []string
	var containers []common.RouteContainer
	byDoc := map[string]common.RouteContainer{}
	for _, gv := range registry.GroupVersions() {
		g := newGVRoutes(gv)
		g.addDiscovery()
		for _, r := range registry.InGroupVersion(gv) {
			if err := g.addResource(r, p); err != nil {
				return nil, err
			}
		}
		c := &routeContainer{root: g.prefix, routes: g.routes}
		containers = append(containers, c)
		byDoc[g.prefix[1:]] = c
		if gv.Group != "" && !slices.Contains(groups, gv.Group) {
			groups = append(groups, gv.Group)
		}
	}
	disco := discoveryRoutes(groups)
	var discoNames []string
	for name := range disco {
		discoNames = append(discoNames, name)
	}
	sort.Strings(discoNames)
	for _, name := range discoNames {
		containers = append(containers, disco[name])
		byDoc[name] = disco[name]
	}

	info := &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}}
	set := &Set{Version: version, V3: map[string][]byte{}}

	v2, err := builder2.BuildOpenAPISpecFromRoutes(containers, &common.Config{
		ProtocolList:                   []string{"https"},
		Info:                           info,
		CommonResponses:                map[int]spec.Response{401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		GetDefinitions:                 getDefinitions,
		GetDefinitionName:              namer.name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		SecurityDefinitions: &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
		}}},
		DefaultSecurity: []map[string][]string{{"BearerToken": {}}},
		PostProcessSpec: pruneDefaults,
	})
	if err != nil {
		return nil, fmt.Errorf("build OpenAPI v2: %w", err)
	}
	if set.V2, err = v2.MarshalJSON(); err != nil {
		return nil, fmt.Errorf("encode OpenAPI v2: %w", err)
	}

	for name, c := range byDoc {
		v3, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, &common.OpenAPIV3Config{
			Info:                           info,
			CommonResponses:                map[int]*spec3.Response{401: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
			GetDefinitions:                 getDefinitions,
			GetDefinitionName:              namer.name,
			GetOperationIDAndTagsFromRoute: operationIDAndTags,
			SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			}}},
		})
		if err != nil {
			return nil, fmt.Errorf("build OpenAPI v3 %s: %w", name, err)
		}
		if set.V3[name], err = json.Marshal(v3); err != nil {
			return nil, fmt.Errorf("encode OpenAPI v3 %s: %w", name, err)
		}
	}
	return set, nil
}

// servedGroupVersions are the group versions of the served resources and of the kinds
// their subresources speak (autoscaling/v1 Scale, policy/v1 Eviction).
func servedGroupVersions() map[schema.GroupVersion]bool {
	out := map[schema.GroupVersion]bool{}
	for _, r := range registry.All() {
		out[r.GroupVersion()] = true
		for _, sub := range r.Subresources {
			if _, gvk := registry.SubresourceVerbs(sub); !gvk.Empty() {
				out[gvk.GroupVersion()] = true
			}
		}
	}
	return out
}

// pruneDefaults drops default values from the v2 definitions, as kube-apiserver does: v2
// clients (kubectl's client-side validation among them) predate them, and the v3
// documents carry them.
func pruneDefaults(sw *spec.Swagger) (*spec.Swagger, error) {
	w := schemamutation.Walker{
		SchemaCallback: func(s *spec.Schema) *spec.Schema {
			if s.Default == nil {
				return s
			}
			c := *s
			c.Default = nil
			return &c
		},
		RefCallback: schemamutation.RefCallbackNoop,
	}
	defs := make(spec.Definitions, len(sw.Definitions))
	for name, s := range sw.Definitions {
		defs[name] = *w.WalkSchema(&s)
	}
	sw.Definitions = defs
	return sw, nil
}
