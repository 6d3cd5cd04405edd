package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane"
	"github.com/kindlike/kindlike/controlplane/store"
)

// newControlPlaneCommand runs one control-plane member in the foreground. Node
// containers run it; tests run it as a process.
func newControlPlaneCommand(logger func() *slog.Logger) *cobra.Command {
	var (
		cfg       controlplane.Config
		peers     []string
		certDir   string
		tokenFile string
		subnet    string
	)
	cmd := &cobra.Command{
		Use:    "controlplane",
		Short:  "Run one control-plane member (Raft store, Kubernetes API, controllers)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Peers, err = parsePeers(peers); err != nil {
				return err
			}
			if err := controlplane.LoadCerts(certDir, &cfg); err != nil {
				return err
			}
			if tokenFile != "" {
				if cfg.Tokens, err = controlplane.ReadTokens(tokenFile); err != nil {
					return err
				}
			}
			if subnet != "" {
				p, err := netip.ParsePrefix(subnet)
				if err != nil || !p.Addr().Is4() {
					return fmt.Errorf("--cluster-subnet %q: want an IPv4 CIDR", subnet)
				}
				cfg.Network = config.NetworkFor(p)
			}
			cfg.Logger = logger()
			cp, err := controlplane.Start(cfg)
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			<-sig
			return cp.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "this member's name (Raft server ID)")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/kindlike", "where the Raft log, stable store and snapshots live")
	f.StringVar(&cfg.APIListen, "api-listen", "0.0.0.0:6443", "address of the HTTPS Kubernetes API")
	f.StringVar(&cfg.RaftListen, "raft-listen", "0.0.0.0:6444", "address of the peer port (Raft and write forwarding, mutual TLS)")
	f.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "address peers reach this member's peer port at (default: --raft-listen)")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "this member's IPv4 address, listed in the kubernetes Service's endpoints (default: the API's listen address, or this machine's address on the cluster network)")
	f.StringSliceVar(&peers, "peers", nil, "every voter as name=host:port, this member included")
	f.StringVar(&certDir, "cert-dir", "/etc/kindlike/pki", "directory holding ca.crt, apiserver.{crt,key}, peer.{crt,key} and apiserver-kubelet-client.{crt,key}")
	f.StringVar(&tokenFile, "token-file", "", "file of bearer tokens, one per line: token,user[,group1;group2]")
	f.StringVar(&subnet, "cluster-subnet", "", "the cluster network's subnet, from which the pod and LoadBalancer ranges follow as `kindlike create cluster` plans them (default: none, no LoadBalancer addresses)")
	f.DurationVar(&cfg.HeartbeatTimeout, "raft-heartbeat-timeout", 0, "Raft heartbeat timeout (0: default)")
	f.DurationVar(&cfg.ElectionTimeout, "raft-election-timeout", 0, "Raft election timeout (0: default)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("peers")
	return cmd
}

func parsePeers(list []string) ([]store.Peer, error) {
	var out []store.Peer
	for _, p := range list {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not name=host:port", p)
		}
		out = append(out, store.Peer{ID: id, Addr: addr})
	}
	return out, nil
}
