// Command register registers an LLM provider in Nacos with the metadata the pixiu gateway reads,
// keeps it registered until SIGINT or SIGTERM, then deregisters it.
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/nacos-group/nacos-sdk-go/clients"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/vo"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// The SDK writes a cache (with instance metadata, API key included) and logs: keep both in a
	// private directory, not in the working directory.
	dir, err := os.MkdirTemp("", "llm-provider-nacos-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	client, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig: &constant.ClientConfig{
			NamespaceId:         "public", // must match the gateway adapter's namespace
			TimeoutMs:           5000,
			NotLoadCacheAtStart: true,
			CacheDir:            dir,
			LogDir:              dir,
			LogLevel:            "warn",
		},
		ServerConfigs: []constant.ServerConfig{{IpAddr: "127.0.0.1", Port: 8848}},
	})
	if err != nil {
		return err
	}

	instance := vo.RegisterInstanceParam{
		ServiceName: "llm-deepseek",
		GroupName:   "llm-providers", // must match the gateway adapter's group
		Ip:          "10.0.0.12",     // the instance's own address; dialed when
		Port:        8080,            // metadata sets no ip, port or address
		Weight:      1,
		Enable:      true,
		Healthy:     true,
		Ephemeral:   true, // the SDK heartbeats it; it disappears when this process dies
		Metadata: map[string]string{
			"cluster":                      "chat",
			"id":                           "deepseek-primary",
			"name":                         "DeepSeek primary",
			"address":                      "https://api.deepseek.com",
			"llm-meta.fallback":            "true",
			"llm-meta.api_key":             os.Getenv("DEEPSEEK_API_KEY"),
			"llm-meta.retry_policy.name":   "ExponentialBackoff",
			"llm-meta.retry_policy.config": `{"times": 3, "initialInterval": "200ms", "maxInterval": "5s", "multiplier": 2}`,
		},
	}
	if ok, err := client.RegisterInstance(instance); err != nil || !ok {
		return fmt.Errorf("register: ok=%v err=%v", ok, err)
	}
	log.Printf("registered %s %s:%d", instance.ServiceName, instance.Ip, instance.Port)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop

	if _, err := client.DeregisterInstance(vo.DeregisterInstanceParam{
		ServiceName: instance.ServiceName,
		GroupName:   instance.GroupName,
		Ip:          instance.Ip,
		Port:        instance.Port,
		Ephemeral:   true,
	}); err != nil {
		return fmt.Errorf("deregister: %w", err)
	}
	log.Printf("deregistered")
	return nil
}
