// Package compat holds the tests that configs written for upstream Pixiu's AI gateway run on
// this gateway unchanged: upstream's published samples (found by internal/upstreamsamples
// outside the repository; skipped when absent, failing under CI=true), configs of our own in
// upstream's style, and a provider registering in Nacos the way upstream's sample registrar
// does. It has no code of its own; the Nacos tests need the registry server (skipped with -short).
package compat
