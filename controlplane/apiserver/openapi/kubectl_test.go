package openapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kindlike/kindlike/controlplane/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	openapiclient "k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/validation/spec"
	explainv2 "k8s.io/kubectl/pkg/explain"
	explainv3 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// These tests read the documents through the client-go and kubectl code kubectl 1.32
// runs, against the handler over HTTP.

type clients struct {
	discovery *discovery.DiscoveryClient
	openapiV3 openapiclient.Client
	dynamic   dynamic.Interface
}

func newClients(t *testing.T) clients {
	t.Helper()
	srv := newServer(t)
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clients{discovery: dc, openapiV3: dc.OpenAPIV3(), dynamic: dyn}
}

// v2Resources is kubectl's view of the v2 document.
func v2Resources(t *testing.T, c clients) kubectlopenapi.Resources {
	t.Helper()
	doc, err := c.discovery.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	res, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl cannot read the v2 document: %v", err)
	}
	return res
}

func TestClientGoReadsV2Protobuf(t *testing.T) {
	c := newClients(t)
	res := v2Resources(t, c)
	for _, r := range registry.All() {
		if res.LookupResource(r.GVK()) == nil {
			t.Errorf("kubectl finds no v2 schema for %v", r.GVK())
		}
		consumes := res.GetConsumes(r.GVK(), "PATCH")
		if !slices.Contains(consumes, "application/strategic-merge-patch+json") {
			t.Errorf("%v: PATCH consumes %v, so kubectl apply would not use a strategic merge patch", r.GVK(), consumes)
		}
	}
}

func TestClientGoReadsV3(t *testing.T) {
	c := newClients(t)
	root := openapi3.NewRoot(c.openapiV3)
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	got := map[schema.GroupVersion]bool{}
	for _, gv := range gvs {
		got[gv] = true
	}
	for _, gv := range registry.GroupVersions() {
		if !got[gv] {
			t.Errorf("group version %v not listed at /openapi/v3", gv)
			continue
		}
		doc, err := root.GVSpec(gv)
		if err != nil {
			t.Errorf("%v: %v", gv, err)
			continue
		}
		for _, r := range registry.InGroupVersion(gv) {
			if findV3Schema(doc.Components.Schemas, r.GVK()) == nil {
				t.Errorf("no v3 schema for %v", r.GVK())
			}
		}
	}
}

// findV3Schema finds a kind's schema the way kubectl apply does.
func findV3Schema(schemas map[string]*spec.Schema, gvk schema.GroupVersionKind) *spec.Schema {
	for _, s := range schemas {
		var list []map[string]string
		if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &list); err != nil {
			continue
		}
		for _, m := range list {
			if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
				return s
			}
		}
	}
	return nil
}

// kubectl --validate=strict (the default) asks whether the server validates fields
// itself; if it does not, kubectl validates client-side.
func TestFieldValidationSupported(t *testing.T) {
	c := newClients(t)
	v3 := resource.NewQueryParamVerifierV3(c.dynamic, c.openapiV3, resource.QueryParamFieldValidation)
	v2 := resource.NewQueryParamVerifier(c.dynamic, c.discovery, resource.QueryParamFieldValidation)
	for _, r := range registry.All() {
		if err := v3.HasSupport(r.GVK()); err != nil {
			t.Errorf("v3: %v", err)
		}
		if err := v2.HasSupport(r.GVK()); err != nil {
			t.Errorf("v2: %v", err)
		}
	}
	// The kinds of subresources are verified too when kubectl writes them.
	for _, gvk := range []schema.GroupVersionKind{{Group: "autoscaling", Version: "v1", Kind: "Scale"}} {
		if err := v2.HasSupport(gvk); err != nil {
			t.Errorf("v2: %v", err)
		}
	}
}

func TestStrategicMergePatchMetadata(t *testing.T) {
	c := newClients(t)
	pod := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	deploy := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

	// OpenAPI v3, as kubectl apply and edit use it first.
	root := openapi3.NewRoot(c.openapiV3)
	for _, tt := range []struct {
		gvk  schema.GroupVersionKind
		path []string
	}{
		{pod, []string{"spec"}},
		{deploy, []string{"spec", "template", "spec"}},
	} {
		doc, err := root.GVSpec(tt.gvk.GroupVersion())
		if err != nil {
			t.Fatal(err)
		}
		s := findV3Schema(doc.Components.Schemas, tt.gvk)
		if s == nil {
			t.Fatalf("no v3 schema for %v", tt.gvk)
		}
		var meta strategicpatch.LookupPatchMeta = strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: doc.Components.Schemas}
		checkContainersMergeByName(t, "v3 "+tt.gvk.Kind, meta, tt.path)
	}

	// OpenAPI v2, kubectl's fallback.
	res := v2Resources(t, c)
	for _, tt := range []struct {
		gvk  schema.GroupVersionKind
		path []string
	}{
		{pod, []string{"spec"}},
		{deploy, []string{"spec", "template", "spec"}},
	} {
		checkContainersMergeByName(t, "v2 "+tt.gvk.Kind, strategicpatch.NewPatchMetaFromOpenAPI(res.LookupResource(tt.gvk)), tt.path)
	}
}

func checkContainersMergeByName(t *testing.T, what string, meta strategicpatch.LookupPatchMeta, path []string) {
	t.Helper()
	for _, field := range path {
		next, _, err := meta.LookupPatchMetadataForStruct(field)
		if err != nil {
			t.Fatalf("%s: %s: %v", what, field, err)
		}
		meta = next
	}
	_, pm, err := meta.LookupPatchMetadataForSlice("containers")
	if err != nil {
		t.Fatalf("%s: containers: %v", what, err)
	}
	if pm.GetPatchMergeKey() != "name" || !slices.Contains(pm.GetPatchStrategies(), "merge") {
		t.Errorf("%s: containers patch strategy %v, merge key %q; want merge on name", what, pm.GetPatchStrategies(), pm.GetPatchMergeKey())
	}
}

// A three-way merge built from the v3 metadata, as kubectl apply builds it, changes one
// container by name without replacing the list.
func TestApplyPatchFromV3(t *testing.T) {
	c := newClients(t)
	doc, err := openapi3.NewRoot(c.openapiV3).GVSpec(schema.GroupVersion{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	s := findV3Schema(doc.Components.Schemas, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	original := `{"spec":{"containers":[{"name":"a","image":"busybox:1"},{"name":"b","image":"nginx"}]}}`
	modified := `{"spec":{"containers":[{"name":"a","image":"busybox:2"},{"name":"b","image":"nginx"}]}}`
	current := `{"spec":{"containers":[{"name":"a","image":"busybox:1"},{"name":"b","image":"nginx"}],"nodeName":"n1"}}`
	patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(current),
		strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: doc.Components.Schemas}, false)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]interface{}
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"image":"busybox:2","name":"a"}]}}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("patch %s, want %s", b, want)
	}
}

// kubectl explain (v3 rendering) finds every served resource in its group version's
// document, and fields within.
func TestExplainV3(t *testing.T) {
	c := newClients(t)
	for _, r := range registry.All() {
		var out bytes.Buffer
		if err := explainv3.PrintModelDescription(nil, &out, c.openapiV3, r.GVR(), false, "plaintext"); err != nil {
			t.Errorf("explain %s: %v", r.GVR(), err)
			continue
		}
		if !strings.Contains(out.String(), "KIND:       "+r.Kind+"\n") {
			t.Errorf("explain %s:\n%s", r.GVR(), out.String())
		}
	}
	var out bytes.Buffer
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	if err := explainv3.PrintModelDescription([]string{"spec", "containers"}, &out, c.openapiV3, pods, false, "plaintext"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FIELD: containers <[]Container>", "image\t<string>", "name\t<string> -required-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain pods.spec.containers lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	deploy := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	if err := explainv3.PrintModelDescription([]string{"spec", "strategy", "type"}, &out, c.openapiV3, deploy, false, "plaintext"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ENUM:") || !strings.Contains(out.String(), "RollingUpdate") {
		t.Errorf("explain deployments.spec.strategy.type shows no enum:\n%s", out.String())
	}
}

// kubectl explain --output=plaintext-openapiv2.
func TestExplainV2(t *testing.T) {
	res := v2Resources(t, newClients(t))
	for _, r := range registry.All() {
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription([]string{"metadata"}, &out, res.LookupResource(r.GVK()), r.GVK(), false); err != nil {
			t.Errorf("explain %v metadata: %v", r.GVK(), err)
		}
	}
	var out bytes.Buffer
	pod := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	if err := explainv2.PrintModelDescription([]string{"spec", "containers"}, &out, res.LookupResource(pod), pod, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "RESOURCE: containers <[]Object>") {
		t.Errorf("explain pod.spec.containers:\n%s", out.String())
	}
}

type v2Getter struct{ res kubectlopenapi.Resources }

func (g v2Getter) OpenAPISchema() (kubectlopenapi.Resources, error) { return g.res, nil }

// kubectl's client-side validation, which it falls back to against servers without
// field validation, accepts valid objects and rejects unknown fields.
func TestClientSideValidation(t *testing.T) {
	v := validation.NewSchemaValidation(v2Getter{v2Resources(t, newClients(t))})
	valid := []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80}]}]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"d"}},
		  "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"100m"}}}]}}}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":"http"}]}}`,
		`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"}}`,
	}
	for _, obj := range valid {
		if err := v.ValidateBytes([]byte(obj)); err != nil {
			t.Errorf("valid object rejected: %v\n%s", err, obj)
		}
	}
	invalid := map[string]string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","imagePullPolicyy":"Always"}]}}`: "imagePullPolicyy",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"two"}}`:                                              "replicas",
	}
	for obj, field := range invalid {
		err := v.ValidateBytes([]byte(obj))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("invalid %s: got %v", field, err)
		}
	}
}
