package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/llmprovider"
)

// registriesView is the part of GET /admin/registries the demo reads.
type registriesView struct {
	Adapters []struct {
		ID     string `json:"id"`
		Status []struct {
			Name     string `json:"name"`
			Rejected []struct {
				Service  string `json:"service"`
				Instance string `json:"instance"`
				Key      string `json:"key"`
				Reason   string `json:"reason"`
			} `json:"rejected"`
		} `json:"status"`
	} `json:"adapters"`
}

// rejectedInstance registers an instance with a bad port straight through the registrar,
// skipping the checks `pixiu llm register` makes, and shows how the gateway reports it.
func (d *demo) rejectedInstance(parent context.Context) error {
	d.out.title("An instance registered by other means with invalid metadata is not routed, and is reported")
	ctx := parent
	reg, err := llmprovider.Connect(llmprovider.NacosOptions{Address: d.registry.Addr()})
	if err != nil {
		return err
	}
	d.broken = reg
	d.brokenInst = llmprovider.Instance{
		Service: "llm-broken", Group: demoGroup, IP: "127.0.0.1", Port: 9, Weight: 1,
		Metadata: map[string]string{"cluster": demoCluster, "id": "broken", "port": "99999"},
	}
	if err := reg.Register(d.brokenInst); err != nil {
		return err
	}
	d.out.info("registered service llm-broken with metadata port=99999 (no Check: registered as any Nacos client could)")

	url := d.adminURL + "/admin/registries"
	ctx, cancel := bounded(ctx, 30*time.Second)
	defer cancel()
	for {
		view, err := fetchRegistries(ctx, url)
		if err == nil {
			for _, a := range view.Adapters {
				for _, r := range a.Status {
					for _, rej := range r.Rejected {
						if rej.Service == d.brokenInst.Service {
							d.out.info("GET %s ->", url)
							d.out.info("  adapter %s, registry %s, rejected: service %s instance %s key %q: %s",
								a.ID, r.Name, rej.Service, rej.Instance, rej.Key, rej.Reason)
							if err := d.showRejectedMetric(ctx); err != nil {
								return err
							}
							reply, who, err := d.chat(ctx)
							if err != nil {
								return errorf(err, "request while an instance is rejected")
							}
							d.out.info("meanwhile traffic flows as before: request -> answered by %s %q", who, reply)
							return d.removeBroken()
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			return fmt.Errorf("the rejected instance did not appear in %s within 30s (last error: %v)", url, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (d *demo) removeBroken() error {
	err := d.broken.Deregister(d.brokenInst)
	_ = d.broken.Close()
	d.broken = nil
	if err != nil {
		return err
	}
	d.out.info("deregistered llm-broken again")
	return nil
}

// showRejectedMetric prints the gateway's rejected-instances gauge.
func (d *demo) showRejectedMetric(ctx context.Context) error {
	lines, err := d.metricLines(ctx, "pixiu_registry_rejected_instances{")
	if err != nil {
		return err
	}
	d.out.info("GET %s/metrics -> %s", d.metricsURL, lines[0])
	return nil
}

// metricLines returns the lines of the gateway's /metrics that start with one of prefixes, in
// scrape order; an error when there is none.
func (d *demo) metricLines(ctx context.Context, prefixes ...string) ([]string, error) {
	url := d.metricsURL + "/metrics"
	body, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no %s series", url, strings.Join(prefixes, ", "))
	}
	return out, nil
}

func fetchRegistries(ctx context.Context, url string) (*registriesView, error) {
	body, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	var v registriesView
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &v, nil
}

// get fetches url and returns its body; a status other than 200 is an error.
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
