package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlike/kindlike/nodeagent/proxy"
)

// newKubeProxyCommand runs kube-proxy in a node's network namespace (the kube-proxy
// pod uses the host network), and with `rules` prints what it programmed there.
func newKubeProxyCommand(logger func() *slog.Logger) *cobra.Command {
	var (
		kubeconfig, nodeName, nodeIP, serviceCIDR, lbRange, iface, healthz string
	)
	cmd := &cobra.Command{
		Use:   "kube-proxy",
		Short: "Run kube-proxy: program this node's nftables so Service addresses reach their endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := proxy.Options{NodeName: nodeName, Interface: iface, Logger: logger().With("component", "kube-proxy")}
			var err error
			if opts.ServiceCIDR, err = netip.ParsePrefix(serviceCIDR); err != nil {
				return fmt.Errorf("--service-cidr %q: %w", serviceCIDR, err)
			}
			if nodeIP != "" {
				if opts.NodeIP, err = netip.ParseAddr(nodeIP); err != nil {
					return fmt.Errorf("--node-ip %q: %w", nodeIP, err)
				}
			}
			if lbRange != "" {
				if opts.LBRange, err = netip.ParsePrefix(lbRange); err != nil {
					return fmt.Errorf("--lb-range %q: %w", lbRange, err)
				}
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("read --kubeconfig %s: %w", kubeconfig, err)
			}
			if opts.Client, err = kubernetes.NewForConfig(cfg); err != nil {
				return fmt.Errorf("API client: %w", err)
			}
			p, err := proxy.New(opts)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if healthz != "" {
				// kube-proxy's /healthz: 200 once the rules are written, so the pod is
				// Ready only when Services work on its node.
				mux := http.NewServeMux()
				mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
					if !p.Healthy() {
						http.Error(w, "rules not written yet", http.StatusServiceUnavailable)
						return
					}
					fmt.Fprintln(w, "ok")
				})
				srv := &http.Server{Addr: healthz, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
				ln, err := net.Listen("tcp", healthz)
				if err != nil {
					return fmt.Errorf("--healthz-bind-address %s: %w", healthz, err)
				}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
			}
			return p.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to reach the API with")
	f.StringVar(&nodeName, "node-name", "", "this node's name: endpoints on it are local for the Local traffic policies")
	f.StringVar(&nodeIP, "node-ip", "", "this node's address on the cluster network")
	f.StringVar(&serviceCIDR, "service-cidr", "10.96.0.0/12", "the ClusterIP range; traffic to it that no Service matches is refused")
	f.StringVar(&lbRange, "lb-range", "", "load-balancer address range: only addresses in it are added to or removed from --interface; empty: none")
	f.StringVar(&iface, "interface", proxy.DefaultInterface, "the node's interface on the cluster network, where load-balancer addresses go")
	f.StringVar(&healthz, "healthz-bind-address", "0.0.0.0:10256", "where /healthz answers 200 once the rules are written (kube-proxy's port); empty: nowhere")
	_ = cmd.MarkFlagRequired("kubeconfig")
	_ = cmd.MarkFlagRequired("node-name")
	cmd.AddCommand(&cobra.Command{
		Use:   "rules",
		Short: "Print the Service rules kube-proxy programmed in this network namespace (docker exec <node> /kindlike kube-proxy rules)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return proxy.Rules(cmd.OutOrStdout())
		},
	})
	return cmd
}
