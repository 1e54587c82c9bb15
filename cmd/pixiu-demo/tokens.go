package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tokens shows what the tokenizer filter (upstream Pixiu's dgp.filter.llm.tokenizer, chained
// after the proxy in configs/demo.yaml) made of the requests so far: its log line per request
// and its counters under upstream's metric names.
func (d *demo) tokens(ctx context.Context) error {
	d.out.title("Token counts: the tokenizer filter read each answer's usage (the stream's from its last chunk)")
	usage, err := d.usageLogLines()
	if err != nil {
		return err
	}
	d.out.info("the gateway logged one line per request (log_to_console: true); the last ones:")
	for _, line := range usage[max(0, len(usage)-3):] {
		d.out.from("gateway", gatewayNoise.ReplaceAllString(line, ""))
	}
	lines, err := d.metricLines(ctx, "pixiu_llm_prompt_tokens_total{", "pixiu_llm_completion_tokens_total{", "pixiu_llm_total_tokens_total{")
	if err != nil {
		return err
	}
	d.out.info("GET %s/metrics (upstream Pixiu's metric names) ->", d.metricsURL)
	for _, line := range lines {
		d.out.info("  %s", line)
	}
	return nil
}

// usageLogLines returns the tokenizer's lines of the gateway log so far that carry token counts.
func (d *demo) usageLogLines() ([]string, error) {
	data, err := os.ReadFile(filepath.Join(d.tmp, "gateway.log"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, `msg="llm usage"`) && strings.Contains(line, "total_tokens=") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no token counts in the gateway log %s", d.gatewayLog.Name())
	}
	return out, nil
}
