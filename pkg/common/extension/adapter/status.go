package adapter

// StatusReporter is implemented by adapters that can tell operators what they see; the admin
// API serves it under GET /admin/registries. It is optional: adapters without it are listed
// with no status. (The admin API also accepts a method `Status() T` with a concrete result type,
// such as `Status() []RegistryStatus`, since Go does not treat that as implementing Status() any.)
//
// Status returns a JSON-serializable snapshot (safe to call concurrently with everything else,
// cheap, never blocking on a registry call). For a registry adapter it should say, per registry:
// whether it is reachable, when it last synced, the services it subscribes to, the endpoints it
// currently routes, and the instances it rejected with service, instance, key and reason.
//
// Conventions the admin API relies on:
//   - If the value, or each element of a list field named "registries" in it, carries a boolean
//     field "reachable", GET /readyz summarizes it (reported, never gating readiness).
//   - It must not contain API keys or passwords. The admin API redacts fields with secret names
//     (api_key, api_keys, password, token, ...) and credential-shaped strings anyway, but only
//     as a second line of defence: report "keys": N, never the keys.
type StatusReporter interface {
	Status() any
}
