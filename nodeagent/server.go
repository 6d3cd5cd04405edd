package nodeagent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
	streamcmd "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/pki"
)

// Streaming timeouts, kubelet's defaults: an exec or port-forward may sit idle for
// hours; its streams must all open within half a minute.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = 30 * time.Second
)

// server is the agent's HTTPS endpoint, kubelet's paths for what the API server
// proxies to a node: /containerLogs, /exec, /attach and /portForward. Only the API
// server (its kubelet client certificate) and cluster admins may call it: pods share
// the network with agents.
type server struct {
	a    *agent
	http *http.Server
	ln   net.Listener
}

func (a *agent) newServer() (*server, error) {
	serving, ca := a.cfg.Serving, a.cfg.ClientCA
	if len(serving.CertPEM) == 0 {
		var err error
		if serving, err = pki.ReadFiles(config.NodePKIDir, config.AgentName); err != nil {
			return nil, fmt.Errorf("read the agent's serving certificate: %w", err)
		}
	}
	if len(ca) == 0 {
		var err error
		if ca, err = os.ReadFile(filepath.Join(config.NodePKIDir, config.CACert)); err != nil {
			return nil, fmt.Errorf("read the cluster CA: %w", err)
		}
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("agent serving certificate: %w", err)
	}
	pool, err := pki.PoolFromPEM(ca)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	a.mu.Lock()
	a.port = ln.Addr().(*net.TCPAddr).Port
	a.mu.Unlock()
	s := &server{a: a, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", s.serveExec)
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", s.serveAttach)
	mux.HandleFunc("/portForward/{namespace}/{pod}", s.servePortForward)
	s.http = &http.Server{
		Handler: s.authorize(mux),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
			// Upgrades (SPDY, WebSocket) need HTTP/1.1.
			NextProtos: []string{"http/1.1"},
		},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// serve serves until ctx ends.
func (s *server) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.http.Shutdown(shutdown); err != nil {
			_ = s.http.Close()
		}
	}()
	if err := s.http.ServeTLS(s.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.a.log.Error("agent server stopped", "err", err)
	}
}

// Identities allowed to call the agent: the API server's kubelet client certificate,
// and cluster admins (for debugging with curl).
const (
	apiServerClientCN = config.KubeletClientCN
	mastersGroup      = "system:masters"
)

func (s *server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		c := r.TLS.VerifiedChains[0][0]
		if c.Subject.CommonName == apiServerClientCN || slices.Contains(c.Subject.Organization, mastersGroup) {
			next.ServeHTTP(w, r)
			return
		}
		writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, s.a.node.Name,
			fmt.Errorf("user %s may not reach the node's agent (only the API server may)", c.Subject.CommonName)))
	})
}

func writeStatus(w http.ResponseWriter, err error) {
	var st *apierrors.StatusError
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.ErrStatus
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(status)
}

// target finds the pod and the container a request names, and the container's
// Docker instance: the running (or last) one, or with previous the one before.
func (s *server) target(r *http.Request, previous bool) (*corev1.Pod, runtime.Container, error) {
	ns, name, cname := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pod := s.a.podByName(ns, name)
	if pod == nil {
		return nil, runtime.Container{}, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	if specOf(pod, cname) == nil {
		return nil, runtime.Container{}, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", cname, name))
	}
	id, err := logContainerID(pod, cname, previous)
	if err != nil {
		return nil, runtime.Container{}, apierrors.NewBadRequest(err.Error())
	}
	c, err := s.a.rt.Inspect(r.Context(), id)
	if err != nil {
		return nil, runtime.Container{}, apierrors.NewNotFound(schema.GroupResource{Resource: "containers"}, cname)
	}
	return pod, c, nil
}

// logContainerID chooses, as kubelet does, which instance of a container the
// request is about, from the pod's status.
func logContainerID(pod *corev1.Pod, name string, previous bool) (string, error) {
	var cs *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				cs = &list[i]
			}
		}
	}
	if cs == nil {
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, waitingCreating)
	}
	id := func(s string) string { return trimScheme(s) }
	state, last := cs.State, cs.LastTerminationState
	switch {
	case previous:
		if last.Terminated == nil || last.Terminated.ContainerID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
		}
		return id(last.Terminated.ContainerID), nil
	case state.Running != nil:
		return id(cs.ContainerID), nil
	case state.Terminated != nil && state.Terminated.ContainerID != "":
		return id(state.Terminated.ContainerID), nil
	case last.Terminated != nil && last.Terminated.ContainerID != "":
		return id(last.Terminated.ContainerID), nil
	case state.Waiting != nil:
		switch state.Waiting.Reason {
		case waitingErrImagePull:
			return "", fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", name, pod.Name)
		case waitingImagePullBackOff:
			return "", fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", name, pod.Name)
		}
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, state.Waiting.Reason)
	}
	return "", fmt.Errorf("container %q in pod %q is terminated", name, pod.Name)
}

func trimScheme(id string) string {
	for i := 0; i+2 < len(id); i++ {
		if id[i:i+3] == "://" {
			return id[i+3:]
		}
	}
	return id
}

// serveLogs streams a container's log, with kubelet's query parameters: follow,
// previous, tailLines, sinceSeconds, sinceTime, timestamps, limitBytes.
func (s *server) serveLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flag := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	_, c, err := s.target(r, flag("previous"))
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts := runtime.LogOptions{Follow: flag("follow") && c.Running(), Timestamps: flag("timestamps"), Tail: -1}
	if v := q.Get("tailLines"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			opts.Tail = n
		}
	}
	if v := q.Get("sinceSeconds"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			opts.Since = t
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var out io.Writer = &flushWriter{w: w, rc: http.NewResponseController(w)}
	if v := q.Get("limitBytes"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			out = &limitWriter{w: out, left: n, done: cancel}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if err := s.a.rt.Logs(ctx, c, opts, out); err != nil && ctx.Err() == nil && !errors.Is(err, errLimit) {
		s.a.log.Debug("streaming logs", "container", c.Name, "err", err)
	}
}

type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if err == nil {
		_ = f.rc.Flush()
	}
	return n, err
}

var errLimit = errors.New("log byte limit reached")

type limitWriter struct {
	w    io.Writer
	left int64
	done func()
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if l.left <= 0 {
		l.done()
		if err == nil {
			err = errLimit
		}
	}
	return n, err
}

// running finds the running instance of the container a request names.
func (s *server) running(r *http.Request) (*corev1.Pod, runtime.Container, error) {
	pod, c, err := s.target(r, false)
	if err != nil {
		return nil, c, err
	}
	if !c.Running() {
		return nil, c, apierrors.NewBadRequest(fmt.Sprintf("container not found (%q)", r.PathValue("container")))
	}
	return pod, c, nil
}

// wsProtocols are the WebSocket subprotocols kubelet's streaming library speaks.
var wsProtocols = []string{"channel.k8s.io", "base64.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"}

// newWebSocketOnly reports a WebSocket upgrade offering only protocols newer than
// the agent speaks: v5.channel.k8s.io (exec and attach that can close stdin) or SPDY
// tunnelled through WebSocket (port-forward). kubectl 1.30 and later offer those
// first, and kube-apiserver translates them to SPDY for kubelets; answering 400 here
// makes kubectl fall back to SPDY itself, as it does with older API servers.
func newWebSocketOnly(w http.ResponseWriter, r *http.Request) bool {
	if !wsstream.IsWebSocketRequest(r) {
		return false
	}
	offered := strings.Split(r.Header.Get(wsstream.WebSocketProtocolHeader), ",")
	for _, p := range offered {
		if p = strings.TrimSpace(p); p == "" || slices.Contains(wsProtocols, p) {
			return false
		}
	}
	writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("WebSocket protocol %s is not supported by this node; use SPDY", strings.TrimSpace(offered[0]))))
	return true
}

func (s *server) serveExec(w http.ResponseWriter, r *http.Request) {
	if newWebSocketOnly(w, r) {
		return
	}
	pod, c, err := s.running(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts, err := streamcmd.NewOptions(r)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	cmd := r.URL.Query()[corev1.ExecCommandParam]
	if len(cmd) == 0 {
		writeStatus(w, apierrors.NewBadRequest("you must specify at least one command for the container"))
		return
	}
	streamcmd.ServeExec(w, r, &execer{a: s.a, id: c.ID}, podID(pod), pod.UID, c.ContainerName, cmd, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
}

func (s *server) serveAttach(w http.ResponseWriter, r *http.Request) {
	if newWebSocketOnly(w, r) {
		return
	}
	pod, c, err := s.running(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts, err := streamcmd.NewOptions(r)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	streamcmd.ServeAttach(w, r, &execer{a: s.a, id: c.ID}, podID(pod), pod.UID, c.ContainerName, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
}

func (s *server) servePortForward(w http.ResponseWriter, r *http.Request) {
	if newWebSocketOnly(w, r) {
		return
	}
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	pod := s.a.podByName(ns, name)
	if pod == nil {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name))
		return
	}
	if pod.Status.PodIP == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have an IP yet", name)))
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	portforward.ServePortForward(w, r, &forwarder{ip: pod.Status.PodIP}, podID(pod), pod.UID, opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// execer runs exec and attach sessions in one container.
type execer struct {
	a  *agent
	id string
}

func (e *execer) ExecInContainer(ctx context.Context, _ string, _ types.UID, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	code, err := e.a.rt.Exec(ctx, e.id, cmd, streams(in, out, errOut, tty, resize))
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

func (e *execer) AttachContainer(ctx context.Context, _ string, _ types.UID, _ string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return e.a.rt.Attach(ctx, e.id, streams(in, out, errOut, tty, resize))
}

// streams adapts the streaming library's streams to the runtime's.
func streams(in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) runtime.Streams {
	s := runtime.Streams{TTY: tty}
	if in != nil {
		s.Stdin = in
	}
	if out != nil {
		s.Stdout = out
	}
	if errOut != nil {
		s.Stderr = errOut
	}
	if resize != nil {
		ch := make(chan runtime.TerminalSize)
		go func() {
			defer close(ch)
			for sz := range resize {
				ch <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}
			}
		}()
		s.Resize = ch
	}
	return s
}

// forwarder connects port-forward streams to the pod's address on the cluster
// network. (Unlike kubelet, which connects inside the pod's network namespace, a
// port bound to the pod's localhost only is out of reach.)
type forwarder struct{ ip string }

func (f *forwarder) PortForward(ctx context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(f.ip, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod: %w", port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(stream, conn)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
