package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/docker"
	"github.com/kindlike/kindlike/config"
)

// Helpers shared by the commands that manage clusters on Docker.

// provider connects to Docker; every command that needs it checks it answers first.
func provider(ctx context.Context) (*docker.Provider, error) {
	p, err := docker.New()
	if err != nil {
		return nil, err
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// withProvider runs f with a context that the first Ctrl-C ends and a connection to
// Docker, which it closes after.
func withProvider(f func(ctx context.Context, p cluster.Provider) error) error {
	ctx, stop := interruptible()
	defer stop()
	p, err := provider(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	return f(ctx, p)
}

// interruptible is a context that ends at the first Ctrl-C or SIGTERM; a second
// one kills the process as usual, so a stuck cleanup can still be abandoned.
func interruptible() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// interrupted names an error caused by Ctrl-C as such.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted (%w)", err)
	}
	return err
}

// addNameFlag adds --name, completed with the clusters that exist.
func addNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", config.DefaultClusterName, "the cluster's name")
	_ = cmd.RegisterFlagCompletionFunc("name", completeClusters)
}

func completeClusters(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := provider(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer p.Close()
	names, _ := cluster.List(ctx, p)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeNodes completes the node names of the cluster --name names.
func completeNodes(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	name, _ := cmd.Flags().GetString("name")
	ctx := context.Background()
	p, err := provider(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer p.Close()
	nodes, _ := p.Nodes(ctx, name)
	var out []string
	for _, n := range nodes {
		if n.Role != cluster.RoleLoadBalancer {
			out = append(out, n.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
