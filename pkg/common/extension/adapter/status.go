package adapter

// StatusReporter is implemented by adapters that can tell operators what they see; the admin
// API serves the report under GET /admin/registries and summarizes its reachability in
// GET /readyz (reported, never gating readiness). It is optional: adapters without it are listed
// with no status.
type StatusReporter interface {
	// Report is a snapshot, safe to call concurrently with everything else, cheap, never
	// blocking on a registry call.
	Report() Report
}

// Report is what an adapter tells operators.
type Report struct {
	// Status is the adapter's own JSON-serializable status. For a registry adapter it should
	// say, per registry: whether it is reachable, when it last synced, the services it
	// subscribes to, the endpoints it currently routes, and the instances it rejected with
	// service, instance, key and reason. It must not contain API keys or passwords: report
	// "keys": N, never the keys. The admin API redacts fields with secret names (api_key,
	// api_keys, password, token, ...) and credential-shaped strings anyway, but only as a second
	// line of defence.
	Status any
	// Reachable is, per remote source the adapter reads (by name, e.g. a registry), whether its
	// last call succeeded. Empty when the adapter reads none.
	Reachable map[string]bool
}
