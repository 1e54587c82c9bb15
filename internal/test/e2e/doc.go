// Package e2e holds end-to-end tests of the whole gateway against a real Nacos-protocol registry
// (internal/test/polaris): what operators and clients can see, checked from the outside. It has no
// code of its own; run it with `go test ./internal/test/e2e/` (skipped with -short).
package e2e
