package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/kubeconfig"
)

func newDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete one cluster, or several",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDeleteClusterCommand(), newDeleteClustersCommand())
	return cmd
}

func newDeleteClusterCommand() *cobra.Command {
	var name, kubeconfigPath string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Delete a cluster: its containers, volumes and network, and its kubeconfig entry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				return deleteClusters(ctx, cmd, p, []string{name}, kubeconfigPath)
			})
		},
	}
	addNameFlag(cmd, &name)
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file to remove the cluster's context from (default $KUBECONFIG or ~/.kube/config)")
	return cmd
}

func newDeleteClustersCommand() *cobra.Command {
	var (
		all            bool
		kubeconfigPath string
	)
	cmd := &cobra.Command{
		Use:               "clusters [NAME...]",
		Short:             "Delete the named clusters, or with --all every kindlike cluster",
		ValidArgsFunction: completeClusters,
		RunE: func(cmd *cobra.Command, names []string) error {
			if all == (len(names) > 0) {
				return errors.New("name the clusters to delete, or give --all")
			}
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				if all {
					var err error
					if names, err = cluster.List(ctx, p); err != nil {
						return err
					}
				}
				return deleteClusters(ctx, cmd, p, names, kubeconfigPath)
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "A", false, "delete every kindlike cluster")
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file to remove the clusters' contexts from (default $KUBECONFIG or ~/.kube/config)")
	return cmd
}

func deleteClusters(ctx context.Context, cmd *cobra.Command, p cluster.Provider, names []string, kubeconfigPath string) error {
	if kubeconfigPath == "" {
		kubeconfigPath = kubeconfig.DefaultPath()
	}
	var errs []error
	for _, name := range names {
		found, err := cluster.Delete(ctx, p, name, kubeconfigPath)
		switch {
		case err != nil:
			errs = append(errs, err)
		case found:
			fmt.Fprintf(cmd.ErrOrStderr(), "Deleted cluster %q.\n", name)
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "No cluster %q: nothing to delete.\n", name)
		}
	}
	return errors.Join(errs...)
}
