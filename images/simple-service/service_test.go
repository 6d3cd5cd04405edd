package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, "http://localhost:9876"+path, nil)
	req.RemoteAddr = "10.244.1.7:51234"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestEndpoints(t *testing.T) {
	t.Setenv("KINDLIKE_TEST_VAR", "it's here")
	var logs bytes.Buffer
	s := newService(config{Version: "0.5.0", Port: 9876, FailAfter: -1}, &logs)
	h := s.handler()

	tests := []struct {
		method, path string
		code         int
		want         map[string]any // fields that must have these values
		has          []string       // fields that must be present
	}{
		{"GET", "/endpoint0", 200, map[string]any{"host": "localhost:9876", "result": "all is well", "version": "0.5.0"}, nil},
		{"GET", "/health", 200, map[string]any{"healthy": true}, nil},
		{"HEAD", "/health", 200, nil, nil},
		{"GET", "/info", 200, map[string]any{"host": "localhost:9876", "from": "10.244.1.7", "version": "0.5.0"}, []string{"hostname", "ip"}},
		{"GET", "/env", 200, map[string]any{"version": "0.5.0"}, []string{"env"}},
		{"GET", "/", 404, nil, nil},
		{"GET", "/nothing-here", 404, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, body, hdr := get(t, h, tt.method, tt.path)
			if code != tt.code {
				t.Fatalf("status %d, want %d; body %q", code, tt.code, body)
			}
			if tt.want == nil && tt.has == nil {
				return
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (body %s)", k, got[k], v, body)
				}
			}
			for _, k := range tt.has {
				if _, ok := got[k]; !ok {
					t.Errorf("no %q in %s", k, body)
				}
			}
		})
	}

	_, body, _ := get(t, h, "GET", "/env")
	var env envReply
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.Env, "{'") || !strings.Contains(env.Env, `'KINDLIKE_TEST_VAR': "it's here"`) {
		t.Errorf("env %q: want a Python dict holding KINDLIKE_TEST_VAR", env.Env)
	}

	for _, want := range []string{
		"INFO /info serving from localhost:9876 has been invoked from 10.244.1.7",
		"INFO 200 GET /info (10.244.1.7) ",
		"WARNING 404 GET /nothing-here (10.244.1.7) ",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestHealthSwitch(t *testing.T) {
	s := newService(config{Version: "0.5.0", FailAfter: -1}, io.Discard)
	h := s.handler()
	steps := []struct {
		method, path string
		code         int
	}{
		{"GET", "/health", 200},
		{"POST", "/health/fail", 200},
		{"GET", "/health", 500},
		{"GET", "/health", 500},
		{"GET", "/health/ok", 200},
		{"GET", "/health", 200},
	}
	for i, st := range steps {
		if code, body, _ := get(t, h, st.method, st.path); code != st.code {
			t.Fatalf("step %d: %s %s: status %d, want %d (%s)", i, st.method, st.path, code, st.code, body)
		}
	}
	if _, body, _ := get(t, h, "GET", "/health/fail"); !strings.Contains(body, `"healthy":false`) {
		t.Errorf("/health/fail answered %s", body)
	}
	if _, body, _ := get(t, h, "GET", "/health"); !strings.Contains(body, `"healthy":false`) {
		t.Errorf("/health after fail answered %s", body)
	}
}

func TestHealthFailAfter(t *testing.T) {
	s := newService(config{FailAfter: 2}, io.Discard)
	h := s.handler()
	for i, want := range []int{200, 200, 500, 500} {
		if code, _, _ := get(t, h, "GET", "/health"); code != want {
			t.Fatalf("check %d: status %d, want %d", i+1, code, want)
		}
	}
}

func TestHealthDelay(t *testing.T) {
	s := newService(config{HealthMin: 300 * time.Millisecond, HealthMax: 400 * time.Millisecond, FailAfter: -1}, io.Discard)
	var slept time.Duration
	s.sleep = func(_ *http.Request, d time.Duration) bool { slept = d; return true }
	if code, _, _ := get(t, s.handler(), "GET", "/health"); code != 200 {
		t.Fatalf("status %d", code)
	}
	if slept < 300*time.Millisecond || slept >= 400*time.Millisecond {
		t.Errorf("delay %v, want within [300ms, 400ms)", slept)
	}
}

func TestIndex(t *testing.T) {
	s := newService(config{Index: []byte("<h1>stand-in</h1>"), FailAfter: -1}, io.Discard)
	h := s.handler()
	for _, p := range []string{"/", "/demo/", "/demo/index.jsp"} {
		if code, body, _ := get(t, h, "GET", p); code != 200 || body != "<h1>stand-in</h1>" {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
	if code, _, _ := get(t, h, "GET", "/health"); code != 200 {
		t.Errorf("/health with an index: %d", code)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    config
		wantErr bool
	}{
		{env: nil, want: config{Version: "0.5.0", Port: 9876, FailAfter: -1}},
		{
			env:  map[string]string{"PORT0": "8080", "SIMPLE_SERVICE_VERSION": "1.0", "HEALTH_MIN": "1000", "HEALTH_MAX": "4000", "HEALTH_FAIL_AFTER": "3"},
			want: config{Version: "1.0", Port: 8080, HealthMin: time.Second, HealthMax: 4 * time.Second, FailAfter: 3},
		},
		{env: map[string]string{"PORT0": "nine"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := configFromEnv(func(k string) string { return tt.env[k] })
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err %v", tt.env, err)
			continue
		}
		if !tt.wantErr && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%v: got %+v, want %+v", tt.env, got, tt.want)
		}
	}
}

func TestPythonRepr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `'plain'`},
		{"it's", `"it's"`},
		{`both ' and "`, `'both \' and "'`},
		{"back\\slash\nnew", `'back\\slash\nnew'`},
		{"\x01", `'\x01'`},
	}
	for _, tt := range tests {
		if got := pythonRepr(tt.in); got != tt.want {
			t.Errorf("pythonRepr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := pythonDict([]string{"B=2", "A=1=1"}); got != `{'A': '1=1', 'B': '2'}` {
		t.Errorf("pythonDict = %s", got)
	}
}

// TestServeAndFlip runs the server on a real port, flips its health with the
// `health fail` command, and stops it as SIGTERM would.
func TestServeAndFlip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, config{Version: "0.5.0", Port: port, FailAfter: -1}, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := flipHealth(port, "fail", io.Discard); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("after `health fail`: %s, want 500", resp.Status)
	}
}
