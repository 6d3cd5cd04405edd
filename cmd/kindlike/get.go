package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlike/kindlike/cluster"
)

func newGetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Get clusters, their nodes, or a kubeconfig",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newGetClustersCommand(), newGetNodesCommand(), newGetKubeconfigCommand())
	return cmd
}

func newGetClustersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "clusters",
		Short: "List the kindlike clusters on this Docker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				names, err := cluster.List(ctx, p)
				if err != nil {
					return err
				}
				if len(names) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No kindlike clusters found.")
				}
				for _, n := range names {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
				return nil
			})
		},
	}
}

func newGetNodesCommand() *cobra.Command {
	var name string
	var all bool
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List a cluster's containers (nodes and load balancer) with their Docker state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				if all {
					name = ""
				}
				nodes, err := cluster.Nodes(ctx, p, name)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
				if all {
					fmt.Fprintln(w, "CLUSTER\tNAME\tROLE\tSTATE\tSTATUS\tIP\tAPI")
				} else {
					fmt.Fprintln(w, "NAME\tROLE\tSTATE\tSTATUS\tIP\tAPI")
				}
				for _, n := range nodes {
					api := "-"
					if n.APIHostPort != 0 {
						api = fmt.Sprintf("127.0.0.1:%d", n.APIHostPort)
					}
					if all {
						fmt.Fprintf(w, "%s\t", n.Cluster)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.State, n.Status, n.IP, api)
				}
				return w.Flush()
			})
		},
	}
	addNameFlag(cmd, &name)
	cmd.Flags().BoolVarP(&all, "all-clusters", "A", false, "list the nodes of every cluster")
	return cmd
}

func newGetKubeconfigCommand() *cobra.Command {
	var name string
	var internal bool
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the cluster's admin kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				e, err := cluster.Kubeconfig(ctx, p, name, internal)
				if err != nil {
					return err
				}
				b, err := clientcmd.Write(*e.Config())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			})
		},
	}
	addNameFlag(cmd, &name)
	cmd.Flags().BoolVar(&internal, "internal", false, "use the API's address inside the cluster's Docker network instead of the host's")
	return cmd
}
