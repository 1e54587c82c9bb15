// Package llmregistry is the dgp.adapter.llmregistrycenter adapter: it watches service
// registries (Nacos first) and keeps one gateway endpoint per registered LLM instance, live, in
// the gateway's clusters.
//
// Configuration (pixiu.yaml):
//
//	adapters:
//	  - id: llm-registry
//	    name: dgp.adapter.llmregistrycenter
//	    config:
//	      registries:
//	        nacos:                        # any name; one watcher per entry
//	          protocol: nacos             # factory key (unknown: startup error naming it)
//	          address: "127.0.0.1:8848"   # host[:port] or http(s)://host:port[/context], comma separated
//	          timeout: 5s                 # bound of every registry request (default 5s)
//	          group: llm                  # default DEFAULT_GROUP
//	          namespace: public
//	          username: ""                # optional Nacos auth
//	          password: ""
//	          refresh_interval: 5s        # full re-read of services and instance lists (default 5s, min 100ms)
//	          page_size: 500              # service list page size (default 500)
//
// NACOS_ADDRESS in the environment replaces the address of every nacos entry.
//
// A provider registers an ordinary instance whose metadata carries the endpoint: cluster and id
// (id derived from the instance when missing), name, ip, port and address overrides, and
// llm-meta.fallback, llm-meta.api_key, llm-meta.api_keys, llm-meta.retry_policy.name,
// llm-meta.retry_policy.config, llm-meta.health_check_interval and llm-meta.models; see
// registry.InstanceToEndpoint. Instances that are disabled, unhealthy or weigh 0 carry no
// traffic. An instance with invalid metadata is reported (log, metrics, Status) and keeps its
// last valid endpoint until it is fixed or leaves.
//
// Words, one per concept, here and in the registry packages:
//   - registry: a service registry server providers register in (a Nacos or Polaris server);
//   - registry entry: one entry of the adapter's `registries` map (registry.Config), named by
//     its key; each entry is watched on its own;
//   - protocol: what kind of registry an entry talks to ("nacos"); each protocol has a
//     registry.Factory, registered from init;
//   - watcher: what a Factory builds for an entry (a registry.Watcher): it reads the registry
//     and produces endpoint events;
//   - instance: a provider's registration in a registry; endpoint: what the gateway routes to;
//   - the adapter: this package, the one that applies the events to the gateway's clusters.
//
// Watchers only produce endpoint events (see package registry); this package is
// the one place that applies them to the cluster manager, refuses what would overwrite a static
// endpoint or another registry entry's endpoint, keeps the adapter's view for the admin API (Status),
// and logs and counts every change once.
package llmregistry
