// Command kindlike creates Kubernetes-style clusters out of Docker containers, and is
// also every program those containers run: control plane, node agent, load balancer.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:           "kindlike",
		Short:         "kindlike runs multi-node Kubernetes-style clusters in Docker, for learning, demos and chaos tests",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version, as kind and kubectl answer it; `kindlike version` says more.
		Version: version.Kindlike,
	}
	root.SetVersionTemplate("kindlike {{.Version}}\n")
	// A mistyped flag says where the usage is, as kubectl does; cobra already suggests
	// the nearest command for a mistyped one.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help' for usage", err, cmd.CommandPath())
	})
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level of long-running components: debug, info, warn, error")
	logger := func() *slog.Logger {
		var level slog.Level
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			level = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	root.AddCommand(
		newCreateCommand(),
		newDeleteCommand(),
		newGetCommand(),
		newExportCommand(),
		newStopCommand(),
		newStartCommand(),
		newAddCommand(),
		newRemoveCommand(),
		newStatusCommand(),
		newBuildCommand(),
		newKubectlCommand(),
		newVersionCommand(),
		newDNSCommand(logger),
		// Hidden: what the containers run.
		newNodeCommand(logger),
		newControlPlaneCommand(logger),
		newLoadBalancerCommand(logger),
		newKubeProxyCommand(logger),
	)
	return root
}
