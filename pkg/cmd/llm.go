package cmd

import (
	"github.com/spf13/cobra"
)

// newLLMCommand groups the provider-side tools: registering an LLM service instance in Nacos
// with gateway metadata, and checking metadata the way the gateway reads it.
func newLLMCommand() *cobra.Command {
	return newGroupCommand("llm", "Register LLM providers in Nacos and check their gateway metadata",
		newLLMRegisterCommand(), newLLMValidateCommand())
}
