package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/node"
)

// newNodeCommand is what node containers run: the control plane on control-plane
// nodes, and the node agent on every node, until SIGTERM.
func newNodeCommand(logger func() *slog.Logger) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:    "node",
		Short:  "Run a node: its control-plane member if it has one, and its node agent",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return node.Run(ctx, configPath, logger())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", config.NodeConfigPath, "the node's config, written by `kindlike create cluster`")
	return cmd
}
