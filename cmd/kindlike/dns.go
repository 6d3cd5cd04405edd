package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlike/kindlike/controlplane/dns"
)

// newDNSCommand serves the cluster's DNS names, reading Services and EndpointSlices
// through a kubeconfig; a Deployment in the cluster can run it as CoreDNS is run.
func newDNSCommand(logger func() *slog.Logger) *cobra.Command {
	var kubeconfigPath string
	var opts dns.Options
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Serve the cluster's DNS (what CoreDNS does in kubeadm clusters)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
			if err != nil {
				return fmt.Errorf("load kubeconfig %s: %w", kubeconfigPath, err)
			}
			client, err := kubernetes.NewForConfig(restCfg)
			if err != nil {
				return fmt.Errorf("build API client: %w", err)
			}
			opts.Logger = logger()
			srv, err := dns.New(client, opts)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig to reach the API with")
	f.StringVar(&opts.Listen, "listen", dns.DefaultListen, "address to serve DNS on, UDP and TCP")
	f.StringVar(&opts.Domain, "cluster-domain", dns.DefaultDomain, "the cluster domain to answer for")
	f.StringVar(&opts.HealthListen, "health", dns.DefaultHealthListen, "address serving /health")
	f.StringVar(&opts.ReadyListen, "ready", dns.DefaultReadyListen, "address serving /ready, 200 once the caches synced")
	f.StringArrayVar(&opts.Upstreams, "upstream", nil, "resolver for names outside the cluster, host[:port]; repeat for more (default: the nameservers of "+dns.DefaultResolvConf+")")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}
