package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kindlike/kindlike/version"
)

// TestCommandLine checks what a user sees for --version and for mistyped flags and
// commands.
func TestCommandLine(t *testing.T) {
	tests := []struct {
		args    []string
		out     string // stdout, exactly
		errWant string // error text, as main prints it after "ERROR: "
	}{
		{args: []string{"--version"}, out: "kindlike " + version.Kindlike + "\n"},
		{args: []string{"create", "cluster", "--nodez", "3"},
			errWant: "unknown flag: --nodez\nSee 'kindlike create cluster --help' for usage"},
		{args: []string{"crate", "cluster"}, errWant: "unknown command \"crate\" for \"kindlike\"\n\nDid you mean this?\n\tcreate\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := newRootCommand()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tt.args)
			err := root.Execute()
			if tt.errWant == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if out.String() != tt.out {
					t.Errorf("output %q, want %q", out.String(), tt.out)
				}
				return
			}
			if err == nil || err.Error() != tt.errWant {
				t.Errorf("error %q, want %q", err, tt.errWant)
			}
		})
	}
}
