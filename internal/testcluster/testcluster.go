// Package testcluster runs a control plane of several `kindlike controlplane`
// processes on 127.0.0.1, without Docker, for integration tests and benchmarks: real
// processes, so a member can be killed with SIGKILL and restarted on its data.
package testcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/store"
	"github.com/kindlike/kindlike/kubeconfig"
	"github.com/kindlike/kindlike/pki"
)

// Options shape a local control plane.
type Options struct {
	// Bin is the kindlike binary; empty means $KINDLIKE_BIN.
	Bin string
	// Dir holds every member's data, certificates, logs and the kubeconfigs.
	Dir string
	// Members is the number of voters (default 3).
	Members int
	// ExtraArgs are added to every member's command line.
	ExtraArgs []string
}

// Cluster is a running local control plane.
type Cluster struct {
	opts    Options
	CA      *pki.CA
	Admin   pki.KeyPair
	Members []*Member
}

// Member is one control-plane process.
type Member struct {
	Name     string
	APIAddr  string
	RaftAddr string
	DataDir  string
	LogPath  string
	// Address is what the member advertises as its own address (the kubernetes
	// Service's endpoints list it): documentation addresses, never dialled, since every
	// member listens on loopback, which endpoints may not name.
	Address string
	certDir string
	args    []string
	bin     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// AdvertiseAddress is the address member i advertises: 192.0.2.(i+1).
func AdvertiseAddress(i int) string { return fmt.Sprintf("192.0.2.%d", i+1) }

// Bin finds the kindlike binary tests should run.
func Bin() (string, error) {
	bin := os.Getenv("KINDLIKE_BIN")
	if bin == "" {
		return "", errors.New("KINDLIKE_BIN is not set: run the tests through `make test` (or `make build` and set KINDLIKE_BIN=$PWD/bin/kindlike)")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("KINDLIKE_BIN: %w", err)
	}
	return bin, nil
}

// Start makes certificates, starts every member and waits until the API of each
// answers and a leader is elected.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.Bin == "" {
		bin, err := Bin()
		if err != nil {
			return nil, err
		}
		opts.Bin = bin
	}
	ca, err := pki.NewCA("kindlike-test-ca")
	if err != nil {
		return nil, err
	}
	admin, err := ca.Sign(pki.Request{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, CA: ca, Admin: admin}
	var peers []string
	for i := range opts.Members {
		api, err := freePort()
		if err != nil {
			return nil, err
		}
		raft, err := freePort()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("cp%d", i+1)
		m := &Member{
			Name: name, APIAddr: api, RaftAddr: raft, bin: opts.Bin,
			DataDir: filepath.Join(opts.Dir, name, "data"),
			certDir: filepath.Join(opts.Dir, name, "pki"),
			LogPath: filepath.Join(opts.Dir, name+".log"),
		}
		if err := c.writeCerts(m); err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
		peers = append(peers, name+"="+raft)
	}
	for i, m := range c.Members {
		m.Address = AdvertiseAddress(i)
		m.args = append([]string{"controlplane",
			"--name", m.Name, "--data-dir", m.DataDir, "--api-listen", m.APIAddr,
			"--raft-listen", m.RaftAddr, "--peers", strings.Join(peers, ","), "--cert-dir", m.certDir,
			"--advertise-address", m.Address,
		}, opts.ExtraArgs...)
		if err := m.Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for i := range c.Members {
		if err := kubeconfig.Write(c.Kubeconfig(i), c.entry(i)); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) writeCerts(m *Member) error {
	if err := os.WriteFile(filepath.Join(mkdir(m.certDir), "ca.crt"), c.CA.CertPEM, 0o644); err != nil {
		return err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	serving, err := c.CA.Sign(pki.Request{CommonName: m.Name, DNSNames: []string{"localhost"}, IPs: loopback, Server: true})
	if err != nil {
		return err
	}
	peer, err := c.CA.Sign(pki.Request{CommonName: m.Name, DNSNames: []string{"localhost"}, IPs: loopback, Server: true, Client: true})
	if err != nil {
		return err
	}
	kubeletClient, err := c.CA.Sign(pki.Request{CommonName: config.KubeletClientCN, Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return err
	}
	if err := serving.WriteFiles(m.certDir, "apiserver"); err != nil {
		return err
	}
	if err := kubeletClient.WriteFiles(m.certDir, config.KubeletClientName); err != nil {
		return err
	}
	return peer.WriteFiles(m.certDir, "peer")
}

func mkdir(dir string) string {
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func (c *Cluster) entry(i int) kubeconfig.Entry {
	return kubeconfig.Entry{
		Context: "kindlike-local", Server: "https://" + c.Members[i].APIAddr,
		CA: c.CA.CertPEM, ClientCert: c.Admin.CertPEM, ClientKey: c.Admin.KeyPEM,
	}
}

// Kubeconfig is the path of a kubeconfig whose server is member i.
func (c *Cluster) Kubeconfig(i int) string {
	return filepath.Join(c.opts.Dir, fmt.Sprintf("kubeconfig-%s", c.Members[i].Name))
}

// RestConfig is a client-go configuration for member i, as the admin.
func (c *Cluster) RestConfig(i int) *rest.Config {
	return &rest.Config{
		Host: "https://" + c.Members[i].APIAddr,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: c.CA.CertPEM, CertData: c.Admin.CertPEM, KeyData: c.Admin.KeyPEM,
		},
		QPS: 1000, Burst: 2000,
		Timeout: 30 * time.Second,
	}
}

// Start starts the member's process (again, after Kill or Stop).
func (m *Member) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	logFile, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	m.cmd, m.done = cmd, done
	return nil
}

// Kill ends the member's process with SIGKILL, as a crash would, and waits for it.
func (m *Member) Kill() { m.signal(syscall.SIGKILL) }

// Stop ends the member's process with SIGTERM and waits for it.
func (m *Member) Stop() { m.signal(syscall.SIGTERM) }

func (m *Member) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	m.mu.Lock()
	m.cmd = nil
	m.mu.Unlock()
}

// Running reports whether the member's process is up.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Stop stops every member.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Stop()
		}()
	}
	wg.Wait()
}

// Status asks member i for its view of the Raft group.
func (c *Cluster) Status(ctx context.Context, i int) (store.Status, error) {
	var st store.Status
	client, err := c.httpClient()
	if err != nil {
		return st, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.Members[i].APIAddr+"/kindlike/v1/raft", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("raft status of %s: %s", c.Members[i].Name, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *Cluster) httpClient() (*http.Client, error) {
	cert, err := c.Admin.TLSCertificate()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: c.CA.Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}}}, nil
}

// Leader returns the index of the member that is leader, as the running members
// agree, waiting until they do or ctx ends.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for {
		if i, ok := c.agreedLeader(ctx); ok {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no agreed leader: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) agreedLeader(ctx context.Context) (int, bool) {
	leader := ""
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := c.Status(ctx, i)
		if err != nil || st.LeaderID == "" {
			return -1, false
		}
		if leader != "" && st.LeaderID != leader {
			return -1, false
		}
		leader = st.LeaderID
	}
	for i, m := range c.Members {
		if m.Name == leader && m.Running() {
			return i, true
		}
	}
	return -1, false
}

// WaitReady waits until every running member answers /readyz and they agree on a leader.
func (c *Cluster) WaitReady(ctx context.Context) error {
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+m.APIAddr+"/readyz", nil)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if !m.Running() {
				// The log lives in the test's temporary directory, gone once the test
				// ends: its last lines go into the error, where a CI log keeps them.
				return fmt.Errorf("member %s exited; the end of %s:\n%s", m.Name, m.LogPath, logTail(m.LogPath, 20))
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("member %d (%s) not ready: %w; see %s", i, m.Name, ctx.Err(), m.LogPath)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	_, err = c.Leader(ctx)
	return err
}

// logTail is the last n lines of the file at path, or why they cannot be read.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// PID is the member's process id, 0 when it is not running.
func (m *Member) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}
