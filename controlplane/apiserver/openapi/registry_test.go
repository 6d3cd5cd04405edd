package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kindlike/kindlike/controlplane/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// These tests fail when the committed documents no longer describe what the registry
// serves, or were generated from other Kubernetes types. Fix them with
//
//	go generate ./controlplane/apiserver/openapi/...

const regenerate = "; regenerate with: go generate ./controlplane/apiserver/openapi/..."

// expectedOp is one operation the documents must describe.
type expectedOp struct {
	gvk    schema.GroupVersionKind
	action string // x-kubernetes-action
	// writes says the operation takes an object, and so the dryRun, fieldManager and
	// fieldValidation parameters.
	writes bool
}

// expectedPaths derives, independently of the generator, the paths and operations
// kube-apiserver would serve for the registry's resources, by group version document
// name ("api/v1").
func expectedPaths() map[string]map[string]map[string]expectedOp {
	out := map[string]map[string]map[string]expectedOp{}
	for _, r := range registry.All() {
		prefix := "/apis/" + r.Group + "/" + r.Version
		if r.Group == "" {
			prefix = "/api/" + r.Version
		}
		doc := prefix[1:]
		if out[doc] == nil {
			out[doc] = map[string]map[string]expectedOp{}
		}
		add := func(path, method, action string, gvk schema.GroupVersionKind, writes bool) {
			if out[doc][path] == nil {
				out[doc][path] = map[string]expectedOp{}
			}
			out[doc][path][method] = expectedOp{gvk: gvk, action: action, writes: writes}
		}
		collection, watch := prefix+"/"+r.Resource, prefix+"/watch/"+r.Resource
		if r.Namespaced {
			collection = prefix + "/namespaces/{namespace}/" + r.Resource
			watch = prefix + "/watch/namespaces/{namespace}/" + r.Resource
		}
		item, gvk := collection+"/{name}", r.GVK()
		for _, verb := range r.Verbs() {
			switch verb {
			case "list":
				add(collection, http.MethodGet, "list", gvk, false)
				if r.Namespaced {
					add(prefix+"/"+r.Resource, http.MethodGet, "list", gvk, false)
				}
			case "watch":
				add(watch, http.MethodGet, "watchlist", gvk, false)
				add(watch+"/{name}", http.MethodGet, "watch", gvk, false)
				if r.Namespaced {
					add(prefix+"/watch/"+r.Resource, http.MethodGet, "watchlist", gvk, false)
				}
			case "create":
				add(collection, http.MethodPost, "post", gvk, true)
			case "deletecollection":
				add(collection, http.MethodDelete, "deletecollection", gvk, false)
			case "get":
				add(item, http.MethodGet, "get", gvk, false)
			case "update":
				add(item, http.MethodPut, "put", gvk, true)
			case "patch":
				add(item, http.MethodPatch, "patch", gvk, true)
			case "delete":
				add(item, http.MethodDelete, "delete", gvk, false)
			}
		}
		for _, sub := range r.Subresources {
			verbs, subGVK := registry.SubresourceVerbs(sub)
			if subGVK.Empty() {
				subGVK = gvk
			}
			path := item + "/" + sub
			connect := sub == registry.Exec || sub == registry.Attach || sub == registry.PortForward
			for _, verb := range verbs {
				switch {
				case connect && verb == "get":
					add(path, http.MethodGet, "connect", subGVK, false)
				case connect && verb == "create":
					add(path, http.MethodPost, "connect", subGVK, false)
				case verb == "get":
					add(path, http.MethodGet, "get", subGVK, false)
				case verb == "update":
					add(path, http.MethodPut, "put", subGVK, true)
				case verb == "patch":
					add(path, http.MethodPatch, "patch", subGVK, true)
				case verb == "create":
					add(path, http.MethodPost, "post", subGVK, true)
				}
			}
		}
	}
	return out
}

// isDiscoveryPath says path is a discovery document ("/api/v1/"), not a resource.
func isDiscoveryPath(path string) bool { return strings.HasSuffix(path, "/") }

func gvkOf(ext spec.Extensions) (schema.GroupVersionKind, bool) {
	var m map[string]string
	if err := ext.GetObject("x-kubernetes-group-version-kind", &m); err != nil || m == nil {
		return schema.GroupVersionKind{}, false
	}
	return schema.GroupVersionKind{Group: m["group"], Version: m["version"], Kind: m["kind"]}, true
}

// opView is what the checks need of an operation, in either OpenAPI version.
type opView struct {
	ext         spec.Extensions
	queryParams map[string]bool
	bodyTypes   map[string]bool
}

func checkPaths(t *testing.T, docName string, paths map[string]map[string]opView, want map[string]map[string]expectedOp) {
	t.Helper()
	for path, methods := range want {
		got, ok := paths[path]
		if !ok {
			t.Errorf("%s: path %s missing%s", docName, path, regenerate)
			continue
		}
		for method, w := range methods {
			op, ok := got[method]
			if !ok {
				t.Errorf("%s: %s %s missing%s", docName, method, path, regenerate)
				continue
			}
			if gvk, _ := gvkOf(op.ext); gvk != w.gvk {
				t.Errorf("%s: %s %s is for %v, want %v%s", docName, method, path, gvk, w.gvk, regenerate)
			}
			if a, _ := op.ext.GetString("x-kubernetes-action"); a != w.action {
				t.Errorf("%s: %s %s has action %q, want %q%s", docName, method, path, a, w.action, regenerate)
			}
			if w.writes {
				for _, p := range []string{"dryRun", "fieldManager", "fieldValidation"} {
					if !op.queryParams[p] {
						t.Errorf("%s: %s %s lacks the %s parameter", docName, method, path, p)
					}
				}
			}
			if method == http.MethodPatch {
				for _, ct := range []string{"application/json-patch+json", "application/merge-patch+json",
					"application/strategic-merge-patch+json", "application/apply-patch+yaml"} {
					if !op.bodyTypes[ct] {
						t.Errorf("%s: PATCH %s does not take %s", docName, path, ct)
					}
				}
			}
		}
		for method := range got {
			if _, ok := methods[method]; !ok {
				t.Errorf("%s: %s %s is not served%s", docName, method, path, regenerate)
			}
		}
	}
	for path := range paths {
		if _, ok := want[path]; !ok && !isDiscoveryPath(path) {
			t.Errorf("%s: path %s is not served%s", docName, path, regenerate)
		}
	}
}

func loadV2(t testing.TB) *spec.Swagger {
	t.Helper()
	var sw spec.Swagger
	if err := json.Unmarshal(embeddedBytes(t, &embedded().V2.JSON), &sw); err != nil {
		t.Fatal(err)
	}
	return &sw
}

func loadV3(t testing.TB, name string) *spec3.OpenAPI {
	t.Helper()
	d, ok := embedded().V3[name]
	if !ok {
		t.Fatalf("no v3 document %s%s", name, regenerate)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(embeddedBytes(t, &d.JSON), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func TestV2DescribesRegistry(t *testing.T) {
	sw := loadV2(t)
	paths := map[string]map[string]opView{}
	for path, item := range sw.Paths.Paths {
		ops := map[string]*spec.Operation{http.MethodGet: item.Get, http.MethodPut: item.Put, http.MethodPost: item.Post,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete}
		paths[path] = map[string]opView{}
		for method, op := range ops {
			if op == nil {
				continue
			}
			v := opView{ext: op.Extensions, queryParams: map[string]bool{}, bodyTypes: map[string]bool{}}
			for _, p := range append(append([]spec.Parameter(nil), item.Parameters...), op.Parameters...) {
				if ref := p.Ref.String(); ref != "" {
					p = sw.Parameters[strings.TrimPrefix(ref, "#/parameters/")]
				}
				if p.In == "query" {
					v.queryParams[p.Name] = true
				}
			}
			for _, c := range op.Consumes {
				v.bodyTypes[c] = true
			}
			paths[path][method] = v
		}
	}
	all := map[string]map[string]expectedOp{}
	for _, doc := range expectedPaths() {
		for p, m := range doc {
			all[p] = m
		}
	}
	checkPaths(t, "v2", paths, all)
}

func TestV3DescribesRegistry(t *testing.T) {
	want := expectedPaths()
	for _, gv := range registry.GroupVersions() {
		name := "apis/" + gv.Group + "/" + gv.Version
		if gv.Group == "" {
			name = "api/" + gv.Version
		}
		doc := loadV3(t, name)
		paths := map[string]map[string]opView{}
		for path, item := range doc.Paths.Paths {
			ops := map[string]*spec3.Operation{http.MethodGet: item.Get, http.MethodPut: item.Put, http.MethodPost: item.Post,
				http.MethodPatch: item.Patch, http.MethodDelete: item.Delete}
			paths[path] = map[string]opView{}
			for method, op := range ops {
				if op == nil {
					continue
				}
				v := opView{ext: op.Extensions, queryParams: map[string]bool{}, bodyTypes: map[string]bool{}}
				for _, p := range append(append([]*spec3.Parameter(nil), item.Parameters...), op.Parameters...) {
					if p.In == "query" {
						v.queryParams[p.Name] = true
					}
				}
				if op.RequestBody != nil {
					for c := range op.RequestBody.Content {
						v.bodyTypes[c] = true
					}
				}
				paths[path][method] = v
			}
		}
		checkPaths(t, name, paths, want[name])
	}

	// Besides the group versions: the discovery documents and /version.
	var names []string
	for name := range embedded().V3 {
		names = append(names, name)
	}
	sort.Strings(names)
	wantNames := []string{"api", "apis", "version"}
	for gv := range want {
		wantNames = append(wantNames, gv)
	}
	groups := map[string]bool{}
	for _, gv := range registry.GroupVersions() {
		if gv.Group != "" && !groups[gv.Group] {
			groups[gv.Group] = true
			wantNames = append(wantNames, "apis/"+gv.Group)
		}
	}
	sort.Strings(wantNames)
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Errorf("v3 documents %v, want %v%s", names, wantNames, regenerate)
	}
}

// Every kind the server reads or writes has a schema that says so, which is how kubectl
// finds a kind's schema.
func TestSchemasCarryKinds(t *testing.T) {
	sw := loadV2(t)
	kinds := map[schema.GroupVersionKind]bool{}
	for _, s := range sw.Definitions {
		var list []map[string]string
		if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &list); err == nil {
			for _, m := range list {
				kinds[schema.GroupVersionKind{Group: m["group"], Version: m["version"], Kind: m["kind"]}] = true
			}
		}
	}
	for _, r := range registry.All() {
		for _, gvk := range []schema.GroupVersionKind{r.GVK(), r.ListGVK()} {
			if !kinds[gvk] {
				t.Errorf("no v2 definition for %v%s", gvk, regenerate)
			}
		}
	}
	if _, ok := sw.Definitions["io.k8s.api.core.v1.Pod"]; !ok {
		t.Error("no definition io.k8s.api.core.v1.Pod")
	}
}

// The documents describe the Kubernetes types this module builds with. (Test binaries
// carry no dependency versions, so the version is read from go.mod.)
func TestKubernetesVersion(t *testing.T) {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the package")
		}
		dir = parent
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "k8s.io/api" && strings.HasPrefix(f[1], "v0.") {
			if want := "v1." + strings.TrimPrefix(f[1], "v0."); embedded().Kubernetes != want {
				t.Errorf("documents are for Kubernetes %s, go.mod has k8s.io/api %s%s", embedded().Kubernetes, f[1], regenerate)
			}
			return
		}
	}
	t.Fatal("go.mod does not require k8s.io/api")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
