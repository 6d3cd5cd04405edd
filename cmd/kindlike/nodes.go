package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/progress"
)

func newAddCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "add", Short: "Add a node to a running cluster", Args: cobra.NoArgs}
	var (
		o    cluster.AddNodeOptions
		wait time.Duration
	)
	add := &cobra.Command{
		Use:   "node",
		Short: "Add a worker, or with --control-plane a Raft voter, to a running cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				o.Wait, o.Progress = wait, progress.New(cmd.ErrOrStderr())
				name, err := cluster.AddNode(ctx, p, o)
				if err != nil {
					return fmt.Errorf("add node to %s: %w", o.Cluster, interrupted(ctx, err))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Added node %q to cluster %q.\n", name, o.Cluster)
				fmt.Fprintln(cmd.OutOrStdout(), name)
				return nil
			})
		},
	}
	addNameFlag(add, &o.Cluster)
	add.Flags().BoolVar(&o.ControlPlane, "control-plane", false, "add a control plane (Raft voter, behind the load balancer) instead of a worker")
	add.Flags().DurationVar(&wait, "wait", defaultWait, "how long to wait for the node to be Ready; 0 does not wait")
	cmd.AddCommand(add)
	return cmd
}

func newRemoveCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "remove", Short: "Remove a node from a cluster", Args: cobra.NoArgs}
	var name string
	remove := &cobra.Command{
		Use:               "node NAME",
		Short:             "Remove a node: out of the Raft group and load balancer if a control plane, its Node object, container and volumes deleted",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				if err := cluster.RemoveNode(ctx, p, name, args[0], progress.New(cmd.ErrOrStderr())); err != nil {
					return fmt.Errorf("remove node %s: %w", args[0], interrupted(ctx, err))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Removed node %q from cluster %q.\n", args[0], name)
				return nil
			})
		},
	}
	addNameFlag(remove, &name)
	cmd.AddCommand(remove)
	return cmd
}
