package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
)

func newBuildCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "build", Short: "Build kindlike's images", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "node-image",
		Short: "Build the node image from this kindlike binary (create cluster does it when needed) and print its name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			binary, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the kindlike binary: %w", err)
			}
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				ref, built, err := p.EnsureNodeImage(ctx, binary)
				if err != nil {
					return err
				}
				if !built {
					fmt.Fprintln(cmd.ErrOrStderr(), "Already built.")
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				return nil
			})
		},
	})
	return cmd
}
