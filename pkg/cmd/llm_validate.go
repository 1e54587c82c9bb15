package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

func newLLMValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Show what the gateway makes of an instance's metadata (YAML or JSON; - reads stdin)",
		Long: `Checks Nacos instance metadata with the same conversion the gateway's registry adapter
uses, and prints the endpoint the gateway would route (never the API keys), or the reason the
instance would be rejected, naming the metadata key. Exit status 1 on rejection.

FILE is either a bare metadata map, as the Nacos console shows it:

  cluster: chat
  id: deepseek-primary
  address: https://api.deepseek.com
  llm-meta.retry_policy.name: CountBased
  llm-meta.retry_policy.config: '{"times": 2}'

or an instance with its own fields and the metadata under "metadata":

  service: llm-deepseek
  ip: 10.0.0.12
  port: 8080
  weight: 1
  metadata:
    cluster: chat
    id: deepseek-primary`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			var data []byte
			var err error
			if name == "-" {
				name = "stdin"
				data, err = io.ReadAll(c.InOrStdin())
			} else {
				data, err = os.ReadFile(name)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			if in, _, err := llmprovider.ParseFile(data); err == nil {
				warnUnknownMetaKeys(c.ErrOrStderr(), name, in.Metadata)
			}
			summary, err := llmprovider.CheckFile(data)
			if err != nil {
				return fmt.Errorf("%s: rejected: %w", name, err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "%s: accepted: the gateway routes service %q instance %s as\n", name, summary.Service, summary.Instance)
			for _, line := range summary.Lines() {
				fmt.Fprintln(out, "  "+line)
			}
			return nil
		},
	}
}

// warnUnknownMetaKeys prints a warning for every llm-meta.* key the gateway does not read; a
// typo such as llm-meta.fallbak would otherwise leave the setting off without a word.
func warnUnknownMetaKeys(w io.Writer, source string, meta map[string]string) {
	for _, u := range registry.UnknownLLMMetaKeys(meta) {
		fmt.Fprintf(w, "%s: warning: %s\n", source, u)
	}
}
