package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pixiu-llm/gateway/internal/bench/gatewayproc"
	"github.com/pixiu-llm/gateway/pkg/admin"
)

// ClusterHeader selects the cluster in the routes the discovery benchmarks generate.
const ClusterHeader = "X-Bench-Cluster"

// Route is the gateway route that sends requests carrying ClusterHeader: cluster to cluster.
func Route(cluster string) gatewayproc.Route {
	return gatewayproc.Route{Header: ClusterHeader, Value: cluster, Cluster: cluster}
}

var probeBody = []byte(`{"model":"stub-model","messages":[{"role":"user","content":"ping"}]}`)

// Prober sends requests through the gateway to one cluster at a time and reports whether the
// gateway could route them: 200 means routed to an endpoint, 503 means the cluster is missing
// or empty.
type Prober struct {
	client *http.Client
	url    string
}

// NewProber probes the gateway at url (its chat completions URL) over one keep-alive connection.
func NewProber(url string) *Prober {
	return &Prober{
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}, Timeout: 10 * time.Second},
		url:    url,
	}
}

// Routed sends one request to cluster and reports whether it was routed, and when the answer
// arrived. Statuses other than 200 and 503 are errors.
func (p *Prober) Routed(ctx context.Context, cluster string) (routed bool, at time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(probeBody))
	if err != nil {
		return false, time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ClusterHeader, cluster)
	resp, err := p.client.Do(req)
	if err != nil {
		return false, time.Time{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	at = time.Now()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, at, nil
	case http.StatusServiceUnavailable:
		return false, at, nil
	}
	return false, at, fmt.Errorf("cluster %s: unexpected status %d", cluster, resp.StatusCode)
}

// Probe pacing: slow until the change reached the gateway, back to back right after (where the
// gateway should apply it), then moderate until the deadline. The back-to-back window is short
// because lanes run in parallel on two shared cores: probing must not starve what it measures.
const (
	slowProbe  = 20 * time.Millisecond
	fastWindow = 100 * time.Millisecond
	midProbe   = 2 * time.Millisecond
)

// WaitRouted probes cluster until its routability is want and returns when the first answer
// showing it arrived: an upper bound of when the gateway applied the change, tight to one
// request round trip while probing back to back. seen may be nil.
func (p *Prober) WaitRouted(ctx context.Context, cluster string, want bool, seen *Expectation, deadline time.Time) (time.Time, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var lastErr error
	for {
		routed, at, err := p.Routed(ctx, cluster)
		if err == nil && routed == want {
			return at, nil
		}
		if err != nil {
			lastErr = err
		}
		var seenAt time.Time
		var seenDone <-chan struct{}
		if seen != nil {
			seenAt, seenDone = seen.At(), seen.Done()
		}
		pause := midProbe
		switch {
		case seen == nil || seenAt.IsZero():
			pause = slowProbe
		case time.Since(seenAt) < fastWindow:
			pause = 0
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-seenDone:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() != nil {
			state := "routed"
			if !want {
				state = "unrouted"
			}
			if lastErr != nil {
				return time.Time{}, fmt.Errorf("cluster %s not %s by the deadline (last error: %v)", cluster, state, lastErr)
			}
			return time.Time{}, fmt.Errorf("cluster %s not %s by the deadline", cluster, state)
		}
	}
}

// Admin reads the gateway's admin API.
type Admin struct {
	client *http.Client
	base   string
}

// NewAdmin reads the admin server at addr (host:port).
func NewAdmin(addr string) *Admin {
	return &Admin{client: &http.Client{Timeout: 10 * time.Second}, base: "http://" + addr}
}

// Endpoints counts the endpoints the gateway routes to that came from source (in cluster only,
// unless cluster is ""), and the clusters holding at least one of them.
func (a *Admin) Endpoints(ctx context.Context, source, cluster string) (endpoints, clusters int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/admin/clusters", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("admin: GET /admin/clusters: status %d", resp.StatusCode)
	}
	var view admin.ClustersView
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		return 0, 0, fmt.Errorf("admin: decode /admin/clusters: %w", err)
	}
	for _, c := range view.Clusters {
		if cluster != "" && c.Name != cluster {
			continue
		}
		n := 0
		for _, e := range c.Endpoints {
			if e.Source == source {
				n++
			}
		}
		endpoints += n
		if n > 0 {
			clusters++
		}
	}
	return endpoints, clusters, nil
}

// WaitEndpoints polls the admin API every interval until want endpoints from source are
// routed (in cluster, unless ""), and returns when the poll that saw them was answered.
func (a *Admin) WaitEndpoints(ctx context.Context, source, cluster string, want int, interval time.Duration, deadline time.Time) (time.Time, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	got := 0
	var lastErr error
	for {
		n, _, err := a.Endpoints(ctx, source, cluster)
		if err == nil && n >= want {
			return time.Now(), nil
		}
		if err != nil {
			lastErr = err
		} else {
			got = n
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			if lastErr != nil && got == 0 {
				return time.Time{}, fmt.Errorf("%d of %d endpoints routed by the deadline (%v)", got, want, lastErr)
			}
			return time.Time{}, fmt.Errorf("%d of %d endpoints routed by the deadline", got, want)
		}
	}
}
