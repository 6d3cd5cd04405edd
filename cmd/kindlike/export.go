package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/kubeconfig"
)

func newExportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a cluster's kubeconfig or logs",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportKubeconfigCommand(), newExportLogsCommand())
	return cmd
}

func newExportKubeconfigCommand() *cobra.Command {
	var name, kubeconfigPath string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Merge the cluster's context into a kubeconfig file and make it current",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfigPath == "" {
				kubeconfigPath = kubeconfig.DefaultPath()
			}
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				if err := cluster.ExportKubeconfig(ctx, p, name, kubeconfigPath); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Set kubectl context to %q in %s.\n", cluster.ContextName(name), kubeconfigPath)
				return nil
			})
		},
	}
	addNameFlag(cmd, &name)
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file to write to (default $KUBECONFIG or ~/.kube/config)")
	return cmd
}

func newExportLogsCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "logs [DIR]",
		Short: "Write every container's logs and inspect output, the Raft status and the API's nodes, leases, pods and events to DIR",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			} else {
				dir = filepath.Join(os.TempDir(), fmt.Sprintf("kindlike-logs-%s-%s", name, time.Now().Format("20060102-150405")))
			}
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				err := cluster.ExportLogs(ctx, p, name, dir)
				fmt.Fprintf(cmd.ErrOrStderr(), "Exported logs of cluster %q to:\n", name)
				fmt.Fprintln(cmd.OutOrStdout(), dir)
				return err
			})
		},
	}
	addNameFlag(cmd, &name)
	return cmd
}
