// Package node is what a node container runs (`kindlike node`): the control-plane
// member on control-plane nodes, and the node agent on every node, which it starts
// again should the agent stop on an error.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane"
	"github.com/kindlike/kindlike/controlplane/addons"
	"github.com/kindlike/kindlike/controlplane/store"
	"github.com/kindlike/kindlike/nodeagent"
	"github.com/kindlike/kindlike/version"
)

// controlPlaneDataDir holds the member's Raft log, stable store and snapshots, on the
// node's state volume.
var controlPlaneDataDir = filepath.Join(config.NodeStateDir, "controlplane")

// agentRestartDelay spaces restarts of an agent that stopped on an error.
const agentRestartDelay = 2 * time.Second

// Run runs the node described by the config at configPath until ctx ends: its
// control-plane member if it has one, and its agent, started again should it stop on
// an error.
func Run(ctx context.Context, configPath string, log *slog.Logger) error {
	n, err := ReadConfig(configPath)
	if err != nil {
		return err
	}
	log = log.With("node", n.Name)
	log.Info("node starting", "role", n.Role, "version", version.Kindlike, "api", n.APIServer)
	if n.ControlPlane != nil {
		cp, err := startControlPlane(n, log)
		if err != nil {
			return fmt.Errorf("start control plane: %w", err)
		}
		defer func() {
			if err := cp.Close(); err != nil {
				log.Error("control plane stopped with an error", "err", err)
			}
		}()
	}
	api := agentConfig(n)
	// The agent retries API and Docker errors itself; should it still stop on an
	// error, it is started again rather than taking the node (and its control-plane
	// member) down with it.
	for {
		err := nodeagent.Run(ctx, agentOptions(n, api, log))
		if ctx.Err() != nil {
			break
		}
		log.Error("node agent stopped; starting it again", "err", err, "after", agentRestartDelay)
		select {
		case <-ctx.Done():
		case <-time.After(agentRestartDelay):
		}
	}
	log.Info("node stopping")
	return nil
}

// startControlPlane starts the node's Raft member and API. Peers are addressed by
// container name, which Docker's DNS resolves on the cluster network whatever
// address a restart gives: restarts cannot break the group. A member added to a
// running cluster starts with no peers and waits to be added.
func startControlPlane(n config.Node, log *slog.Logger) (*controlplane.ControlPlane, error) {
	cfg := controlplane.Config{
		Name:          n.Name,
		DataDir:       controlPlaneDataDir,
		APIListen:     net.JoinHostPort("0.0.0.0", strconv.Itoa(config.APIPort)),
		RaftListen:    net.JoinHostPort("0.0.0.0", strconv.Itoa(config.RaftPort)),
		RaftAdvertise: net.JoinHostPort(n.Name, strconv.Itoa(config.RaftPort)),
		Timing:        n.Timing,
		Network:       n.Network,
		Logger:        log,
	}
	if !n.ControlPlane.Join {
		for _, p := range n.ControlPlane.Peers {
			cfg.Peers = append(cfg.Peers, store.Peer{ID: p.Name, Addr: p.Address})
		}
	}
	if err := controlplane.LoadCerts(config.NodePKIDir, &cfg); err != nil {
		return nil, err
	}
	if n.Image != "" && n.ClusterAPIServer != "" {
		ca, err := controlplane.LoadCA(config.NodePKIDir)
		if err != nil {
			return nil, err
		}
		cfg.Addons = addons.Config{Image: n.Image, APIServer: n.ClusterAPIServer, CA: ca, CACert: cfg.CA}
	}
	return controlplane.Start(cfg)
}

// ReadConfig reads a node's config and fills what an older kindlike left out.
func ReadConfig(path string) (config.Node, error) {
	var n config.Node
	b, err := os.ReadFile(path)
	if err != nil {
		return n, fmt.Errorf("read node config: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &n); err != nil {
		return n, fmt.Errorf("node config %s: %w", path, err)
	}
	if n.Name == "" || n.APIServer == "" {
		return n, fmt.Errorf("node config %s: name and apiServer are required", path)
	}
	n.Timing = n.Timing.WithDefaults(config.DemoTiming())
	n.Network = n.Network.WithDefaults()
	return n, nil
}

// agentOptions runs the agent as a node of the cluster's network: pods route through
// their node and resolve through the cluster DNS Service.
func agentOptions(n config.Node, api *rest.Config, log *slog.Logger) nodeagent.Config {
	c := nodeagent.Config{Node: n, API: api, Logger: log, RoutePods: true, ClusterDomain: n.Network.ClusterDomain}
	if dns, err := n.Network.ClusterDNS(); err == nil {
		c.ClusterDNS = []string{dns.String()}
	} else {
		log.Warn("no cluster DNS address: pods resolve through Docker's DNS", "err", err)
	}
	return c
}

// agentConfig reaches the API as the node: client certificate system:node:<name>.
func agentConfig(n config.Node) *rest.Config {
	pki := func(f string) string { return filepath.Join(config.NodePKIDir, f) }
	return &rest.Config{
		Host: n.APIServer,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   pki(config.CACert),
			CertFile: pki(config.AgentName + ".crt"),
			KeyFile:  pki(config.AgentName + ".key"),
		},
	}
}
