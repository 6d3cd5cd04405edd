package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// newServer serves the package's routes the way the API server mounts them.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// rawClient neither asks for nor undoes gzip, so tests see what the server sends.
var rawClient = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// embeddedBytes is the uncompressed content of an embedded file.
func embeddedBytes(t testing.TB, f *file) []byte {
	t.Helper()
	r, err := data.Open("data/" + f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func etagOf(b []byte) string { return fmt.Sprintf("%X", sha512.Sum512(b)) }

func TestEmbeddedFilesMatchIndex(t *testing.T) {
	docs := embedded()
	check := func(name string, f *file) {
		if f == nil {
			t.Errorf("%s: no file", name)
			return
		}
		b := embeddedBytes(t, f)
		if len(b) != f.Size {
			t.Errorf("%s: %d bytes, index says %d", f.Path, len(b), f.Size)
		}
		if got := etagOf(b); got != f.ETag {
			t.Errorf("%s: hash %s, index says %s", f.Path, got, f.ETag)
		}
	}
	check("v2 json", &docs.V2.JSON)
	check("v2 protobuf", docs.V2.Protobuf)
	for name, d := range docs.V3 {
		check(name+" json", &d.JSON)
		check(name+" protobuf", d.Protobuf)
	}
}

func TestNegotiation(t *testing.T) {
	srv := newServer(t)
	docs := embedded()
	appsV1 := docs.V3["apis/apps/v1"]
	tests := []struct {
		name, path, accept string
		status             int
		contentType        string
		want               *file
	}{
		{"v2 default", "/openapi/v2", "", 200, "application/json", &docs.V2.JSON},
		{"v2 json", "/openapi/v2", "application/json", 200, "application/json", &docs.V2.JSON},
		{"v2 any", "/openapi/v2", "*/*", 200, "application/json", &docs.V2.JSON},
		{"v2 protobuf as client-go asks", "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
			200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", docs.V2.Protobuf},
		{"v2 protobuf by its served name", "/openapi/v2", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", docs.V2.Protobuf},
		{"v2 protobuf preferred", "/openapi/v2", "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
			200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", docs.V2.Protobuf},
		{"v2 refused json falls to protobuf", "/openapi/v2", "application/json;q=0, application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.1",
			200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", docs.V2.Protobuf},
		{"v2 unacceptable", "/openapi/v2", "application/xml", 406, "", nil},
		{"v3 json", "/openapi/v3/apis/apps/v1", "application/json", 200, "application/json", &appsV1.JSON},
		{"v3 protobuf", "/openapi/v3/apis/apps/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf",
			200, "application/com.github.proto-openapi.spec.v3.v1.0+protobuf", appsV1.Protobuf},
		{"v3 v2's protobuf", "/openapi/v3/apis/apps/v1", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 406, "", nil},
		{"v3 unknown group version", "/openapi/v3/apis/rbac.authorization.k8s.io/v1", "application/json", 404, "", nil},
		{"not a document", "/openapi/v4", "", 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path, "Accept", tt.accept)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.want == nil {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q for a client that did not ask for gzip", resp.Header.Get("Content-Encoding"))
			}
			if !bytes.Equal(body, embeddedBytes(t, tt.want)) {
				t.Errorf("body is not %s", tt.want.Path)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
			}
			if etag := resp.Header.Get("Etag"); etag != strconv.Quote(etagOf(body)) {
				t.Errorf("ETag %s is not the body's hash", etag)
			}
		})
	}
}

func TestGzip(t *testing.T) {
	srv := newServer(t)
	docs := embedded()
	compressed, err := data.ReadFile("data/" + docs.V2.Protobuf.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*"} {
		resp, body := get(t, srv.URL+"/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "Accept-Encoding", ae)
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip", ae, resp.Header.Get("Content-Encoding"))
			continue
		}
		if !bytes.Equal(body, compressed) {
			t.Errorf("Accept-Encoding %q: body is not the embedded compressed file", ae)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(compressed)) {
			t.Errorf("Accept-Encoding %q: Content-Length %s, want %d", ae, cl, len(compressed))
		}
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br", "*;q=0"} {
		resp, body := get(t, srv.URL+"/openapi/v2", "Accept-Encoding", ae)
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want none", ae, resp.Header.Get("Content-Encoding"))
		}
		if len(body) != docs.V2.JSON.Size {
			t.Errorf("Accept-Encoding %q: %d bytes, want the %d uncompressed", ae, len(body), docs.V2.JSON.Size)
		}
	}
	for _, vary := range []string{"Accept", "Accept-Encoding"} {
		resp, _ := get(t, srv.URL+"/openapi/v2")
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), vary) {
			t.Errorf("Vary %q does not name %s", resp.Header.Values("Vary"), vary)
		}
	}

	// Go's own client asks for gzip and undoes it.
	resp, err := http.Get(srv.URL + "/openapi/v3/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !resp.Uncompressed || !bytes.Equal(body, embeddedBytes(t, &docs.V3["api/v1"].JSON)) {
		t.Errorf("Go's client did not get the document through gzip (uncompressed=%v)", resp.Uncompressed)
	}
}

func TestConditionalRequests(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		resp, _ := get(t, srv.URL+path)
		etag := resp.Header.Get("Etag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
			resp, body := get(t, srv.URL+path, "If-None-Match", inm)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("%s If-None-Match %s: status %d with %d bytes, want 304", path, inm, resp.StatusCode, len(body))
			}
			if resp.Header.Get("Etag") != etag {
				t.Errorf("%s: 304 without the ETag", path)
			}
		}
		resp, _ = get(t, srv.URL+path, "If-None-Match", `"other"`)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a stale ETag: status %d, want 200", path, resp.StatusCode)
		}
	}
	// Each encoding has its own ETag, so a cache cannot answer one with the other.
	j, _ := get(t, srv.URL+"/openapi/v2")
	p, _ := get(t, srv.URL+"/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if j.Header.Get("Etag") == p.Header.Get("Etag") {
		t.Error("JSON and protobuf share an ETag")
	}
}

func TestV3Discovery(t *testing.T) {
	srv := newServer(t)
	resp, body := get(t, srv.URL+"/openapi/v3")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var disco v3Discovery
	if err := json.Unmarshal(body, &disco); err != nil {
		t.Fatal(err)
	}
	docs := embedded()
	if len(disco.Paths) != len(docs.V3) {
		t.Errorf("%d documents listed, %d embedded", len(disco.Paths), len(docs.V3))
	}
	for name, entry := range disco.Paths {
		resp, body := get(t, srv.URL+entry.ServerRelativeURL)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", entry.ServerRelativeURL, resp.StatusCode)
			continue
		}
		if !bytes.Equal(body, embeddedBytes(t, &docs.V3[name].JSON)) {
			t.Errorf("%s: not the %s document", entry.ServerRelativeURL, name)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, immutable" {
			t.Errorf("%s: Cache-Control %q for a hashed URL", entry.ServerRelativeURL, cc)
		}
		if resp.Header.Get("Expires") == "" {
			t.Errorf("%s: no Expires for a hashed URL", entry.ServerRelativeURL)
		}
	}

	resp, _ = get(t, srv.URL+"/openapi/v3/apis/apps/v1?hash=0123")
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("outdated hash: status %d, want 301", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != disco.Paths["apis/apps/v1"].ServerRelativeURL {
		t.Errorf("outdated hash redirected to %q, want %q", loc, disco.Paths["apis/apps/v1"].ServerRelativeURL)
	}
	resp, _ = get(t, srv.URL+"/openapi/v3/apis/apps/v1")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "" {
		t.Errorf("unhashed URL: status %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestMethods(t *testing.T) {
	srv := newServer(t)
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/openapi/v2", nil)
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(embedded().V2.JSON.Size) {
		t.Errorf("HEAD: status %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, srv.URL+"/openapi/v3/api/v1", nil)
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "x-gzip": true, "deflate, gzip;q=0.5": true,
		"gzip;q=0": false, "gzip;q=0.0": false, "*": true, "*;q=0": false, "gzip;q=0, *": false,
		"identity": false, "br": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so benchmarks count only what the
// handler allocates.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// The handler's cost per request: with gzip it copies the embedded bytes through a small
// buffer; without, it also runs a decompressor. Neither grows with the document.
func BenchmarkServe(b *testing.B) {
	h := Handler()
	for _, bc := range []struct{ name, path, accept, encoding string }{
		{"v2-protobuf-gzip", "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "gzip"},
		{"v2-json-identity", "/openapi/v2", "application/json", ""},
		{"v3-core-json-gzip", "/openapi/v3/api/v1", "application/json", "gzip"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.Header.Set("Accept", bc.accept)
			req.Header.Set("Accept-Encoding", bc.encoding)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(&discardWriter{h: http.Header{}}, req)
			}
		})
	}
}
