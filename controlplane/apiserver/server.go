// Package apiserver serves the Kubernetes REST API over kindlike's Raft store: the
// resources of the registry with their verbs and subresources, discovery, watch,
// patches, server-side tables, as kubectl and client-go expect them.
package apiserver

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/kindlike/kindlike/controlplane/store"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// Storage is what the API server needs of the store; *store.Store is the one
// implementation.
type Storage interface {
	Get(ctx context.Context, key string, consistent bool) (store.Entry, error)
	List(ctx context.Context, prefix string, consistent bool) ([]store.Entry, uint64, error)
	Create(ctx context.Context, key string, value []byte) (store.Entry, error)
	Update(ctx context.Context, key string, value []byte, expectRev uint64) (store.Entry, error)
	Delete(ctx context.Context, key string, expectRev uint64) (store.Entry, error)
	Txn(ctx context.Context, ops ...store.Op) ([]store.Entry, error)
	Watch(ctx context.Context, prefix string, afterRev uint64) (<-chan store.Event, error)
	Rev() uint64
}

// NodeProxy connects the API server to node agents, which serve the pod subresources
// that need the pod's node: logs, exec, attach and port-forward.
type NodeProxy interface {
	ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string)
}

// User is an authenticated client.
type User struct {
	Name   string
	Groups []string
}

// Config is what a Server is made of.
type Config struct {
	Storage Storage
	// Tokens maps bearer tokens to users. Client certificates signed by the cluster CA
	// (checked by the TLS listener) authenticate too: CN is the user, O the groups.
	Tokens map[string]User
	// Tables prints objects as server-side tables; nil answers Table requests with 406,
	// and kubectl prints on its own.
	Tables func(obj runtime.Object, now time.Time) (*metav1.Table, error)
	// OpenAPI serves /openapi/v2 and /openapi/v3.
	OpenAPI http.Handler
	// Nodes reaches node agents; nil until agents run.
	Nodes NodeProxy
	// Services gives Services their cluster IPs and node ports; nil stores them as
	// written.
	Services ServiceAllocator
	// PodTolerationSeconds is how long pods tolerate an unreachable or not-ready node
	// unless they say otherwise (Kubernetes' DefaultTolerationSeconds admission).
	PodTolerationSeconds int64
	// Ready reports whether this member can serve: a Raft leader is known.
	Ready func() error
	// Version is what /version reports.
	Version version.Info
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the API server of one control-plane member.
type Server struct {
	store   Storage
	tokens  map[string]User
	tables  func(obj runtime.Object, now time.Time) (*metav1.Table, error)
	openapi http.Handler
	nodes   NodeProxy
	ready   func() error
	// services is Config.Services.
	services ServiceAllocator
	// tolerationSeconds is Config.PodTolerationSeconds.
	tolerationSeconds int64
	version           version.Info
	log               *slog.Logger
	now               func() time.Time
	router            *mux.Router
	// managers track field ownership for server-side apply.
	managers fieldManagers
}

// New makes a Server.
func New(cfg Config) *Server {
	s := &Server{
		store: cfg.Storage, tokens: cfg.Tokens, tables: cfg.Tables, openapi: cfg.OpenAPI,
		nodes: cfg.Nodes, ready: cfg.Ready, services: cfg.Services, version: cfg.Version, log: cfg.Logger, now: cfg.Now,
		tolerationSeconds: cfg.PodTolerationSeconds,
	}
	if s.tolerationSeconds == 0 {
		s.tolerationSeconds = 300
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ready == nil {
		s.ready = func() error { return nil }
	}
	s.router = s.routes()
	return s
}

// SetNodeProxy connects the server to node agents once they can be reached.
func (s *Server) SetNodeProxy(p NodeProxy) { s.nodes = p }

// Handler is the server's whole HTTP surface, authentication included.
func (s *Server) Handler() http.Handler {
	return s.recover(s.authenticate(s.router))
}

func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.UseEncodedPath()
	r.HandleFunc("/version", s.serveVersion)
	r.HandleFunc("/version/", s.serveVersion)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		r.HandleFunc(p, s.serveHealth)
		r.PathPrefix(p + "/").HandlerFunc(s.serveHealth)
	}
	if s.openapi != nil {
		r.PathPrefix("/openapi/").Handler(s.openapi)
	}
	r.HandleFunc("/api", s.serveAPIVersions)
	r.HandleFunc("/api/", s.serveAPIVersions)
	r.HandleFunc("/apis", s.serveAPIGroups)
	r.HandleFunc("/apis/", s.serveAPIGroups)
	r.PathPrefix("/api/v1").HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.serveGroupVersion(w, req, schema.GroupVersion{Version: "v1"}, strings.TrimPrefix(req.URL.EscapedPath(), "/api/v1"))
	})
	r.PathPrefix("/apis/{group}/{version}").HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		v := mux.Vars(req)
		gv := schema.GroupVersion{Group: v["group"], Version: v["version"]}
		s.serveGroupVersion(w, req, gv, strings.TrimPrefix(req.URL.EscapedPath(), "/apis/"+gv.Group+"/"+gv.Version))
	})
	r.HandleFunc("/apis/{group}", func(w http.ResponseWriter, req *http.Request) {
		s.serveAPIGroup(w, req, mux.Vars(req)["group"])
	})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, notFoundResource())
	})
	return r
}

func (s *Server) serveGroupVersion(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest string) {
	segs, err := splitPath(rest)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(segs) == 0 {
		if r.Method != http.MethodGet {
			writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: gv.Group}, r.Method))
			return
		}
		s.serveResourceList(w, r, gv)
		return
	}
	if segs[0] == "watch" && len(segs) > 1 && r.Method == http.MethodGet {
		// The deprecated /watch/ paths are a list or get with watch=true.
		q := r.URL.Query()
		q.Set("watch", "true")
		r.URL.RawQuery = q.Encode()
		s.serveWatchPath(w, r, gv, segs[1:])
		return
	}
	s.serveResource(w, r, gv, segs)
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.version, out.pretty)
}

// serveHealth answers /healthz, /livez and /readyz in kube-apiserver's plain form;
// ?verbose lists the checks. Liveness needs only the process; health and readiness
// need a Raft leader.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	var err error
	if !strings.HasPrefix(r.URL.Path, "/livez") {
		err = s.ready()
	}
	_, verbose := r.URL.Query()["verbose"]
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0], "/")
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		if verbose {
			fmt.Fprintf(w, "[+]ping ok\n[-]raft failed: %v\n%s check failed\n", err, name)
			return
		}
		fmt.Fprintf(w, "[-]raft failed: reason withheld\n%s check failed\n", name)
		return
	}
	if verbose {
		fmt.Fprintf(w, "[+]ping ok\n[+]raft ok\n%s check passed\n", name)
		return
	}
	fmt.Fprint(w, "ok")
}

// publicPaths need no credentials, as kube-apiserver lets anyone read them.
func publicPath(p string) bool {
	for _, prefix := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

type userKey struct{}

// UserFrom returns the user a request was authenticated as.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// authenticate admits requests with a client certificate the TLS layer verified, or a
// known bearer token, and answers everything else except public paths with 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := s.userOf(r); ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
			return
		}
		if publicPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
	})
}

func (s *Server) userOf(r *http.Request) (User, bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		return User{Name: c.Subject.CommonName, Groups: c.Subject.Organization}, true
	}
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		token = strings.TrimSpace(token)
		for t, u := range s.tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
				return u, true
			}
		}
	}
	return User{}, false
}

// recover turns a panic in a handler into a 500 Status and a logged stack, so no
// input can take the server down.
func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeError(w, r, apierrors.NewInternalError(fmt.Errorf("the server hit an internal error serving %s %s", r.Method, r.URL.Path)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Authenticated wraps another handler in the server's authentication and panic
// recovery, for endpoints served beside the Kubernetes API.
func (s *Server) Authenticated(next http.Handler) http.Handler {
	return s.recover(s.authenticate(next))
}
