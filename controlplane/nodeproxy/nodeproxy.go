// Package nodeproxy connects the API server to node agents: a pod's logs, exec,
// attach and port-forward are served by the agent of the pod's node, reached over
// TLS at the node's address and kubelet port with the API server's kubelet client
// certificate, connection upgrades (SPDY, WebSocket) included.
package nodeproxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/pki"
)

// Config is what a Proxy needs.
type Config struct {
	// Node reads a Node by name, for its address and kubelet port.
	Node func(ctx context.Context, name string) (*corev1.Node, error)
	// CA verifies agents' serving certificates (issued for the node's name).
	CA []byte
	// Client is the certificate the API server shows agents.
	Client pki.KeyPair
	Logger *slog.Logger
}

// Proxy is the API server's apiserver.NodeProxy.
type Proxy struct {
	node      func(ctx context.Context, name string) (*corev1.Node, error)
	tlsConfig *tls.Config
	log       *slog.Logger
}

// defaultPort is kubelet's port, for nodes that do not say theirs.
const defaultPort = 10250

// New makes a proxy.
func New(cfg Config) (*Proxy, error) {
	pool, err := pki.PoolFromPEM(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	cert, err := cfg.Client.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{
		node: cfg.Node, log: log,
		tlsConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}, nil
}

// ServePod forwards a pod subresource request (log, exec, attach, portforward) to
// the agent of the pod's node, in the agent's (kubelet's) URL form.
func (p *Proxy) ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) {
	path, query, err := agentPath(pod, subresource, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	node, err := p.node(r.Context(), pod.Spec.NodeName)
	if err != nil {
		writeError(w, err)
		return
	}
	host, err := nodeAddress(node)
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = defaultPort
	}
	target := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: query.Encode()}
	tlsConfig := p.tlsConfig.Clone()
	// Agents' certificates name their node; they are reached by address.
	tlsConfig.ServerName = node.Name
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		// HTTP/1.1 only: upgrades cannot ride HTTP/2.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	defer transport.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The client's own credentials are for the API server only.
			pr.Out.Header.Del("Authorization")
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Debug("proxying to node agent", "node", node.Name, "url", target.String(), "err", err)
			if r.Context().Err() != nil {
				return
			}
			writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{
				Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
				Message: fmt.Sprintf("Get %q: %v", target.String(), unwrapURLError(err)),
			}})
		},
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	rp.ServeHTTP(w, r)
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// agentPath is the agent's path and query for a subresource request, as
// kube-apiserver maps pods/log, pods/exec, pods/attach and pods/portforward to
// kubelet's endpoints, with its checks of the container named.
func agentPath(pod *corev1.Pod, subresource string, in url.Values) (string, url.Values, error) {
	out := url.Values{}
	switch subresource {
	case "portforward":
		for _, p := range in["ports"] {
			out.Add("port", p)
		}
		return fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name), out, nil
	case "log":
		c, err := containerFor(pod, in.Get("container"))
		if err != nil {
			return "", nil, err
		}
		for _, k := range []string{"follow", "previous", "timestamps"} {
			if v := in.Get(k); v == "true" || v == "1" {
				out.Set(k, "true")
			}
		}
		for _, k := range []string{"tailLines", "sinceSeconds", "sinceTime", "limitBytes"} {
			if v := in.Get(k); v != "" {
				out.Set(k, v)
			}
		}
		return fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, c), out, nil
	case "exec", "attach":
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("cannot %s into a container in a completed pod; current phase is %s", subresource, pod.Status.Phase))
		}
		c, err := containerFor(pod, in.Get("container"))
		if err != nil {
			return "", nil, err
		}
		flags := map[string]string{"stdin": corev1.ExecStdinParam, "stdout": corev1.ExecStdoutParam, "stderr": corev1.ExecStderrParam, "tty": corev1.ExecTTYParam}
		for from, to := range flags {
			if v := in.Get(from); v == "true" || v == "1" {
				out.Set(to, "1")
			}
		}
		if subresource == "exec" {
			cmd := in["command"]
			if len(cmd) == 0 {
				return "", nil, apierrors.NewBadRequest("you must specify at least one command for the container")
			}
			out[corev1.ExecCommandParam] = cmd
		}
		return fmt.Sprintf("/%s/%s/%s/%s", subresource, pod.Namespace, pod.Name, c), out, nil
	}
	return "", nil, apierrors.NewNotFound(corev1.Resource("pods/"+subresource), pod.Name)
}

// containerFor is the container a request names, or the pod's only one; with
// kube-apiserver's messages when neither fits.
func containerFor(pod *corev1.Pod, name string) (string, error) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if name == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		if len(inits) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, n := range append(names, inits...) {
		if n == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// nodeAddress is where the node's agent listens: its InternalIP, else another
// address it reports.
func nodeAddress(node *corev1.Node) (string, error) {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("node %s reports no address", node.Name)
}

func writeError(w http.ResponseWriter, err error) {
	st, ok := err.(*apierrors.StatusError)
	if !ok {
		st = apierrors.NewInternalError(err)
	}
	status := st.ErrStatus
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(status)
}
