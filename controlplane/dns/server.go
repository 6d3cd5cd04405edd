// Package dns serves the cluster's DNS names from the API, as CoreDNS's kubernetes plugin does.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ednsSize is the UDP payload size we advertise: the DNS Flag Day 2020 value, which
// avoids IP fragmentation on common paths.
const ednsSize = 1232

// Defaults are CoreDNS's in a kubeadm cluster, so probes and kubelet's --cluster-dns
// settings written for CoreDNS work unchanged.
const (
	DefaultDomain         = "cluster.local"
	DefaultListen         = ":53"
	DefaultHealthListen   = ":8080"
	DefaultReadyListen    = ":8181"
	DefaultTTL            = 5 * time.Second
	DefaultForwardTimeout = 2 * time.Second
	// DefaultResolvConf is where the upstream resolvers are read from when none are given.
	DefaultResolvConf = "/etc/resolv.conf"
)

// Options tune a Server; the zero value of each field means its default.
type Options struct {
	// Domain is the cluster domain the server is authoritative for.
	Domain string
	// Listen is the address of both the UDP and the TCP listener. A port of 0 picks a
	// free port, the same for both; Addr tells which.
	Listen string
	// Upstreams answer every name outside the cluster domain, tried in order
	// ("host" or "host:port"). Default: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstreams when Upstreams is empty.
	ResolvConf string
	// TTL of every answer from the cluster domain.
	TTL time.Duration
	// ForwardTimeout bounds each exchange with one upstream.
	ForwardTimeout time.Duration
	// HealthListen serves /health, ReadyListen serves /ready; they may be equal.
	HealthListen string
	ReadyListen  string
	Logger       *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Domain, DefaultDomain)
	def(&o.Listen, DefaultListen)
	def(&o.ResolvConf, DefaultResolvConf)
	def(&o.HealthListen, DefaultHealthListen)
	def(&o.ReadyListen, DefaultReadyListen)
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.ForwardTimeout == 0 {
		o.ForwardTimeout = DefaultForwardTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Domain = dns.CanonicalName(o.Domain)
	if _, ok := dns.IsDomainName(o.Domain); !ok || o.Domain == "." {
		return o, fmt.Errorf("cluster domain %q is not a domain name", o.Domain)
	}
	if len(o.Upstreams) == 0 {
		cfg, err := dns.ClientConfigFromFile(o.ResolvConf)
		if err != nil {
			return o, fmt.Errorf("read upstream resolvers: %w (pass upstreams explicitly)", err)
		}
		for _, s := range cfg.Servers {
			o.Upstreams = append(o.Upstreams, net.JoinHostPort(s, cfg.Port))
		}
		if len(o.Upstreams) == 0 {
			return o, fmt.Errorf("%s names no nameserver: pass upstreams explicitly", o.ResolvConf)
		}
	}
	for i, u := range o.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(strings.Trim(u, "[]"), "53")
		}
		o.Upstreams[i] = u
	}
	return o, nil
}

// Server answers DNS queries for the cluster domain from informer caches of Services
// and EndpointSlices, and forwards every other query upstream.
type Server struct {
	opts   Options
	log    *slog.Logger
	zone   *zone
	fwd    *forwarder
	synced atomic.Bool

	bound     chan struct{} // closed once the listeners are bound, or Run failed to bind them
	boundAddr string
	healthAdr string
	readyAdr  string
}

// New builds a server reading the cluster through client. It reads the upstream
// resolvers now, so a missing /etc/resolv.conf fails here rather than on the first query.
func New(client kubernetes.Interface, opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	// No resync: answers follow the watch, and a periodic relist would only cost the API.
	factory := informers.NewSharedInformerFactory(client, 0)
	z, err := newZone(factory, opts.Domain, opts.TTL)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger,
		zone:  z,
		fwd:   &forwarder{upstreams: opts.Upstreams, timeout: opts.ForwardTimeout, log: opts.Logger},
		bound: make(chan struct{}),
	}
	return s, nil
}

// Addr is the bound address of the DNS listeners, "host:port". It waits until Run has
// bound them, and is "" if Run could not.
func (s *Server) Addr() string {
	<-s.bound
	return s.boundAddr
}

// HealthAddr and ReadyAddr are the bound addresses of /health and /ready, waiting as Addr does.
func (s *Server) HealthAddr() string {
	<-s.bound
	return s.healthAdr
}

func (s *Server) ReadyAddr() string {
	<-s.bound
	return s.readyAdr
}

// Run binds the listeners, syncs the caches and serves until ctx ends. Queries for
// the cluster domain are answered SERVFAIL until the caches synced, so that an empty
// cache never says a name does not exist.
func (s *Server) Run(ctx context.Context) error {
	l, err := s.bind()
	if err != nil {
		close(s.bound)
		return err
	}
	s.boundAddr = l.tcp.Addr().String()
	s.healthAdr = l.health.Addr().String()
	s.readyAdr = s.healthAdr
	if l.ready != nil {
		s.readyAdr = l.ready.Addr().String()
	}
	close(s.bound)

	s.log.Info("dns server starting", "listen", s.boundAddr, "domain", strings.TrimSuffix(s.opts.Domain, "."),
		"upstreams", strings.Join(s.opts.Upstreams, ","), "health", s.healthAdr, "ready", s.readyAdr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)

	handler := dns.HandlerFunc(s.ServeDNS)
	udp := &dns.Server{PacketConn: l.udp, Handler: handler}
	tcp := &dns.Server{Listener: l.tcp, Handler: handler}
	var serving []*dns.Server // those started, which alone can be shut down
	for _, srv := range []*dns.Server{udp, tcp} {
		started, done := make(chan struct{}), make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		g.Go(func() error {
			defer close(done)
			if err := srv.ActivateAndServe(); err != nil {
				return fmt.Errorf("serve dns: %w", err)
			}
			return nil
		})
		// Shutting down a server not yet started fails and leaves it to serve on, so
		// wait until it serves, or failed to.
		select {
		case <-started:
			serving = append(serving, srv)
		case <-done:
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.synced.Load() {
			http.Error(w, "caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "OK")
	})
	var https []*http.Server
	for _, ln := range []net.Listener{l.health, l.ready} {
		if ln == nil {
			continue
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		https = append(https, hs)
		g.Go(func() error {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve health: %w", err)
			}
			return nil
		})
	}

	s.zone.factory.Start(gctx.Done())
	g.Go(func() error {
		if !cache.WaitForCacheSync(gctx.Done(), s.zone.hasSynced...) {
			return nil // stopping before the caches synced is not an error
		}
		s.synced.Store(true)
		services, slices := s.zone.counts()
		s.log.Info("dns caches synced", "services", services, "endpointslices", slices)
		return nil
	})

	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		var errs []error
		for _, srv := range serving {
			errs = append(errs, srv.ShutdownContext(sctx))
		}
		for _, hs := range https {
			errs = append(errs, hs.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})

	err = g.Wait()
	s.zone.factory.Shutdown()
	s.log.Info("dns server stopped")
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

type listeners struct {
	udp           net.PacketConn
	tcp           net.Listener
	health, ready net.Listener // ready is nil when it shares health's address
}

func (l listeners) close() {
	if l.udp != nil {
		_ = l.udp.Close()
	}
	for _, ln := range []net.Listener{l.tcp, l.health, l.ready} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// bind opens every listener before anything is served, so that a taken port fails
// Run at once. With port 0, UDP picks the port and TCP takes the same one.
func (s *Server) bind() (l listeners, err error) {
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	host, port, err := net.SplitHostPort(s.opts.Listen)
	if err != nil {
		return l, fmt.Errorf("dns listen address %q: %w", s.opts.Listen, err)
	}
	for attempt := 0; ; attempt++ {
		l.udp, err = net.ListenPacket("udp", s.opts.Listen)
		if err != nil {
			return l, fmt.Errorf("listen udp %s: %w", s.opts.Listen, err)
		}
		_, p, _ := net.SplitHostPort(l.udp.LocalAddr().String())
		l.tcp, err = net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			break
		}
		_ = l.udp.Close()
		l.udp = nil
		// A picked port may be taken for TCP only; pick again, a few times.
		if port != "0" || attempt == 10 {
			return l, fmt.Errorf("listen tcp %s: %w", net.JoinHostPort(host, p), err)
		}
	}
	if l.health, err = net.Listen("tcp", s.opts.HealthListen); err != nil {
		return l, fmt.Errorf("listen health %s: %w", s.opts.HealthListen, err)
	}
	if s.opts.ReadyListen != s.opts.HealthListen {
		if l.ready, err = net.Listen("tcp", s.opts.ReadyListen); err != nil {
			return l, fmt.Errorf("listen ready %s: %w", s.opts.ReadyListen, err)
		}
	}
	return l, nil
}

// ServeDNS answers one query: the cluster domain and the reverse names of cluster
// addresses from the caches, everything else from the upstreams.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.answer(req, w.RemoteAddr().Network())
	_ = w.WriteMsg(resp)
}

func (s *Server) answer(req *dns.Msg, network string) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	resp, ok := s.zone.answer(req, s.synced.Load())
	if !ok {
		resp = s.fwd.forward(req)
	} else {
		if len(resp.Answer) > 0 && resp.Answer[0].Header().Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME {
			s.chase(resp, q)
		}
		// A client that speaks EDNS0 is told we do too, so large headless answers
		// can fit without a retry over TCP.
		if req.IsEdns0() != nil {
			resp.SetEdns0(ednsSize, false)
		}
	}
	if network == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	return resp
}

// chase resolves the target of an ExternalName's CNAME, as CoreDNS does: stub
// resolvers (glibc, musl) do not follow a CNAME that comes without its target's records.
func (s *Server) chase(resp *dns.Msg, q dns.Question) {
	target := resp.Answer[len(resp.Answer)-1].(*dns.CNAME).Target
	sub := new(dns.Msg)
	sub.SetQuestion(target, q.Qtype)
	sub.RecursionDesired = true
	r, ok := s.zone.answer(sub, s.synced.Load())
	if !ok {
		r = s.fwd.forward(sub)
	}
	if r.Rcode == dns.RcodeSuccess {
		resp.Answer = append(resp.Answer, r.Answer...)
	}
}
