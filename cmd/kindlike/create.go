package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kindlike/kindlike/cluster"
	"github.com/kindlike/kindlike/cluster/progress"
	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/kubeconfig"
)

// Defaults of create cluster.
const (
	defaultWorkers       = 2
	defaultControlPlanes = 3
	defaultWait          = 5 * time.Minute
)

func newCreateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a cluster",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCreateClusterCommand())
	return cmd
}

func newCreateClusterCommand() *cobra.Command {
	var (
		name, configFile, timing, kubeconfigPath string
		workers, controlPlanes                   int
		wait                                     time.Duration
		retain                                   bool
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create a cluster of Docker containers: control planes, workers and an API load balancer",
		Long: `Create a cluster of Docker containers.

Each node is a container of kindlike's own node image, built from this binary on
first use. Control planes form a Raft group (3 by default; 1 is allowed) behind a
load balancer; workers (2 by default) run pods. The cluster's context, kindlike-<name>,
is merged into the kubeconfig and made current.`,
		Example: `  kindlike create cluster
  kindlike create cluster --name demo --nodes 3 --control-planes 1
  kindlike create cluster --config configs/cluster-labels.yaml
  kindlike create cluster --timing kubernetes --wait 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &config.Cluster{APIVersion: config.APIVersion, Kind: config.ClusterKind}
			if configFile != "" {
				var err error
				if c, err = config.LoadCluster(configFile); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			if f.Changed("name") || c.Name == "" {
				c.Name = name
			}
			if len(c.Nodes) > 0 && (f.Changed("nodes") || f.Changed("control-planes")) {
				return fmt.Errorf("--nodes and --control-planes cannot be used with a config file that lists nodes (%s)", configFile)
			}
			if workers < 0 {
				return fmt.Errorf("--nodes: %d is not a number of workers", workers)
			}
			if controlPlanes < 1 {
				return fmt.Errorf("--control-planes: a cluster needs at least 1, got %d", controlPlanes)
			}
			if len(c.Nodes) == 0 {
				c.Nodes = config.DefaultNodes(controlPlanes, workers)
			}
			if f.Changed("timing") {
				c.Timing.Preset = timing
			}
			if wait < 0 {
				return fmt.Errorf("--wait: %s is negative", wait)
			}
			warnings, err := c.Validate()
			if err != nil {
				return fmt.Errorf("invalid cluster config: %w", err)
			}
			for _, w := range warnings {
				fmt.Fprintln(os.Stderr, "WARNING:", w)
			}
			binary, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the kindlike binary: %w", err)
			}
			if kubeconfigPath == "" {
				kubeconfigPath = kubeconfig.DefaultPath()
			}

			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				started := time.Now()
				out := cmd.ErrOrStderr()
				fmt.Fprintf(out, "Creating cluster %q ...\n", c.Name)
				err = cluster.Create(ctx, p, cluster.CreateOptions{
					Config:     c,
					Binary:     binary,
					Kubeconfig: kubeconfigPath,
					Wait:       wait,
					Retain:     retain,
					Progress:   progress.New(out),
				})
				if err != nil {
					return fmt.Errorf("create cluster %s: %w", c.Name, interrupted(ctx, err))
				}
				ctxName := cluster.ContextName(c.Name)
				fmt.Fprintf(cmd.OutOrStdout(), "Created cluster %q in %.1fs; kubectl's context is now %q.\n\nTry:\n  kubectl cluster-info --context %s\n",
					c.Name, time.Since(started).Seconds(), ctxName, ctxName)
				return nil
			})
		},
	}
	f := cmd.Flags()
	addNameFlag(cmd, &name)
	f.IntVar(&workers, "nodes", defaultWorkers, "number of worker nodes")
	f.IntVar(&controlPlanes, "control-planes", defaultControlPlanes, "number of control-plane nodes (Raft voters); odd numbers tolerate failures best")
	f.StringVar(&configFile, "config", "", "cluster config file (apiVersion kindlike.dev/v1alpha1, kind Cluster); see configs/")
	f.StringVar(&timing, "timing", config.TimingDemo, "heartbeat and eviction clocks: demo (seconds) or kubernetes (upstream defaults)")
	f.DurationVar(&wait, "wait", defaultWait, "how long to wait for every node to be Ready; 0 waits only for the API")
	f.StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file to merge the cluster's context into (default $KUBECONFIG or ~/.kube/config)")
	f.BoolVar(&retain, "retain", false, "keep the containers of a failed create, for debugging")
	_ = cmd.RegisterFlagCompletionFunc("timing", cobra.FixedCompletions([]string{config.TimingDemo, config.TimingKubernetes}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	return cmd
}
