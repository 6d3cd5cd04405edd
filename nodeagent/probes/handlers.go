// Package probes runs containers' liveness, readiness and startup probes, and the
// actions they share with lifecycle hooks: exec in the container, HTTP GET and TCP
// connect to the pod's address, and the gRPC health check.
package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kindlike/kindlike/version"
)

// Execer runs a command in a container to completion.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (exitCode int, output []byte, err error)
}

// Target is the container an action runs against.
type Target struct {
	PodIP       string
	ContainerID string
	Container   *corev1.Container
}

// Result is an action's outcome: Success, or Failure with what went wrong.
type Result struct {
	OK bool
	// Output is the failure as kubelet words it ("HTTP probe failed with statuscode: 500").
	Output string
}

func failure(format string, a ...any) Result { return Result{Output: fmt.Sprintf(format, a...)} }

var success = Result{OK: true}

// maxBody is how much of an HTTP answer is read, as kubelet's probes.
const maxBody = 10 * 1024

// userAgent is the probes' User-Agent, kubelet's with our Kubernetes minor version.
func userAgent() string {
	v := strings.TrimPrefix(version.Server(), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		v = parts[0] + "." + parts[1]
	}
	return "kube-probe/" + v
}

// Exec runs cmd in the container: exit code 0 is success.
func Exec(ctx context.Context, e Execer, t Target, cmd []string, timeout time.Duration) Result {
	code, out, err := e.ExecSync(ctx, t.ContainerID, cmd, timeout)
	if errors.Is(err, context.DeadlineExceeded) {
		return failure("command %q timed out", strings.Join(cmd, " "))
	}
	if err != nil {
		return failure("%v", err)
	}
	if code != 0 {
		if len(out) == 0 {
			return failure("command %q exited with %d", strings.Join(cmd, " "), code)
		}
		return failure("%s", out)
	}
	return success
}

// ResolvePort turns a port number or a container port's name into a number.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %v", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n < 65536 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}

// HTTPGet sends the GET the action describes to the pod: a status from 200 to 399 is
// success.
func HTTPGet(ctx context.Context, t Target, a *corev1.HTTPGetAction, timeout time.Duration) Result {
	port, err := ResolvePort(a.Port, t.Container)
	if err != nil {
		return failure("%v", err)
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	p := a.Path
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u, err := url.Parse(fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), p))
	if err != nil {
		return failure("%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return failure("%v", err)
	}
	req.Header.Set("User-Agent", userAgent())
	req.Header.Set("Accept", "*/*")
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes never verify, as kubelet's
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		// Redirects are followed on the same host only; another host's answer counts
		// as success with a warning in kubelet, as success here.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= 10 || r.URL.Hostname() != u.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return failure("%v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return success
	}
	if len(body) > 0 {
		return failure("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return failure("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// TCP connects to the port: a connection is success.
func TCP(ctx context.Context, t Target, a *corev1.TCPSocketAction, timeout time.Duration) Result {
	port, err := ResolvePort(a.Port, t.Container)
	if err != nil {
		return failure("%v", err)
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return failure("%v", err)
	}
	_ = conn.Close()
	return success
}

// GRPC asks the port's grpc.health.v1.Health/Check for the service: SERVING is
// success. It speaks the few bytes of gRPC this needs over cleartext HTTP/2.
func GRPC(ctx context.Context, t Target, a *corev1.GRPCAction, timeout time.Duration) Result {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(a.Port)))
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// HealthCheckRequest{service = 1}: a length-delimited field, framed as one
	// uncompressed gRPC message.
	var msg []byte
	if service != "" {
		msg = append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(service)))...)
		msg = append(msg, service...)
	}
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	frame = append(frame, msg...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(frame))
	if err != nil {
		return failure("%v", err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", userAgent())
	tr := &http.Transport{Protocols: new(http.Protocols), DisableKeepAlives: true}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return failure("timeout: health rpc did not complete within %v", timeout)
		}
		return failure("timeout: failed to connect service %q within %v: %v", addr, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return failure("timeout: health rpc did not complete within %v", timeout)
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	if status != "" && status != "0" {
		return failure("rpc error: code = %s desc = %s", grpcCode(status), resp.Trailer.Get("Grpc-Message"))
	}
	// HealthCheckResponse{status = 1 (varint)}: SERVING is 1.
	if len(body) >= 5 {
		m := body[5:]
		for i := 0; i+1 < len(m); {
			tag := m[i]
			v, n := binary.Uvarint(m[i+1:])
			if n <= 0 {
				break
			}
			if tag == 0x08 {
				if v == 1 {
					return success
				}
				return failure("service unhealthy (responded with %q)", servingStatus(v))
			}
			i += 1 + n
		}
	}
	return failure("service unhealthy (responded with %q)", "UNKNOWN")
}

func servingStatus(v uint64) string {
	switch v {
	case 1:
		return "SERVING"
	case 2:
		return "NOT_SERVING"
	case 3:
		return "SERVICE_UNKNOWN"
	}
	return "UNKNOWN"
}

func grpcCode(s string) string {
	names := []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
		"PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
		"Internal", "Unavailable", "DataLoss", "Unauthenticated"}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(names) {
		return names[n]
	}
	return s
}

// Sleep waits the seconds of a sleep action, or until ctx ends.
func Sleep(ctx context.Context, seconds int64) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(seconds) * time.Second):
	}
}
