package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// config is what the service reads from its environment and flags.
type config struct {
	// Version is reported by /endpoint0, /info and /env (SIMPLE_SERVICE_VERSION).
	Version string
	// Port is where it listens, on every address (-port, else PORT0).
	Port int
	// HealthMin and HealthMax bound a random delay before /health answers
	// (HEALTH_MIN, HEALTH_MAX, in milliseconds), as in the original: a delay longer
	// than a probe's timeoutSeconds makes the probe fail.
	HealthMin, HealthMax time.Duration
	// FailAfter, when not negative, makes /health fail after that many healthy
	// answers (HEALTH_FAIL_AFTER); a restarted container starts healthy again.
	FailAfter int
	// Index, when set, is served at / and at every path no endpoint answers.
	Index []byte
}

// service answers the endpoints of simple-service 0.5.0.
type service struct {
	cfg    config
	out    io.Writer
	now    func() time.Time
	sleep  func(r *http.Request, d time.Duration) bool
	mu     sync.Mutex // serializes log lines
	failed atomic.Bool
	served atomic.Int64 // healthy /health answers so far
}

func newService(cfg config, out io.Writer) *service {
	return &service{cfg: cfg, out: out, now: time.Now, sleep: sleepCtx}
}

// sleepCtx waits d, or less if the client gives up first; it reports whether the
// client is still there.
func sleepCtx(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /endpoint0", s.endpoint0)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("/health/fail", s.setHealth(false))
	mux.HandleFunc("/health/ok", s.setHealth(true))
	mux.HandleFunc("GET /info", s.info)
	mux.HandleFunc("GET /env", s.env)
	mux.HandleFunc("/", s.fallback)
	return s.logged(mux)
}

// The log lines take the original's shape, the lines the tutorials show under
// `kubectl logs`: one from the endpoint, one access line per request.
func (s *service) logf(level, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "%s %s %s\n", s.now().Format("2006-01-02T15:04:05"), level, fmt.Sprintf(format, args...))
}

func (s *service) invoked(r *http.Request) {
	s.logf("INFO", "%s serving from %s has been invoked from %s", r.URL.Path, r.Host, remoteIP(r))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *service) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
			if r.Context().Err() != nil {
				rec.status = 499 // the client gave up first (nginx's code for it)
			}
		}
		level := "INFO"
		switch {
		case rec.status >= 500:
			level = "ERROR"
		case rec.status >= 400:
			level = "WARNING"
		}
		elapsed := float64(s.now().Sub(start).Microseconds()) / 1000
		s.logf(level, "%d %s %s (%s) %.2fms", rec.status, r.Method, r.URL.RequestURI(), remoteIP(r), elapsed)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Field order is alphabetical, as the original's JSON shows it.

type endpoint0Reply struct {
	Host    string `json:"host"`
	Result  string `json:"result"`
	Version string `json:"version"`
}

func (s *service) endpoint0(w http.ResponseWriter, r *http.Request) {
	s.invoked(r)
	writeJSON(w, http.StatusOK, endpoint0Reply{Host: r.Host, Result: "all is well", Version: s.cfg.Version})
}

type healthReply struct {
	Healthy bool `json:"healthy"`
}

func (s *service) health(w http.ResponseWriter, r *http.Request) {
	s.invoked(r)
	if s.cfg.HealthMax > s.cfg.HealthMin && s.cfg.HealthMin >= 0 {
		d := s.cfg.HealthMin + rand.N(s.cfg.HealthMax-s.cfg.HealthMin)
		if !s.sleep(r, d) {
			return
		}
	}
	if s.cfg.FailAfter >= 0 && s.served.Load() >= int64(s.cfg.FailAfter) {
		s.failed.Store(true)
	}
	if s.failed.Load() {
		writeJSON(w, http.StatusInternalServerError, healthReply{Healthy: false})
		return
	}
	s.served.Add(1)
	writeJSON(w, http.StatusOK, healthReply{Healthy: true})
}

// setHealth is the switch behind /health/fail and /health/ok. It answers any method,
// so `curl localhost:9876/health/fail` or busybox wget flips it from a shell.
func (s *service) setHealth(healthy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.invoked(r)
		s.failed.Store(!healthy)
		if healthy {
			s.served.Store(0)
		}
		writeJSON(w, http.StatusOK, healthReply{Healthy: healthy})
	}
}

type infoReply struct {
	From    string `json:"from"`
	Host    string `json:"host"`
	Version string `json:"version"`
	// Hostname and IP are kindlike's additions: the pod's name and IP.
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
}

func (s *service) info(w http.ResponseWriter, r *http.Request) {
	s.invoked(r)
	hostname, _ := os.Hostname()
	writeJSON(w, http.StatusOK, infoReply{
		From: remoteIP(r), Host: r.Host, Version: s.cfg.Version,
		Hostname: hostname, IP: podIP(),
	})
}

type envReply struct {
	Env     string `json:"env"`
	Version string `json:"version"`
}

func (s *service) env(w http.ResponseWriter, r *http.Request) {
	s.invoked(r)
	writeJSON(w, http.StatusOK, envReply{Env: pythonDict(os.Environ()), Version: s.cfg.Version})
}

func (s *service) fallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Index == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	s.invoked(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(s.cfg.Index)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// podIP is the first global address of the network namespace, IPv4 first: the pod's
// IP when the container runs in a pod.
func podIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var v6 string
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || !ipnet.IP.IsGlobalUnicast() {
			continue
		}
		if ipnet.IP.To4() != nil {
			return ipnet.IP.String()
		}
		if v6 == "" {
			v6 = ipnet.IP.String()
		}
	}
	return v6
}

// pythonDict renders environ entries (KEY=value) as the original's /env did: the
// string form of a Python 2 dict, e.g. {'HOME': '/root', 'PORT0': '9876'}.
func pythonDict(environ []string) string {
	sort.Strings(environ)
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pythonRepr(k))
		b.WriteString(": ")
		b.WriteString(pythonRepr(v))
	}
	b.WriteByte('}')
	return b.String()
}

// pythonRepr quotes s as Python 2's repr of a str: single quotes unless s holds a
// single quote and no double quote.
func pythonRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
