package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/progress"
)

func newStopCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "stop", Short: "Stop a cluster", Args: cobra.NoArgs}
	var name string
	stop := &cobra.Command{
		Use:   "cluster",
		Short: "Stop every container of a cluster, keeping all its state; `start cluster` brings it back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				if err := cluster.Stop(ctx, p, name, progress.New(cmd.ErrOrStderr())); err != nil {
					return fmt.Errorf("stop cluster %s: %w", name, interrupted(ctx, err))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Stopped cluster %q; `kindlike start cluster --name %s` starts it again.\n", name, name)
				return nil
			})
		},
	}
	addNameFlag(stop, &name)
	cmd.AddCommand(stop)
	return cmd
}

func newStartCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "start", Short: "Start a stopped cluster", Args: cobra.NoArgs}
	var name string
	var wait time.Duration
	start := &cobra.Command{
		Use:   "cluster",
		Short: "Start a stopped cluster's containers and wait for its nodes to be Ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				started := time.Now()
				if err := cluster.Start(ctx, p, name, wait, progress.New(cmd.ErrOrStderr())); err != nil {
					return fmt.Errorf("start cluster %s: %w", name, interrupted(ctx, err))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Started cluster %q in %.1fs.\n", name, time.Since(started).Seconds())
				return nil
			})
		},
	}
	addNameFlag(start, &name)
	start.Flags().DurationVar(&wait, "wait", defaultWait, "how long to wait for every node to be Ready; 0 waits only for the API")
	cmd.AddCommand(start)
	return cmd
}
