// Command pixiu is the LLM gateway: a Pixiu-compatible host whose LLM proxy routes OpenAI-style
// traffic to endpoints from pixiu.yaml and from service registries.
package main

import (
	"fmt"
	"os"

	"github.com/pixiu-llm/gateway/pkg/cmd"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
)

func main() {
	if err := cmd.NewRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "pixiu:", err)
		os.Exit(1)
	}
}
