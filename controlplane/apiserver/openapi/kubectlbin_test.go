package openapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/gorilla/mux"
	"github.com/kindlike/kindlike/controlplane/registry"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// These tests run the real kubectl against the handler. kubectl also needs discovery to
// map kinds to resources; the test serves a minimal legacy discovery derived from the
// registry, standing in for the API server's.

// openapiMode says which documents kubectlServer serves.
type openapiMode int

const (
	// allDocuments serves the package's routes.
	allDocuments openapiMode = iota
	// v2Only leaves /openapi/v3 not found, as on servers that predate it; kubectl falls
	// back to v2.
	v2Only
	// v2NoFieldValidation serves only a v2 document stripped of the fieldValidation
	// parameter, as an older server's would be; kubectl then validates client-side.
	v2NoFieldValidation
)

// kubectlServer serves OpenAPI documents and discovery.
func kubectlServer(t *testing.T, mode openapiMode) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	switch mode {
	case allDocuments:
		Register(r)
	case v2Only:
		r.Path("/openapi/v2").Handler(Handler())
	case v2NoFieldValidation:
		jsonDoc, pbDoc := v2WithoutFieldValidation(t)
		r.Path("/openapi/v2").HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.Contains(req.Header.Get("Accept"), "protobuf") {
				w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
				w.Write(pbDoc)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(jsonDoc)
		})
	}
	serveJSON := func(path string, v interface{}) {
		r.Path(path).HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		})
	}
	serveJSON("/api", &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range registry.GroupVersions() {
		list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
		for _, res := range registry.InGroupVersion(gv) {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Resource, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
				Verbs: res.Verbs(), ShortNames: res.ShortNames, Categories: res.Categories,
			})
			for _, sub := range res.Subresources {
				verbs, gvk := registry.SubresourceVerbs(sub)
				if gvk.Empty() {
					gvk = res.GVK()
				}
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name: res.Resource + "/" + sub, Namespaced: res.Namespaced, Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Verbs: verbs,
				})
			}
		}
		if gv.Group == "" {
			serveJSON("/api/"+gv.Version, list)
			continue
		}
		serveJSON("/apis/"+gv.Group+"/"+gv.Version, list)
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		groups.Groups = append(groups.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	serveJSON("/apis", groups)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// v2WithoutFieldValidation is the v2 document with every fieldValidation parameter
// removed, in JSON and protobuf.
func v2WithoutFieldValidation(t *testing.T) (jsonDoc, pbDoc []byte) {
	t.Helper()
	var doc map[string]interface{}
	if err := json.Unmarshal(embeddedBytes(t, &embedded().V2.JSON), &doc); err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, item := range doc["paths"].(map[string]interface{}) {
		for _, op := range item.(map[string]interface{}) {
			op, ok := op.(map[string]interface{})
			if !ok {
				continue
			}
			params, _ := op["parameters"].([]interface{})
			kept := params[:0]
			for _, p := range params {
				if p.(map[string]interface{})["name"] == "fieldValidation" {
					removed++
					continue
				}
				kept = append(kept, p)
			}
			op["parameters"] = kept
		}
	}
	if removed == 0 {
		t.Fatal("no fieldValidation parameter to remove")
	}
	jsonDoc, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := openapi_v2.ParseDocument(jsonDoc)
	if err != nil {
		t.Fatal(err)
	}
	if pbDoc, err = proto.Marshal(parsed); err != nil {
		t.Fatal(err)
	}
	return jsonDoc, pbDoc
}

// kubectl runs the kubectl on PATH against srv, with a fresh cache and no kubeconfig.
func kubectl(t *testing.T, srv *httptest.Server, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, lookErr := exec.LookPath("kubectl")
	if lookErr != nil {
		t.Skip("kubectl not on PATH")
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--server=" + srv.URL, "--cache-dir=" + filepath.Join(home, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+filepath.Join(home, "no-config"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestKubectlGetRaw(t *testing.T) {
	srv := kubectlServer(t, allDocuments)
	out, stderr, err := kubectl(t, srv, "", "get", "--raw", "/openapi/v2")
	if err != nil {
		t.Fatalf("kubectl get --raw /openapi/v2: %v\n%s", err, stderr)
	}
	if out != string(embeddedBytes(t, &embedded().V2.JSON)) {
		t.Error("kubectl get --raw /openapi/v2 is not the v2 document")
	}
	out, stderr, err = kubectl(t, srv, "", "get", "--raw", "/openapi/v3")
	if err != nil {
		t.Fatalf("kubectl get --raw /openapi/v3: %v\n%s", err, stderr)
	}
	var disco v3Discovery
	if err := json.Unmarshal([]byte(out), &disco); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = kubectl(t, srv, "", "get", "--raw", disco.Paths["apis/apps/v1"].ServerRelativeURL)
	if err != nil {
		t.Fatalf("kubectl get --raw apps/v1: %v\n%s", err, stderr)
	}
	if out != string(embeddedBytes(t, &embedded().V3["apis/apps/v1"].JSON)) {
		t.Error("kubectl get --raw of apps/v1's URL is not the apps/v1 document")
	}
}

func TestKubectlExplain(t *testing.T) {
	srv := kubectlServer(t, allDocuments)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"explain", "pods.spec.containers"},
			[]string{"KIND:       Pod\n", "VERSION:    v1\n", "FIELD: containers <[]Container>", "image\t<string>"}},
		{[]string{"explain", "deploy.spec.strategy.type"},
			[]string{"GROUP:      apps\n", "KIND:       Deployment\n", "ENUM:", "RollingUpdate"}},
		{[]string{"explain", "leases.spec", "--recursive"},
			[]string{"GROUP:      coordination.k8s.io\n", "holderIdentity\t<string>"}},
		{[]string{"explain", "nodes.status.conditions"},
			[]string{"KIND:       Node\n", "lastHeartbeatTime\t<string>"}},
		{[]string{"explain", "events", "--api-version=events.k8s.io/v1"},
			[]string{"GROUP:      events.k8s.io\n", "KIND:       Event\n"}},
		{[]string{"explain", "cronjobs.spec.jobTemplate.spec.template.spec.restartPolicy"},
			[]string{"GROUP:      batch\n", "ENUM:", "OnFailure"}},
		// The v2 renderer reads /openapi/v2 in protobuf.
		{[]string{"explain", "pods.spec.containers", "--output=plaintext-openapiv2"},
			[]string{"KIND:     Pod\n", "RESOURCE: containers <[]Object>"}},
	}
	for _, tt := range tests {
		out, stderr, err := kubectl(t, srv, "", tt.args...)
		if err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(tt.args, " "), err, stderr)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
	}
}

// With --validate=strict (kubectl's default), kubectl asks the OpenAPI documents whether
// the server validates fields itself (fieldValidation on the kind's PATCH). It does, so
// kubectl leaves the unknown field for the server to reject; had kubectl concluded
// otherwise it would have rejected the object itself, and had it failed to read the
// documents it would have failed the command.
func TestKubectlDetectsServerSideValidation(t *testing.T) {
	manifests := map[string]string{
		"pod/p": `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","bogus":1}]}}`,
		"deployment.apps/d": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"bogus":1,"selector":{"matchLabels":{"a":"b"}},
			"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
		"node/n": `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"bogus":1}}`,
	}
	for _, v3 := range []bool{true, false} {
		mode := v2Only
		if v3 {
			mode = allDocuments
		}
		srv := kubectlServer(t, mode)
		for name, manifest := range manifests {
			out, stderr, err := kubectl(t, srv, manifest, "create", "--dry-run=client", "--validate=strict", "-o", "name", "-v=6", "-f", "-")
			if err != nil {
				t.Errorf("v3=%v: kubectl create %s: %v\n%s", v3, name, err, stderr)
				continue
			}
			if strings.TrimSpace(out) != name {
				t.Errorf("v3=%v: kubectl create printed %q, want %q", v3, out, name)
			}
			kind := schema.GroupVersion{Version: "v1"}
			if strings.Contains(name, ".apps/") {
				kind = schema.GroupVersion{Group: "apps", Version: "v1"}
			}
			want := regexp.QuoteMeta("GET "+srv.URL+"/openapi/v2?") + `\S* 200 OK`
			if v3 {
				want = regexp.QuoteMeta("GET "+srv.URL+"/openapi/v3/"+docName(kind)+"?hash=") + `\S* 200 OK`
			}
			if !regexp.MustCompile(want).MatchString(stderr) {
				t.Errorf("v3=%v: kubectl's log has no %q:\n%s", v3, want, stderr)
			}
		}
	}
}

func docName(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// Against a server without field validation, kubectl validates objects with the v2
// document's schemas: valid ones pass, unknown fields and wrong types are refused.
func TestKubectlValidatesClientSide(t *testing.T) {
	srv := kubectlServer(t, v2NoFieldValidation)
	tests := []struct {
		manifest, wantErr string
	}{
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox",
			"ports":[{"containerPort":80}],"resources":{"limits":{"memory":"64Mi"}}}]}}`, ""},
		{`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},
			"strategy":{"rollingUpdate":{"maxSurge":"25%"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`, ""},
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","bogus":1}]}}`,
			`ValidationError(Pod.spec.containers[0]): unknown field "bogus" in io.k8s.api.core.v1.Container`},
		{`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":"two","selector":{},"template":{}}}`,
			"spec.replicas"},
		{`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"bogus":1}}`, `ValidationError(Node.spec): unknown field "bogus" in io.k8s.api.core.v1.NodeSpec`},
	}
	for _, tt := range tests {
		_, stderr, err := kubectl(t, srv, tt.manifest, "create", "--dry-run=client", "--validate=strict", "-o", "name", "-f", "-")
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("valid object refused: %v\n%s\n%s", err, stderr, tt.manifest)
		case tt.wantErr != "" && (err == nil || !strings.Contains(stderr, tt.wantErr)):
			t.Errorf("want an error with %q, got %v:\n%s", tt.wantErr, err, stderr)
		}
	}
}
