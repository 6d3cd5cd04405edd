package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kindlike's version and the Kubernetes version it speaks",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "kindlike %s (Kubernetes API %s)\n", version.Kindlike, version.Kubernetes())
		},
	}
}
