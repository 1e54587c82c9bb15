// Package cmd holds the pixiu command line.
package cmd

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/pixiu-llm/gateway/pkg/cmd.Version=...".
var Version = "dev"

// NewRoot returns the pixiu command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "pixiu",
		Short:         "LLM gateway that routes OpenAI-style traffic to providers discovered in Nacos",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	gateway := &cobra.Command{Use: "gateway", Short: "Run the gateway"}
	gateway.AddCommand(newStartCommand())
	root.AddCommand(gateway, newVersionCommand(), newLLMCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(c *cobra.Command, _ []string) {
			v := Version
			if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
				v = info.Main.Version
			}
			fmt.Fprintf(c.OutOrStdout(), "pixiu %s\n", v)
		},
	}
}
