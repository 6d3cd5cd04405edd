package apiserver

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kindlike/kindlike/controlplane/printers"
	"github.com/kindlike/kindlike/controlplane/store"
)

// openStore starts a one-member store in dir for tests.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st, err := store.Open(store.Config{ID: "m1", DataDir: t.TempDir(), Bind: addr, Peers: []store.Peer{{ID: "m1", Addr: addr}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !st.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("single member never became leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

var fuzzContentTypes = []string{
	"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
	"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json",
	"application/apply-patch+yaml", "text/plain", "",
}

// FuzzDecodeRequest sends arbitrary paths, content types and bodies through the whole
// handler. Writes are dry runs, so the fuzzer explores decoding, defaulting, validation
// and patching without filling the store. No input may make the server fail inside.
func FuzzDecodeRequest(f *testing.F) {
	dir := "../../configs/scenarios"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && strings.HasSuffix(e.Name(), ".yaml") {
			f.Add(uint8(1), "/api/v1/namespaces/default/pods", uint8(1), b)
		}
	}
	f.Add(uint8(3), "/apis/apps/v1/namespaces/default/deployments/x", uint8(4), []byte(`{"spec":{"replicas":3}}`))
	f.Add(uint8(3), "/api/v1/namespaces/default/pods/x", uint8(5), []byte(`[{"op":"add","path":"/a","value":1}]`))
	f.Add(uint8(0), "/api/v1/pods?watch=1&timeoutSeconds=1&labelSelector=a%20in%20(b", uint8(0), []byte{})
	f.Add(uint8(1), "/api/v1/namespaces", uint8(2), []byte("k8s\x00\x0a\x02"))

	st := openStore(f)
	s := New(Config{Storage: st, Tables: printers.Table, Tokens: map[string]User{"t": {Name: "fuzz"}}})
	handler := s.router // unwrapped: a panic must fail the fuzzer, not become a 500
	ns := &bytes.Buffer{}
	ns.WriteString(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces", ns)
	handler.ServeHTTP(httptest.NewRecorder(), req)

	f.Fuzz(func(t *testing.T, method uint8, path string, ct uint8, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		if m != http.MethodGet {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			path += sep + "dryRun=All"
		} else if strings.Contains(path, "watch") {
			path += "&timeoutSeconds=1"
		}
		req, err := http.NewRequest(m, "http://fuzz"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			handler.ServeHTTP(rec, req.WithContext(ctx))
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%s %s (%s) did not return within 10s:\n%s", m, path, req.Header.Get("Content-Type"), buf[:n])
		}
		if rec.Code == http.StatusInternalServerError && !strings.Contains(rec.Body.String(), "request was cancelled") {
			t.Fatalf("%s %s (%s): 500: %s", m, path, req.Header.Get("Content-Type"), rec.Body.String())
		}
	})
}
