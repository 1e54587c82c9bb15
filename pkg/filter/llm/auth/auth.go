// Package auth is the dgp.filter.llm.auth HTTP filter: clients of the gateway (consumers)
// present a key of their own, as "Authorization: Bearer <key>" (what OpenAI SDKs send) or as
// "x-api-key"; a request without a valid key gets 401 and goes no further.
//
// The consumer key is for the gateway only. Both headers are removed before the request goes
// on, so an endpoint gets its own api_key from the proxy or, without one, no key at all. The key
// is never logged or exported: the filter holds SHA-256 digests, and the consumer's name labels
// the request in the Record (access log), metrics and the admin API.
//
// When a request carries a Bearer Authorization header and x-api-key, the Authorization header
// is the one checked.
//
// A consumer may have limits (requests and tokens per minute, package limit). A request is
// admitted after its key was checked: over a limit it gets 429 with Retry-After and goes no
// further. The tokens a response used are charged when it has ended, from the usage the proxy
// read (Observe); so that streams report usage too, the request of a consumer with a tokens
// limit is marked with filter.WithUsageWanted.
package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// Kind is the filter's name in pixiu.yaml.
const Kind = "dgp.filter.llm.auth"

func init() {
	filter.RegisterHTTPFilter(plugin{})
}

type plugin struct{}

func (plugin) Kind() string { return Kind }

func (plugin) CreateFilterFactory(env filter.Env) (filter.HTTPFilterFactory, error) {
	return &factory{metrics: env.Metrics, logger: env.FilterLogger(Kind)}, nil
}

// factory is one configured instance of the filter.
type factory struct {
	cfg     Config
	keys    *keyring
	limiter *limit.Limiter
	metrics *metrics.Metrics
	logger  *slog.Logger
}

func (f *factory) Config() any { return &f.cfg }

func (f *factory) Apply() error {
	keys, err := f.cfg.compile()
	if err != nil {
		return err
	}
	limits := map[string]limit.Limits{}
	for _, c := range keys.owners {
		limits[c.Name] = c.Limits
	}
	limiter, err := limit.New(limits, limit.WithMetrics(f.metrics), limit.WithLogger(f.logger))
	if err != nil {
		return err
	}
	f.keys, f.limiter = keys, limiter
	f.cfg.Consumers = nil // the keys live on as digests only
	return nil
}

// Handler lets a request with a consumer's key through, without the key, when the consumer's
// limits admit it; it answers a request without a valid key with 401 and a refused one with 429.
func (f *factory) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, presented := presentedKey(r.Header)
		var c *Consumer
		if presented {
			c = f.keys.lookup(key)
		}
		if c == nil {
			f.reject(w, presented)
			return
		}
		delete(r.Header, "Authorization")
		delete(r.Header, "X-Api-Key")
		if rec := filter.RecordFrom(r.Context()); rec != nil {
			rec.Consumer = c.Name
		}
		if d := f.limiter.Admit(c.Name); !d.OK {
			limit.WriteRejection(w, c.Name, d)
			return
		}
		ctx := context.WithValue(r.Context(), consumerKey{}, c)
		if c.Limits.TokensPerMinute > 0 {
			ctx = filter.WithUsageWanted(ctx)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// presentedKey returns the key a request presents: the token of a Bearer Authorization
// header, else its x-api-key header.
func presentedKey(h http.Header) (string, bool) {
	scheme, token, _ := strings.Cut(h.Get("Authorization"), " ")
	if token = strings.TrimSpace(token); token != "" && strings.EqualFold(scheme, "Bearer") {
		return token, true
	}
	key := strings.TrimSpace(h.Get("X-Api-Key"))
	return key, key != ""
}

func (f *factory) reject(w http.ResponseWriter, presented bool) {
	reason, msg := "missing", "no API key: send a consumer key as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\""
	if presented {
		reason, msg = "invalid", "invalid API key"
	}
	f.metrics.AuthRejected(reason)
	w.Header().Set("WWW-Authenticate", `Bearer realm="pixiu"`)
	openaierror.Write(w, http.StatusUnauthorized, openaierror.TypeInvalidRequest, "invalid_api_key", msg)
}

// Observe counts every finished request of an authenticated consumer under its name and
// charges the tokens it used to the consumer's limits.
func (f *factory) Observe(rec *filter.Record) {
	if rec.Consumer == "" {
		return
	}
	f.limiter.Observe(rec) // first: a request counted in the metrics has been charged
	f.metrics.ConsumerRequest(rec.Consumer, rec.Status)
	if rec.Usage.Reported {
		f.metrics.ConsumerTokens(rec.Consumer, rec.Usage.Prompt, rec.Usage.Completion, rec.Usage.Total)
	}
}

// Consumers lists the configured consumers by name, with their number of keys.
func (f *factory) Consumers() []filter.ConsumerInfo {
	seen := map[*Consumer]bool{}
	var out []filter.ConsumerInfo
	for _, c := range f.keys.owners {
		if !seen[c] {
			seen[c] = true
			out = append(out, filter.ConsumerInfo{Name: c.Name, Keys: c.keys})
		}
	}
	return out
}

type consumerKey struct{}

// ConsumerFrom returns the consumer that sent the request, or nil when no auth filter ran.
func ConsumerFrom(ctx context.Context) *Consumer {
	c, _ := ctx.Value(consumerKey{}).(*Consumer)
	return c
}
