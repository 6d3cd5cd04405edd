// Package loadbalancer is the API load balancer of clusters with more than one
// control plane: a TCP proxy that health-checks every API server's /readyz over HTTPS
// and forwards each new connection to a healthy one.
//
// TLS passes through untouched, so clients authenticate to the API servers
// themselves. The list of API servers is read from a file that the host CLI rewrites
// when control planes are added or removed.
package loadbalancer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kindlike/kindlike/pki"
)

// ConfigPath is where the load balancer's container holds its config.
const ConfigPath = "/etc/kindlike/loadbalancer.yaml"

// Defaults of the health checks. A backend that stops answering is out of rotation
// within about a second; the checks are cheap (one TLS handshake each).
const (
	DefaultHealthInterval = 500 * time.Millisecond
	DefaultHealthTimeout  = time.Second
	dialTimeout           = 2 * time.Second
	reloadInterval        = time.Second
)

// Config is the load balancer's config file.
type Config struct {
	// Listen is the address to accept API connections on, e.g. ":6443".
	Listen string `json:"listen"`
	// Backends are the API servers, host:port, host being a name their serving
	// certificates hold.
	Backends []string `json:"backends"`
	// CAFile holds the cluster CA, which verifies the API servers in health checks.
	CAFile string `json:"caFile"`
}

// ReadConfig reads a config file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read load balancer config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return Config{}, fmt.Errorf("load balancer config %s: %w", path, err)
	}
	if c.Listen == "" || c.CAFile == "" {
		return Config{}, fmt.Errorf("load balancer config %s: listen and caFile are required", path)
	}
	return c, nil
}

// Marshal writes a config file's contents.
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// LoadBalancer forwards connections to healthy backends.
type LoadBalancer struct {
	listen         string
	tls            *tls.Config
	log            *slog.Logger
	healthInterval time.Duration
	healthTimeout  time.Duration

	mu       sync.Mutex
	backends map[string]*backend
	order    []string // backends in config order, for round robin
	next     int
	wg       sync.WaitGroup
}

type backend struct {
	addr   string
	cancel context.CancelFunc // stops its health checks
	// ready: /readyz answered 200 last time. reachable: the last check got an HTTP
	// answer at all. A backend that is reachable but not ready (no Raft leader yet)
	// keeps its connections; an unreachable one has them closed, so clients that
	// hold long-lived connections (watches, agents) reconnect at once to a live one
	// instead of waiting for TCP to notice a dead peer.
	ready, reachable bool
	checked          bool // a check has finished
	conns            map[net.Conn]struct{}
}

// New makes a load balancer for a config; Run starts it.
func New(c Config, log *slog.Logger) (*LoadBalancer, error) {
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool, err := pki.PoolFromPEM(ca)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LoadBalancer{
		listen:         c.Listen,
		tls:            &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		log:            log,
		healthInterval: DefaultHealthInterval,
		healthTimeout:  DefaultHealthTimeout,
		backends:       map[string]*backend{},
	}, nil
}

// Run serves until ctx ends. If configPath is not empty, the backend list is re-read
// from it whenever it changes.
func (lb *LoadBalancer) Run(ctx context.Context, backends []string, configPath string) error {
	ln, err := net.Listen("tcp", lb.listen)
	if err != nil {
		return fmt.Errorf("load balancer: %w", err)
	}
	return lb.Serve(ctx, ln, backends, configPath)
}

// Serve is Run on a listener of the caller's.
func (lb *LoadBalancer) Serve(ctx context.Context, ln net.Listener, backends []string, configPath string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		lb.closeAll()
		lb.wg.Wait()
	}()
	lb.SetBackends(ctx, backends)
	lb.log.Info("load balancer started", "listen", ln.Addr().String(), "backends", backends)
	if configPath != "" {
		lb.wg.Add(1)
		go func() {
			defer lb.wg.Done()
			lb.watchConfig(ctx, configPath)
		}()
	}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("load balancer: accept: %w", err)
		}
		lb.wg.Add(1)
		go func() {
			defer lb.wg.Done()
			lb.forward(ctx, conn)
		}()
	}
}

// SetBackends replaces the backend list, keeping the state (and connections) of
// backends that stay.
func (lb *LoadBalancer) SetBackends(ctx context.Context, addrs []string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for addr, b := range lb.backends {
		if !slices.Contains(addrs, addr) {
			b.cancel()
			closeConns(b)
			delete(lb.backends, addr)
			lb.log.Info("backend removed", "backend", addr)
		}
	}
	lb.order = nil
	for _, addr := range addrs {
		if _, ok := lb.backends[addr]; ok {
			lb.order = append(lb.order, addr)
			continue
		}
		if slices.Contains(lb.order, addr) {
			continue
		}
		bctx, cancel := context.WithCancel(ctx)
		b := &backend{addr: addr, cancel: cancel, conns: map[net.Conn]struct{}{}}
		lb.backends[addr] = b
		lb.order = append(lb.order, addr)
		lb.wg.Add(1)
		go func() {
			defer lb.wg.Done()
			lb.check(bctx, b)
		}()
	}
}

// Healthy lists the backends whose last health check passed.
func (lb *LoadBalancer) Healthy() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var out []string
	for _, addr := range lb.order {
		if lb.backends[addr].ready {
			out = append(out, addr)
		}
	}
	return out
}

// watchConfig re-reads the config file every reloadInterval and applies changed
// backends. It compares contents, not modification times, which a copy into the
// container may round to the second.
func (lb *LoadBalancer) watchConfig(ctx context.Context, path string) {
	last, _ := os.ReadFile(path)
	t := time.NewTicker(reloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.Equal(b, last) {
			continue
		}
		last = b
		c, err := ReadConfig(path)
		if err != nil {
			lb.log.Error("config not reloaded", "err", err)
			continue
		}
		lb.log.Info("config reloaded", "backends", c.Backends)
		lb.SetBackends(ctx, c.Backends)
	}
}

// check health-checks one backend until ctx ends.
func (lb *LoadBalancer) check(ctx context.Context, b *backend) {
	host, _, err := net.SplitHostPort(b.addr)
	if err != nil {
		host = b.addr
	}
	tlsConf := lb.tls.Clone()
	tlsConf.ServerName = host
	// A new connection per check: a kept-alive one to a dead container would only
	// fail at the timeout, and the dial is what tells whether it is there at all.
	client := &http.Client{
		Timeout: lb.healthTimeout,
		Transport: &http.Transport{
			TLSClientConfig:   tlsConf,
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{Timeout: lb.healthTimeout}).DialContext,
		},
	}
	t := time.NewTicker(lb.healthInterval)
	defer t.Stop()
	for {
		ready, reachable, reason := probe(ctx, client, "https://"+b.addr+"/readyz")
		if ctx.Err() != nil {
			return
		}
		lb.setHealth(b, ready, reachable, reason)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) (ready, reachable bool, reason string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, true, resp.Status
	}
	return true, true, ""
}

func (lb *LoadBalancer) setHealth(b *backend, ready, reachable bool, reason string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if b.ready != ready || !b.checked {
		if ready {
			lb.log.Info("backend healthy", "backend", b.addr)
		} else {
			lb.log.Warn("backend unhealthy", "backend", b.addr, "reason", reason)
		}
	}
	if b.reachable && !reachable && len(b.conns) > 0 {
		lb.log.Warn("backend unreachable: closing its connections", "backend", b.addr, "connections", len(b.conns))
		closeConns(b)
	}
	b.ready, b.reachable, b.checked = ready, reachable, true
}

// candidates orders backends for a new connection: ready ones first, starting with
// the next in round-robin order; then the rest, in case every check is failing
// only for a moment (during a Raft election all API servers are unready).
func (lb *LoadBalancer) candidates() []*backend {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := len(lb.order)
	var ready, other []*backend
	for i := range n {
		b := lb.backends[lb.order[(lb.next+i)%n]]
		if b.ready {
			ready = append(ready, b)
		} else {
			other = append(other, b)
		}
	}
	if n > 0 {
		lb.next = (lb.next + 1) % n
	}
	return append(ready, other...)
}

func (lb *LoadBalancer) forward(ctx context.Context, client net.Conn) {
	defer client.Close()
	var (
		server net.Conn
		b      *backend
	)
	for _, c := range lb.candidates() {
		d := net.Dialer{Timeout: dialTimeout}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			lb.log.Debug("dial backend", "backend", c.addr, "err", err)
			continue
		}
		if !lb.track(c, conn, client) {
			conn.Close() // removed while we dialled
			continue
		}
		server, b = conn, c
		break
	}
	if server == nil {
		lb.log.Warn("no backend reachable: connection dropped", "client", client.RemoteAddr().String())
		return
	}
	defer lb.untrack(b, server, client)
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

func (lb *LoadBalancer) track(b *backend, conns ...net.Conn) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.backends[b.addr] != b {
		return false
	}
	for _, c := range conns {
		b.conns[c] = struct{}{}
	}
	return true
}

func (lb *LoadBalancer) untrack(b *backend, conns ...net.Conn) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, c := range conns {
		delete(b.conns, c)
	}
}

func closeConns(b *backend) {
	for c := range b.conns {
		_ = c.Close()
	}
	clear(b.conns)
}

func (lb *LoadBalancer) closeAll() {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		closeConns(b)
	}
}
