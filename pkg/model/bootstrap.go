// Package model holds the pixiu.yaml configuration model shared by the gateway host and its plugins.
// Field names and yaml keys follow upstream Pixiu so that a Pixiu configuration loads unchanged.
package model

import "time"

// Bootstrap is the root of pixiu.yaml.
type Bootstrap struct {
	StaticResources StaticResources `yaml:"static_resources" json:"static_resources"`
	Metric          Metric          `yaml:"metric" json:"metric"`
	Admin           Admin           `yaml:"admin" json:"admin"`
}

// StaticResources are the listeners, clusters and adapters configured in the file.
type StaticResources struct {
	Listeners      []*Listener      `yaml:"listeners" json:"listeners"`
	Clusters       []*ClusterConfig `yaml:"clusters" json:"clusters"`
	Adapters       []*Adapter       `yaml:"adapters" json:"adapters"`
	ShutdownConfig *ShutdownConfig  `yaml:"shutdown_config" json:"shutdown_config"`
}

// ShutdownConfig bounds graceful shutdown.
type ShutdownConfig struct {
	// Timeout bounds the whole shutdown: draining in-flight requests and stopping adapters.
	Timeout time.Duration `yaml:"timeout" json:"timeout" default:"60s"`
	// StepTimeout bounds each step (one listener, one adapter).
	StepTimeout time.Duration `yaml:"step_timeout" json:"step_timeout" default:"10s"`
	// RejectPolicy is accepted for compatibility; new connections are always refused once shutdown begins.
	RejectPolicy string `yaml:"reject_policy" json:"reject_policy" default:"immediacy"`
}

// Metric configures the Prometheus endpoint.
type Metric struct {
	Enable         bool `yaml:"enable" json:"enable"`
	PrometheusPort int  `yaml:"prometheus_port" json:"prometheus_port" default:"2222"`
	// Address is the host the metrics server binds; loopback unless set.
	Address string `yaml:"address" json:"address" default:"127.0.0.1"`
}

// Admin configures the admin HTTP server (off unless enabled).
type Admin struct {
	Enable  bool   `yaml:"enable" json:"enable"`
	Address string `yaml:"address" json:"address" default:"127.0.0.1:8889"`
}

// Adapter is a configured adapter plugin, such as dgp.adapter.llmregistrycenter.
type Adapter struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Disabled skips this adapter only.
	Disabled bool           `yaml:"disabled" json:"disabled"`
	Config   map[string]any `yaml:"config" json:"config"`
}
