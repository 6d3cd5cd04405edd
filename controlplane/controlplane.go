// Package controlplane runs one control-plane member: its share of the Raft store, the
// Kubernetes API over it, and, while it is the Raft leader, the controllers.
package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/addons"
	"github.com/kindlike/kindlike/controlplane/allocation"
	"github.com/kindlike/kindlike/controlplane/apiserver"
	"github.com/kindlike/kindlike/controlplane/apiserver/openapi"
	"github.com/kindlike/kindlike/controlplane/controllers/kubernetesservice"
	"github.com/kindlike/kindlike/controlplane/nodeproxy"
	"github.com/kindlike/kindlike/controlplane/printers"
	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/store"
	"github.com/kindlike/kindlike/pki"
	"github.com/kindlike/kindlike/version"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// Config is one member's configuration.
type Config struct {
	// Name is the member's Raft server ID; in a cluster, its node's name.
	Name    string
	DataDir string
	// APIListen is where the HTTPS API listens, e.g. "0.0.0.0:6443" or "127.0.0.1:0".
	APIListen string
	// RaftListen is the peer port (Raft and write forwarding, mutual TLS); RaftAdvertise
	// is how peers reach it (default RaftListen).
	RaftListen, RaftAdvertise string
	// Peers is the full voter list, this member included.
	Peers []store.Peer
	// CA is the cluster CA certificate (PEM): it verifies client and peer certificates.
	CA []byte
	// Serving is the API's certificate; its names must include 127.0.0.1, which the
	// member's own controllers dial.
	Serving pki.KeyPair
	// Peer is the member's certificate on the peer port, for both ends of mutual TLS.
	Peer pki.KeyPair
	// KubeletClient is the certificate the API server shows node agents when it
	// proxies logs, exec, attach and port-forward; without it those answer 503.
	KubeletClient pki.KeyPair
	// Tokens maps bearer tokens to users, besides client certificates.
	Tokens map[string]apiserver.User
	// Timing holds the node heartbeat and eviction clocks (zero fields: the demo preset).
	Timing config.Timing
	// Network is the cluster's address plan: the Service range, node ports, pod and
	// LoadBalancer ranges (zero fields: the defaults).
	Network config.Network
	// AdvertiseAddress is the member's address on the cluster network, which the
	// kubernetes Service's endpoints list. Empty: the API's listen address when it
	// names one, else this machine's address in Network.Subnet.
	AdvertiseAddress string
	// Addons are the kube-system workloads the leader keeps (kube-proxy, CoreDNS);
	// without an image, none.
	Addons addons.Config
	// Raft timings; zero values take the store's defaults.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	Logger                                                *slog.Logger
}

// ControlPlane is a running member.
type ControlPlane struct {
	cfg      Config
	store    *store.Store
	api      *apiserver.Server
	http     *http.Server
	listener net.Listener
	loopback *rest.Config
	cancel   context.CancelFunc
	// address is the member's advertised address (invalid: unknown); its Lease, kept
	// by the keeper until Close, puts it in the kubernetes Service's endpoints.
	address    netip.Addr
	stopKeeper context.CancelFunc
	keeperDone sync.WaitGroup
	// bootstrapped is set once the system namespaces exist.
	bootstrapped atomic.Bool
	done         sync.WaitGroup
	log          *slog.Logger
}

// Start opens the store, serves the API and takes part in leader elections; the
// member runs until Close.
func Start(cfg Config) (*ControlPlane, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// client-go logs through klog; send it where everything else goes.
	klog.SetSlogLogger(log)
	cfg.Timing = cfg.Timing.WithDefaults(config.DemoTiming())
	cfg.Network = cfg.Network.WithDefaults()
	caPool, err := pki.PoolFromPEM(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	peerCert, err := cfg.Peer.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	servingCert, err := cfg.Serving.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	st, err := store.Open(store.Config{
		ID:        cfg.Name,
		DataDir:   cfg.DataDir,
		Bind:      cfg.RaftListen,
		Advertise: cfg.RaftAdvertise,
		Peers:     cfg.Peers,
		TLS: &tls.Config{
			Certificates: []tls.Certificate{peerCert},
			RootCAs:      caPool,
			ClientCAs:    caPool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		HeartbeatTimeout:   cfg.HeartbeatTimeout,
		ElectionTimeout:    cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.LeaderLeaseTimeout,
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	log = log.With("member", cfg.Name)
	loopbackToken, err := randomToken()
	if err != nil {
		st.Close()
		return nil, err
	}
	tokens := map[string]apiserver.User{loopbackToken: {Name: "system:kindlike-controlplane", Groups: []string{"system:masters"}}}
	for t, u := range cfg.Tokens {
		tokens[t] = u
	}
	services, err := allocation.NewServices(cfg.Network, st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("service ranges: %w", err)
	}
	address, err := advertiseAddress(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	if !address.IsValid() {
		log.Warn("no address on the cluster network: the kubernetes Service will not list this member (set --advertise-address)")
	}
	cp := &ControlPlane{cfg: cfg, store: st, log: log, address: address}
	cp.api = apiserver.New(apiserver.Config{
		Storage:  st,
		Services: services,
		Tokens:   tokens,
		Tables:   printers.Table,
		OpenAPI:  openapi.Handler(),
		Ready:    cp.ready,
		// Every pod tolerates an unreachable or not-ready node for the eviction
		// timeout, as Kubernetes' DefaultTolerationSeconds admission gives it.
		PodTolerationSeconds: int64(cfg.Timing.PodEvictionTimeout.Seconds()),
		Version:              version.Info(),
		Logger:               log,
	})
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen for the API on %s: %w", cfg.APIListen, err)
	}
	cp.listener = ln
	mux := http.NewServeMux()
	mux.Handle("/kindlike/v1/raft", cp.authenticated(http.HandlerFunc(cp.serveRaftStatus)))
	mux.Handle("/kindlike/v1/raft/members", cp.authenticated(http.HandlerFunc(cp.serveAddMember)))
	mux.Handle("/kindlike/v1/raft/members/", cp.authenticated(http.HandlerFunc(cp.serveRemoveMember)))
	// Go profiles for administrators, as kube-apiserver serves them with --profiling.
	mux.Handle("/debug/pprof/", cp.authenticated(adminOnly(http.HandlerFunc(pprof.Index))))
	mux.Handle("/debug/pprof/cmdline", cp.authenticated(adminOnly(http.HandlerFunc(pprof.Cmdline))))
	mux.Handle("/debug/pprof/profile", cp.authenticated(adminOnly(http.HandlerFunc(pprof.Profile))))
	mux.Handle("/debug/pprof/symbol", cp.authenticated(adminOnly(http.HandlerFunc(pprof.Symbol))))
	mux.Handle("/debug/pprof/trace", cp.authenticated(adminOnly(http.HandlerFunc(pprof.Trace))))
	mux.Handle("/", cp.api.Handler())
	cp.http = &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{servingCert},
			ClientCAs:    caPool,
			ClientAuth:   tls.VerifyClientCertIfGiven,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cp.loopback = &rest.Config{
		Host:            "https://" + net.JoinHostPort("127.0.0.1", port),
		BearerToken:     loopbackToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CA},
		QPS:             500,
		Burst:           1000,
		UserAgent:       "kindlike-controlplane/" + version.Kindlike,
	}
	if err := cp.connectNodes(); err != nil {
		_ = ln.Close()
		st.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp.cancel = cancel
	cp.done.Add(2)
	go func() {
		defer cp.done.Done()
		if err := cp.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API server stopped", "err", err)
		}
	}()
	go func() {
		defer cp.done.Done()
		st.RunAsLeader(ctx, cp.lead)
	}()
	cp.startKeeper()
	log.Info("control plane started", "api", ln.Addr().String(), "raft", cfg.RaftListen)
	return cp, nil
}

// connectNodes lets the API server reach node agents for pods' logs, exec, attach
// and port-forward, when the member has a kubelet client certificate.
func (cp *ControlPlane) connectNodes() error {
	if len(cp.cfg.KubeletClient.CertPEM) == 0 {
		cp.log.Warn("no kubelet client certificate: pods' logs, exec, attach and port-forward are unavailable")
		return nil
	}
	client, err := kubernetes.NewForConfig(cp.loopback)
	if err != nil {
		return err
	}
	proxy, err := nodeproxy.New(nodeproxy.Config{
		Node: func(ctx context.Context, name string) (*corev1.Node, error) {
			return client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		},
		CA: cp.cfg.CA, Client: cp.cfg.KubeletClient, Logger: cp.log,
	})
	if err != nil {
		return err
	}
	cp.api.SetNodeProxy(proxy)
	return nil
}

// startKeeper renews the member's API server Lease until Close.
func (cp *ControlPlane) startKeeper() {
	ctx, cancel := context.WithCancel(context.Background())
	cp.stopKeeper = cancel
	if !cp.address.IsValid() {
		return
	}
	client, err := kubernetes.NewForConfig(cp.loopback)
	if err != nil {
		cp.log.Error("API server lease client", "err", err)
		return
	}
	keeper := kubernetesservice.NewKeeper(client, cp.cfg.Name, cp.address,
		cp.cfg.Timing.NodeLeaseDuration.Duration, cp.cfg.Timing.NodeLeaseRenewInterval.Duration, cp.log)
	cp.keeperDone.Add(1)
	go func() {
		defer cp.keeperDone.Done()
		keeper.Run(ctx)
	}()
}

// apiPort is the port the API listens on, which the kubernetes Service targets.
func (cp *ControlPlane) apiPort() int32 {
	_, port, _ := net.SplitHostPort(cp.listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return int32(p)
}

// advertiseAddress is the member's address as Config.AdvertiseAddress says, or the
// zero Addr when there is none to find.
func advertiseAddress(cfg Config) (netip.Addr, error) {
	if cfg.AdvertiseAddress != "" {
		a, err := netip.ParseAddr(cfg.AdvertiseAddress)
		if err != nil || !a.Is4() {
			return netip.Addr{}, fmt.Errorf("advertise address %q: want an IPv4 address", cfg.AdvertiseAddress)
		}
		return a, nil
	}
	if host, _, err := net.SplitHostPort(cfg.APIListen); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Is4() && !a.IsUnspecified() && !a.IsLoopback() {
			return a, nil
		}
	}
	subnet, err := netip.ParsePrefix(cfg.Network.Subnet)
	if err != nil {
		return netip.Addr{}, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, nil
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok && subnet.Contains(ip.Unmap()) {
			return ip.Unmap(), nil
		}
	}
	return netip.Addr{}, nil
}

// APIAddr is the address the API listens on.
func (cp *ControlPlane) APIAddr() string { return cp.listener.Addr().String() }

// Store is the member's Raft store.
func (cp *ControlPlane) Store() *store.Store { return cp.store }

// Close stops the member: its Lease (so the kubernetes Service drops it at once), leader
// loops, API, then the store.
func (cp *ControlPlane) Close() error {
	cp.stopKeeper()
	cp.keeperDone.Wait()
	cp.cancel()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := cp.http.Shutdown(shutdown)
	if err != nil {
		_ = cp.http.Close()
	}
	cp.done.Wait()
	return errors.Join(err, cp.store.Close())
}

// ready reports whether the member can serve: a leader is known and the system
// namespaces exist, as kube-apiserver is not ready before its bootstrap hooks ran.
func (cp *ControlPlane) ready() error {
	if st := cp.store.Status(); st.LeaderID == "" {
		return errors.New("no Raft leader known")
	}
	if cp.bootstrapped.Load() {
		return nil
	}
	for _, ns := range SystemNamespaces {
		if _, err := cp.store.Get(context.Background(), registry.Namespaces.Key("", ns), false); err != nil {
			return fmt.Errorf("system namespace %s not created yet", ns)
		}
	}
	cp.bootstrapped.Store(true)
	return nil
}

func (cp *ControlPlane) authenticated(next http.Handler) http.Handler {
	return cp.api.Authenticated(next)
}

// serveRaftStatus answers `kindlike status` with this member's view of the Raft group.
func (cp *ControlPlane) serveRaftStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(cp.store.Status())
}

// admin reports whether the request comes from a cluster administrator: only they may
// change the Raft membership (node agents may not).
func admin(r *http.Request) bool {
	u, ok := apiserver.UserFrom(r.Context())
	if !ok {
		return false
	}
	for _, g := range u.Groups {
		if g == "system:masters" {
			return true
		}
	}
	return false
}

// adminOnly refuses requests from anyone but cluster administrators.
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !admin(r) {
			http.Error(w, "only system:masters may read profiles", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveAddMember adds a voter: POST {"id": name, "address": host:port}, on any member.
func (cp *ControlPlane) serveAddMember(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if !admin(r) {
		http.Error(w, "only system:masters may change the Raft membership", http.StatusForbidden)
		return
	}
	var req struct{ ID, Address string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.ID == "" || req.Address == "" {
		http.Error(w, `want {"id": name, "address": host:port}`, http.StatusBadRequest)
		return
	}
	if err := cp.store.Join(r.Context(), req.ID, req.Address); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	cp.log.Info("raft member added", "id", req.ID, "address", req.Address)
	w.WriteHeader(http.StatusNoContent)
}

// serveRemoveMember removes a voter: DELETE /kindlike/v1/raft/members/{id}.
func (cp *ControlPlane) serveRemoveMember(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		http.Error(w, "use DELETE", http.StatusMethodNotAllowed)
		return
	}
	if !admin(r) {
		http.Error(w, "only system:masters may change the Raft membership", http.StatusForbidden)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/kindlike/v1/raft/members/")
	if id == "" || strings.Contains(id, "/") {
		http.Error(w, "want /kindlike/v1/raft/members/{id}", http.StatusBadRequest)
		return
	}
	if err := cp.store.Remove(r.Context(), id); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	cp.log.Info("raft member removed", "id", id)
	w.WriteHeader(http.StatusNoContent)
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate loopback token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
