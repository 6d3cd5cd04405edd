package cluster

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/config"
)

// Status is what `kindlike status` shows: the Raft group as each control plane sees
// it, and each node's readiness and heartbeat.
type Status struct {
	Cluster string `json:"cluster"`
	// Timing is the cluster's clocks, from a node's config; nil if unreadable.
	Timing  *config.Timing `json:"timing,omitempty"`
	Members []MemberStatus `json:"members"`
	Nodes   []NodeStatus   `json:"nodes"`
	// Problems are what could not be found out, and why.
	Problems []string `json:"problems,omitempty"`

	mu sync.Mutex // Problems, while gathering
}

// MemberStatus is one Raft server: its place in the configuration, and its own
// report of its log if it could be reached.
type MemberStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
	// Reachable is false if the member's own report could not be had; the fields
	// below are then zero.
	Reachable    bool   `json:"reachable"`
	State        string `json:"state,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	LastLogIndex uint64 `json:"lastLogIndex,omitempty"`
	CommitIndex  uint64 `json:"commitIndex,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex,omitempty"`
}

// NodeStatus is a node's container, Ready condition and lease.
type NodeStatus struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Container is the Docker state.
	Container string `json:"container"`
	// Ready is the Ready condition's status (True, False, Unknown), "" if the node is
	// not registered or the API cannot be reached.
	Ready string `json:"ready,omitempty"`
	// LeaseAge is the time since the node's lease was last renewed (in JSON, in
	// nanoseconds); -1 if unknown.
	LeaseAge time.Duration `json:"leaseAge"`
}

// GetStatus gathers a cluster's status. What cannot be reached is reported in
// Problems rather than failing the whole.
func GetStatus(ctx context.Context, p Provider, clusterName string) (*Status, error) {
	nodes, err := Nodes(ctx, p, clusterName)
	if err != nil {
		return nil, err
	}
	st := &Status{Cluster: clusterName}
	creds, err := readCredentials(ctx, p, nodes)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Role == config.RoleControlPlane {
			if nc, err := readNodeConfig(ctx, p, n.Name); err == nil {
				st.Timing = &nc.Timing
				break
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		st.Members = raftMembers(ctx, creds, nodes, st.problem)
	}()
	go func() {
		defer wg.Done()
		st.Nodes = nodeStatuses(ctx, p, clusterName, creds, nodes, st.problem)
	}()
	wg.Wait()
	slices.Sort(st.Problems)
	return st, nil
}

func (s *Status) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
}

// raftMembers asks every running control plane for its view. The configuration is
// the leader's if it answered, else that of any member that did.
func raftMembers(ctx context.Context, creds *credentials, nodes []Node, problem func(string, ...any)) []MemberStatus {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	views := map[string]RaftStatus{}
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n.Role != config.RoleControlPlane {
			continue
		}
		if !n.Running() || n.APIHostPort == 0 {
			problem("%s: container %s", n.Name, n.State)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			api, err := newAPIClient(creds.entry("", hostServer(n.APIHostPort)))
			if err == nil {
				var rs RaftStatus
				if rs, err = api.raftStatus(ctx); err == nil {
					mu.Lock()
					views[n.Name] = rs
					mu.Unlock()
					return
				}
			}
			problem("%s: Raft status unavailable: %v", n.Name, err)
		}()
	}
	wg.Wait()
	var conf []RaftMember
	for _, v := range views {
		if len(v.Members) > 0 && (conf == nil || v.State == "Leader") {
			conf = v.Members
		}
	}
	var out []MemberStatus
	for _, m := range conf {
		ms := MemberStatus{Name: m.ID, Address: m.Addr, Voter: m.Voter, Leader: m.Leader}
		if v, ok := views[m.ID]; ok {
			ms.Reachable = true
			ms.State, ms.Term, ms.LastLogIndex, ms.CommitIndex, ms.AppliedIndex = v.State, v.Term, v.LastLogIndex, v.CommitIndex, v.AppliedIndex
		}
		out = append(out, ms)
	}
	if len(views) > 0 && len(conf) == 0 {
		problem("no control plane reported a Raft configuration")
	}
	return out
}

// nodeStatuses reads Nodes and their Leases through the cluster's API endpoint.
func nodeStatuses(ctx context.Context, p Provider, clusterName string, creds *credentials, nodes []Node, problem func(string, ...any)) []NodeStatus {
	var out []NodeStatus
	for _, n := range nodes {
		if n.Role != RoleLoadBalancer {
			out = append(out, NodeStatus{Name: n.Name, Role: n.Role, Container: n.State, LeaseAge: -1})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	entry, err := creds.kubeconfig(ctx, p, clusterName, nodes, false)
	if err != nil {
		problem("API: %v", err)
		return out
	}
	api, err := newAPIClient(entry)
	if err != nil {
		problem("API: %v", err)
		return out
	}
	cs, err := api.clientset()
	if err != nil {
		problem("API: %v", err)
		return out
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		problem("API: list nodes: %v", err)
		return out
	}
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		problem("API: list leases: %v", err)
	}
	now := time.Now()
	for i := range out {
		for _, n := range list.Items {
			if n.Name != out[i].Name {
				continue
			}
			out[i].Ready = string(corev1.ConditionUnknown)
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					out[i].Ready = string(c.Status)
				}
			}
		}
		if leases == nil {
			continue
		}
		for _, l := range leases.Items {
			if l.Name == out[i].Name && l.Spec.RenewTime != nil {
				out[i].LeaseAge = now.Sub(l.Spec.RenewTime.Time).Truncate(100 * time.Millisecond)
			}
		}
	}
	return out
}

// Write prints the status as tables.
func (s *Status) Write(w io.Writer) error {
	fmt.Fprintf(w, "Cluster %s\n", s.Cluster)
	if t := s.Timing; t != nil {
		fmt.Fprintf(w, "Timing (%s): lease %s renewed every %s; NotReady after %s without renewal; pods evicted after %s; node status posted on change or every %s\n",
			timingName(*t), t.NodeLeaseDuration, t.NodeLeaseRenewInterval, t.NodeMonitorGracePeriod, t.PodEvictionTimeout, t.NodeStatusReportInterval)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RAFT MEMBER\tADDRESS\tVOTER\tLEADER\tSTATE\tTERM\tLAST LOG\tCOMMIT\tAPPLIED")
	for _, m := range s.Members {
		leader := ""
		if m.Leader {
			leader = "*"
		}
		if !m.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tunreachable\t-\t-\t-\t-\n", m.Name, m.Address, yesNo(m.Voter), leader)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", m.Name, m.Address, yesNo(m.Voter), leader, m.State, m.Term, m.LastLogIndex, m.CommitIndex, m.AppliedIndex)
	}
	if len(s.Members) == 0 {
		fmt.Fprintln(tw, "(no member answered)")
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NODE\tROLE\tCONTAINER\tREADY\tLEASE RENEWED")
	for _, n := range s.Nodes {
		ready, age := n.Ready, "-"
		if ready == "" {
			ready = "-"
		}
		if n.LeaseAge >= 0 {
			age = n.LeaseAge.String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Container, ready, age)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Problems) > 0 {
		fmt.Fprintf(w, "\nProblems:\n  %s\n", strings.Join(s.Problems, "\n  "))
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timingName(t config.Timing) string {
	switch t {
	case config.DemoTiming():
		return config.TimingDemo
	case config.KubernetesTiming():
		return config.TimingKubernetes
	}
	return "custom"
}

// Leader returns the name of the Raft leader and its term, as the members report.
func (s *Status) Leader() (name string, term uint64, ok bool) {
	for _, m := range s.Members {
		if m.Leader && m.Reachable {
			return m.Name, m.Term, true
		}
	}
	return "", 0, false
}
