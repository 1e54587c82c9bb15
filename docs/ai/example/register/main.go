// Command register registers an LLM provider in Nacos with the metadata the pixiu gateway reads,
// keeps it registered until SIGINT or SIGTERM, then deregisters it.
package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// The registrar talks to the Nacos 1.x HTTP API and listens on nothing: no push receiver
	// that could hand the API key to whoever asks.
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{
		Address:   "127.0.0.1:8848",
		Namespace: "public", // must match the gateway adapter's namespace
	})
	if err != nil {
		return err
	}
	defer reg.Close()

	meta, err := llmprovider.Spec{
		Cluster:     "chat",
		ID:          "deepseek-primary",
		Name:        "DeepSeek primary",
		Address:     []string{"https://api.deepseek.com"},
		APIKey:      os.Getenv("DEEPSEEK_API_KEY"),
		RetryPolicy: "ExponentialBackoff",
		RetryConfig: `{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2}`,
		Fallback:    true,
	}.Metadata()
	if err != nil {
		return err
	}
	instance := llmprovider.Instance{
		Service:  "llm-deepseek",
		Group:    "llm-providers", // must match the gateway adapter's group
		IP:       "10.0.0.12",     // the instance's own address: its identity in Nacos
		Port:     8080,
		Weight:   1,
		Metadata: meta,
	}
	// Check converts the metadata exactly as the gateway will, and refuses what it would reject.
	if _, err := llmprovider.Check(instance); err != nil {
		return err
	}
	// Register also heartbeats the instance until Deregister or Close.
	if err := reg.Register(instance); err != nil {
		return err
	}
	log.Printf("registered %s", instance)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop

	if err := reg.Deregister(instance); err != nil {
		return err
	}
	log.Printf("deregistered %s", instance)
	return nil
}
