package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pixiu-llm/gateway/internal/childproc"
	"github.com/pixiu-llm/gateway/internal/test/logcapture"
)

func buildPixiu(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pixiu")
	out, err := exec.Command("go", "build", "-o", bin, "../pixiu").CombinedOutput()
	require.NoError(t, err, "go build ./cmd/pixiu: %s", out)
	return bin
}

// TestDemoRunsToTheEnd runs the whole demo against a freshly built gateway binary: every step
// checks its own outcome (who answered, fallback, discovery, rejection report, exit codes).
func TestDemoRunsToTheEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the registry, the gateway and provider processes")
	}
	bin := buildPixiu(t)
	var out logcapture.Buffer
	d := newDemo(bin, "../../configs/demo.yaml", &out)
	t.Cleanup(func() { _ = d.cleanup() }) // also when an assertion stops the test early
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := d.run(ctx)
	require.NoError(t, d.cleanup())
	require.NoError(t, err, "demo output:\n%s", out.String())

	text := out.String()
	for _, want := range []string{
		"exit status 1: the message names the metadata key",
		"answered by alpha", "answered by beta", "answered by gamma",
		"chunk 3", "-> fallback -> answered by beta",
		`msg="llm usage" filter=dgp.filter.llm.tokenizer cluster=chat`, "pixiu_llm_total_tokens_total{",
		"the gateway no longer routes to alpha",
		"models.list() -> gamma-model", "model gamma-model  -> answered by gamma", "404 model_not_found",
		"-> 429 rate_limit_exceeded, Retry-After:", "no provider asked", "-> served again: a stream",
		`pixiu_consumer_limited_total{consumer="trial",limit="tokens_per_minute"} 1`,
		`key "port"`, "pixiu_registry_rejected_instances",
		"gateway stopped on SIGTERM (exit status 0)",
	} {
		assert.Contains(t, text, want)
	}
	for _, key := range []string{d.appKey, d.trialKey} {
		require.NotEmpty(t, key)
		assert.NotContains(t, text, key, "the demo prints a consumer key")
	}
	_, err = os.Stat(d.tmp)
	assert.True(t, os.IsNotExist(err), "temp dir %s left behind", d.tmp)
}

// TestDemoInterruptedStopsEverything cancels the demo in the middle (as Ctrl-C does) and checks
// that cleanup leaves no process and no temp dir behind.
func TestDemoInterruptedStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the registry, the gateway and provider processes")
	}
	bin := buildPixiu(t)
	var out logcapture.Buffer
	d := newDemo(bin, "../../configs/demo.yaml", &out)
	t.Cleanup(func() { _ = d.cleanup() }) // also when an assertion stops the test early
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Interrupt once the gateway is routing, with register processes and the gateway running.
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) && !strings.Contains(out.String(), "answered by") {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	err := d.run(ctx)
	require.ErrorIs(t, err, context.Canceled, "demo output:\n%s", out.String())

	var children []*childproc.Process
	if d.gateway != nil {
		children = append(children, d.gateway)
	}
	for _, p := range d.providers {
		if p.reg != nil {
			children = append(children, p.reg)
		}
	}
	require.NotEmpty(t, children, "the demo was interrupted before it started any process")
	require.NoError(t, d.cleanup())
	for _, c := range children {
		assert.True(t, c.Exited(), "%s still running after cleanup", c.Name)
	}
	_, err = os.Stat(d.tmp)
	assert.True(t, os.IsNotExist(err), "temp dir %s left behind", d.tmp)
}
