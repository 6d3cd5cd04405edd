package probes

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// listen serves h on 127.0.0.1 and returns the target and port.
func listen(t *testing.T, h http.Handler, h2c bool) (Target, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
		srv.Protocols.SetHTTP1(true)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	c := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	return Target{PodIP: "127.0.0.1", Container: c}, port
}

func TestHTTPGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.UserAgent(), "kube-probe/") || r.Header.Get("X-Custom") != "v" {
			w.WriteHeader(http.StatusTeapot)
		}
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(2 * time.Second) })
	target, port := listen(t, mux, false)
	headers := []corev1.HTTPHeader{{Name: "X-Custom", Value: "v"}}
	for _, tc := range []struct {
		path string
		port intstr.IntOrString
		ok   bool
		out  string
	}{
		{"/ok", intstr.FromInt32(int32(port)), true, ""},
		{"/ok", intstr.FromString("http"), true, ""},
		{"ok", intstr.FromString("http"), true, ""},
		{"/moved", intstr.FromString("http"), true, ""},
		{"/fail", intstr.FromString("http"), false, "HTTP probe failed with statuscode: 500"},
		{"/missing", intstr.FromString("http"), false, "HTTP probe failed with statuscode: 404"},
		{"/slow", intstr.FromString("http"), false, "Client.Timeout exceeded"},
		{"/ok", intstr.FromString("nope"), false, "couldn't find port: nope in c"},
	} {
		r := HTTPGet(context.Background(), target, &corev1.HTTPGetAction{Path: tc.path, Port: tc.port, HTTPHeaders: headers}, 500*time.Millisecond)
		if r.OK != tc.ok || !strings.Contains(r.Output, tc.out) {
			t.Errorf("%s (%s): %+v, want ok=%v %q", tc.path, tc.port.String(), r, tc.ok, tc.out)
		}
	}
}

func TestTCP(t *testing.T) {
	target, port := listen(t, http.NotFoundHandler(), false)
	if r := TCP(context.Background(), target, &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}, time.Second); !r.OK {
		t.Errorf("open port: %+v", r)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := TCP(context.Background(), target, &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closed))}, time.Second)
	if r.OK || !strings.Contains(r.Output, "connect: connection refused") {
		t.Errorf("closed port: %+v", r)
	}
}

// healthServer answers grpc.health.v1.Health/Check with status for every service
// but "unknown", which is Unimplemented.
func healthServer(status uint64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		if r.URL.Path != "/grpc.health.v1.Health/Check" || len(body) < 5 {
			w.Header().Set("Grpc-Status", "12")
			return
		}
		if strings.Contains(string(body[5:]), "unknown") {
			w.WriteHeader(200)
			w.Header().Set("Grpc-Status", "12")
			w.Header().Set("Grpc-Message", "unknown service")
			return
		}
		msg := append([]byte{0x08}, binary.AppendUvarint(nil, status)...)
		frame := make([]byte, 5)
		binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
		w.WriteHeader(200)
		_, _ = w.Write(append(frame, msg...))
		w.Header().Set("Grpc-Status", "0")
	})
}

func TestGRPC(t *testing.T) {
	serving, port := listen(t, healthServer(1), true)
	notServing, port2 := listen(t, healthServer(2), true)
	svc := "unknown"
	for _, tc := range []struct {
		target Target
		action corev1.GRPCAction
		ok     bool
		out    string
	}{
		{serving, corev1.GRPCAction{Port: int32(port)}, true, ""},
		{notServing, corev1.GRPCAction{Port: int32(port2)}, false, `service unhealthy (responded with "NOT_SERVING")`},
		{serving, corev1.GRPCAction{Port: int32(port), Service: &svc}, false, "rpc error: code = Unimplemented desc = unknown service"},
	} {
		r := GRPC(context.Background(), tc.target, &tc.action, time.Second)
		if r.OK != tc.ok || !strings.Contains(r.Output, tc.out) {
			t.Errorf("%d %v: %+v, want ok=%v %q", tc.action.Port, tc.action.Service, r, tc.ok, tc.out)
		}
	}
}

type fakeExec struct {
	code int
	out  string
	err  error
}

func (f fakeExec) ExecSync(context.Context, string, []string, time.Duration) (int, []byte, error) {
	return f.code, []byte(f.out), f.err
}

func TestExec(t *testing.T) {
	cmd := []string{"cat", "/tmp/healthy"}
	for _, tc := range []struct {
		e   fakeExec
		ok  bool
		out string
	}{
		{fakeExec{}, true, ""},
		{fakeExec{code: 1, out: "cat: can't open '/tmp/healthy': No such file or directory"}, false, "cat: can't open '/tmp/healthy'"},
		{fakeExec{code: 3}, false, `command "cat /tmp/healthy" exited with 3`},
		{fakeExec{err: context.DeadlineExceeded}, false, `command "cat /tmp/healthy" timed out`},
		{fakeExec{err: errors.New("container not running")}, false, "container not running"},
	} {
		r := Exec(context.Background(), tc.e, Target{}, cmd, time.Second)
		if r.OK != tc.ok || !strings.Contains(r.Output, tc.out) {
			t.Errorf("%+v: %+v, want ok=%v %q", tc.e, r, tc.ok, tc.out)
		}
	}
}
