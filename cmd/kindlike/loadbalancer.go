package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster/loadbalancer"
)

// newLoadBalancerCommand runs the API load balancer; the load balancer container of
// clusters with more than one control plane runs it.
func newLoadBalancerCommand(logger func() *slog.Logger) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:    "loadbalancer",
		Short:  "Run the API load balancer: a TCP proxy to the healthy API servers",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadbalancer.ReadConfig(configPath)
			if err != nil {
				return err
			}
			lb, err := loadbalancer.New(cfg, logger())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return lb.Run(ctx, cfg.Backends, configPath)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", loadbalancer.ConfigPath, "the load balancer's config file; changes to its backends are picked up while running")
	return cmd
}
