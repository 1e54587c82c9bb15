package llmregistry

// The built-in protocols. Each registers its factory from init; a new protocol is one more
// import here, and nothing else in this package changes.
import (
	_ "github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry/nacos"
)
