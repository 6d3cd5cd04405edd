package loadbalancer

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kindlike/kindlike/pki"
)

// apiServer is a fake API server: /readyz answers as told, /who with its name.
type apiServer struct {
	name  string
	ready atomic.Bool
	srv   *httptest.Server
	addr  string // localhost:port, a name its certificate holds
}

func newAPIServer(t *testing.T, ca *pki.CA, name string) *apiServer {
	t.Helper()
	kp, err := ca.Sign(pki.Request{CommonName: name, DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	a := &apiServer{name: name}
	a.ready.Store(true)
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			if !a.ready.Load() {
				http.Error(w, "no leader", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "ok")
		case "/who":
			io.WriteString(w, a.name)
		}
	}))
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	_, port, _ := net.SplitHostPort(a.srv.Listener.Addr().String())
	a.addr = net.JoinHostPort("localhost", port)
	return a
}

type fixture struct {
	t    *testing.T
	ca   *pki.CA
	lb   *LoadBalancer
	addr string
	cfg  string
}

func start(t *testing.T, ca *pki.CA, backends []string) *fixture {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", Backends: backends, CAFile: caFile}
	cfgFile := filepath.Join(dir, "lb.yaml")
	writeConfig(t, cfgFile, cfg)
	c, err := ReadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	lb.healthInterval, lb.healthTimeout = 50*time.Millisecond, 500*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- lb.Serve(ctx, ln, c.Backends, cfgFile) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &fixture{t: t, ca: ca, lb: lb, addr: ln.Addr().String(), cfg: cfgFile}
}

func writeConfig(t *testing.T, path string, c Config) {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitHealthy waits until the load balancer's healthy backends are want.
func (f *fixture) waitHealthy(want ...string) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(f.lb.Healthy(), want) {
		if time.Now().After(deadline) {
			f.t.Fatalf("healthy backends %q, want %q", f.lb.Healthy(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// who asks, through the load balancer on a new connection, which backend answers.
func (f *fixture) who() string {
	f.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get("https://" + f.addr + "/who")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestForwardsOnlyToReadyBackends(t *testing.T) {
	ca := newCA(t)
	a, b := newAPIServer(t, ca, "a"), newAPIServer(t, ca, "b")
	b.ready.Store(false)
	f := start(t, ca, []string{a.addr, b.addr})
	f.waitHealthy(a.addr)
	for range 6 {
		if got := f.who(); got != "a" {
			t.Fatalf("connection went to %s, which is not ready", got)
		}
	}
	b.ready.Store(true)
	f.waitHealthy(a.addr, b.addr)
	seen := map[string]bool{}
	for range 6 {
		seen[f.who()] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("round robin reached %v", seen)
	}
}

func TestNoReadyBackendStillTriesThem(t *testing.T) {
	ca := newCA(t)
	a := newAPIServer(t, ca, "a")
	a.ready.Store(false) // as during a Raft election
	f := start(t, ca, []string{"localhost:1", a.addr})
	time.Sleep(200 * time.Millisecond)
	if got := f.who(); got != "a" {
		t.Fatalf("got %q", got)
	}
}

func TestUnreachableBackendLosesItsConnections(t *testing.T) {
	ca := newCA(t)
	a, b := newAPIServer(t, ca, "a"), newAPIServer(t, ca, "b")
	b.ready.Store(false)
	f := start(t, ca, []string{a.addr, b.addr})
	f.waitHealthy(a.addr)

	// A long-lived connection (a watch, an agent's), proxied to a.
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	io.WriteString(conn, "GET /who HTTP/1.1\r\nHost: localhost\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "a" {
		t.Fatalf("went to %q", body)
	}

	// a's machine vanishes: its listener is gone but the connection is not closed,
	// as when a container is killed. The load balancer must close it.
	a.srv.Listener.Close()
	b.ready.Store(true)
	f.waitHealthy(b.addr)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := r.ReadByte(); err == nil || isTimeout(err) {
		t.Fatalf("connection to the unreachable backend still open: %v", err)
	}
	if got := f.who(); got != "b" {
		t.Fatalf("new connection went to %s", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestReloadsBackends(t *testing.T) {
	ca := newCA(t)
	a, b := newAPIServer(t, ca, "a"), newAPIServer(t, ca, "b")
	f := start(t, ca, []string{a.addr})
	f.waitHealthy(a.addr)
	c, err := ReadConfig(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Backends = []string{b.addr}
	writeConfig(t, f.cfg, c)
	f.waitHealthy(b.addr)
	if got := f.who(); got != "b" {
		t.Fatalf("after reload, went to %s", got)
	}
}

func TestReadConfigStrict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb.yaml")
	os.WriteFile(path, []byte("listen: :6443\ncaFile: /ca.crt\nbackend: [a:6443]\n"), 0o644)
	if _, err := ReadConfig(path); err == nil {
		t.Fatal("unknown field accepted")
	}
}
