package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// newKubectlCommand embeds upstream kubectl: `kindlike kubectl get pods` is `kubectl get
// pods`, with the same flags, output and exit codes.
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl [kubectl arguments]",
		Short:              "Run the upstream kubectl built into kindlike",
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
			kubectl := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
				PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
				Arguments:     append([]string{"kubectl"}, args...),
				ConfigFlags: genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().
					WithDiscoveryBurst(300).WithDiscoveryQPS(50).WithWarningPrinter(streams),
				IOStreams: streams,
			})
			kubectl.SetArgs(args)
			// CheckErr prints errors as kubectl does and exits with its codes.
			cmdutil.CheckErr(kubectl.Execute())
		},
	}
}
