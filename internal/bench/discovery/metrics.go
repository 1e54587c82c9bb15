package discovery

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// discoveryUpdates reads the gateway's count of endpoint updates applied from registries.
func discoveryUpdates(ctx context.Context, metricsAddr string) (float64, error) {
	if metricsAddr == "" {
		return 0, fmt.Errorf("no metrics address")
	}
	return metricSum(ctx, metricsAddr, "pixiu_registry_discovery_events_total", `type="update"`)
}

// metricSum adds up the samples of a Prometheus metric whose labels contain labelMatch.
func metricSum(ctx context.Context, addr, name, labelMatch string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	return sumSamples(bufio.NewScanner(resp.Body), name, labelMatch)
}

func sumSamples(sc *bufio.Scanner, name, labelMatch string) (float64, error) {
	sum := 0.0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 || !strings.Contains(line[:sp], labelMatch) {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}
