package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kindlike/kindlike/cluster"
)

func newStatusCommand() *cobra.Command {
	var (
		name     string
		watch    bool
		output   string
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the Raft group (members, leader, term, log indexes) and each node's readiness and lease",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("--output: %q is not a format; use json, or leave it out for tables", output)
			}
			return withProvider(func(ctx context.Context, p cluster.Provider) error {
				out := cmd.OutOrStdout()
				tty := false
				if f, ok := out.(*os.File); ok {
					tty = term.IsTerminal(int(f.Fd()))
				}
				for {
					st, err := cluster.GetStatus(ctx, p, name)
					if err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return err
					}
					var buf bytes.Buffer
					if output == "json" {
						b, err := json.MarshalIndent(st, "", "  ")
						if err != nil {
							return err
						}
						buf.Write(append(b, '\n'))
					} else if watch && tty {
						buf.WriteString("\033[H\033[2J") // home, clear: redraw in place
					}
					if output == "" {
						if watch {
							buf.WriteString(time.Now().Format("15:04:05") + "  ")
						}
						if err := st.Write(&buf); err != nil {
							return err
						}
						if watch && !tty {
							buf.WriteString("\n")
						}
					}
					if _, err := out.Write(buf.Bytes()); err != nil {
						return err
					}
					if !watch {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(interval):
					}
				}
			})
		},
	}
	addNameFlag(cmd, &name)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json prints the status as JSON")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval with --watch")
	return cmd
}
