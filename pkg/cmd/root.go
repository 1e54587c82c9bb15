// Package cmd holds the pixiu command line.
package cmd

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/pixiu-llm/gateway/pkg/common/suggest"
)

// Version is set at build time with -ldflags "-X github.com/pixiu-llm/gateway/pkg/cmd.Version=...".
var Version = "dev"

// NewRoot returns the pixiu command tree.
func NewRoot() *cobra.Command {
	root := newGroupCommand("pixiu", "LLM gateway that routes OpenAI-style traffic to providers discovered in Nacos",
		newGroupCommand("gateway", "Run the gateway", newStartCommand()),
		newVersionCommand(), newLLMCommand())
	root.SilenceUsage = true
	root.SilenceErrors = true
	return root
}

// newGroupCommand returns a command that only groups subcommands: alone it prints its help; with
// an unknown subcommand it fails, naming the closest one (cobra would print the help and exit 0).
func newGroupCommand(use, short string, subcommands ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return unknownSubcommand(c, args[0])
		},
	}
	c.AddCommand(subcommands...)
	return c
}

func unknownSubcommand(c *cobra.Command, name string) error {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if s, ok := suggest.Closest(name, names); ok {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return fmt.Errorf("%s (see '%s --help')", msg, c.CommandPath())
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
