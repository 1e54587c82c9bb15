// Package pluginregistry links every built-in plugin into the binary. Plugins register themselves
// from init functions; importing this package for its side effects makes them available.
package pluginregistry

import (
	_ "github.com/pixiu-llm/gateway/pkg/adapter/llmregistry"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/countbased"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/exponentialbackoff"
	_ "github.com/pixiu-llm/gateway/pkg/cluster/retry/noretry"
	_ "github.com/pixiu-llm/gateway/pkg/filter/llm/auth"
	_ "github.com/pixiu-llm/gateway/pkg/filter/llm/proxy"
	_ "github.com/pixiu-llm/gateway/pkg/filter/llm/tokenizer"
)
