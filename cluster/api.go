package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kindlike/kindlike/kubeconfig"
)

// apiClient talks to one API endpoint as the cluster admin: the Kubernetes API
// through client-go, kindlike's own endpoints (/readyz, /kindlike/v1/raft) over plain
// HTTPS.
type apiClient struct {
	server string
	http   *http.Client
	rest   *rest.Config
}

func newAPIClient(e kubeconfig.Entry) (*apiClient, error) {
	cfg := &rest.Config{
		Host:            e.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.CA, CertData: e.ClientCert, KeyData: e.ClientKey},
		Timeout:         10 * time.Second,
		QPS:             50,
		Burst:           100,
		UserAgent:       "kindlike",
	}
	// Requests of their own connection each: one to a control plane that was just
	// killed must not hold up the next.
	tlsConf, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return &apiClient{
		server: strings.TrimSuffix(e.Server, "/"),
		http: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true},
		},
		rest: cfg,
	}, nil
}

func (c *apiClient) clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.rest)
}

// do sends a request with an optional JSON body and decodes a JSON answer into out.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// health asks /livez or /readyz; nil means it answered ok.
func (c *apiClient) health(ctx context.Context, which string) error {
	return c.do(ctx, http.MethodGet, "/"+which, nil, nil)
}

// RaftStatus is one control-plane member's view of the Raft group, as served at
// /kindlike/v1/raft.
type RaftStatus struct {
	ID           string
	State        string // Leader, Follower, Candidate, Shutdown
	LeaderID     string
	LeaderAddr   string
	Term         uint64
	LastLogIndex uint64
	CommitIndex  uint64
	AppliedIndex uint64
	Members      []RaftMember
}

// RaftMember is one server of the Raft configuration.
type RaftMember struct {
	ID, Addr      string
	Voter, Leader bool
}

// Paths of kindlike's own control-plane endpoints.
const (
	raftStatusPath  = "/kindlike/v1/raft"
	raftMembersPath = "/kindlike/v1/raft/members"
)

func (c *apiClient) raftStatus(ctx context.Context) (RaftStatus, error) {
	var st RaftStatus
	err := c.do(ctx, http.MethodGet, raftStatusPath, nil, &st)
	return st, err
}

// addRaftMember asks the group to take a new voter (the leader does it; followers
// forward).
func (c *apiClient) addRaftMember(ctx context.Context, id, addr string) error {
	return c.do(ctx, http.MethodPost, raftMembersPath, map[string]string{"id": id, "address": addr}, nil)
}

func (c *apiClient) removeRaftMember(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, raftMembersPath+"/"+id, nil, nil)
}

// poll calls f every interval until it returns nil or ctx ends, returning f's last
// error wrapped with ctx's.
func poll(ctx context.Context, interval time.Duration, f func(ctx context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(err, ctx.Err()) {
				return err
			}
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// nodesReady reports how many of the named nodes are Ready (with a lease renewed
// after since, if not zero), and a summary of the others.
func nodesReady(ctx context.Context, cs kubernetes.Interface, names []string, since time.Time) (ready int, notReady []string, err error) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, nil, err
	}
	status := map[string]string{}
	for _, n := range list.Items {
		status[n.Name] = "NotReady"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				status[n.Name] = "Ready"
			}
		}
	}
	if !since.IsZero() {
		leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, nil, err
		}
		renewed := map[string]bool{}
		for _, l := range leases.Items {
			renewed[l.Name] = l.Spec.RenewTime != nil && l.Spec.RenewTime.After(since)
		}
		for name, s := range status {
			if s == "Ready" && !renewed[name] {
				status[name] = "lease not renewed yet"
			}
		}
	}
	for _, name := range names {
		switch s := status[name]; s {
		case "Ready":
			ready++
		case "":
			notReady = append(notReady, name+" (not registered)")
		default:
			notReady = append(notReady, name+" ("+s+")")
		}
	}
	return ready, notReady, nil
}
