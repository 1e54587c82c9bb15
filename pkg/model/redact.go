package model

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/common/redact"
)

// The types below hold secrets (API keys in LLMMeta and in registry metadata, passwords in
// adapter configs). They print and log without them: fmt's %v/%+v/%s use String, slog uses
// LogValue. Keys are reported as a count only.

// String describes the LLM settings without the API keys.
func (m LLMMeta) String() string {
	s := fmt.Sprintf("{fallback:%t retry_policy:%s keys:%d health_check_interval:%dms",
		m.Fallback, m.retryPolicyName(), len(m.Keys()), m.HealthCheckInterval)
	if len(m.Models) > 0 {
		s += " models:" + strings.Join(m.Models, ",")
	}
	return s + "}"
}

// GoString is String, so that %#v cannot print the keys either.
func (m LLMMeta) GoString() string { return "model.LLMMeta" + m.String() }

// LogValue implements slog.LogValuer.
func (m LLMMeta) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("fallback", m.Fallback),
		slog.String("retry_policy", m.retryPolicyName()),
		slog.Int("keys", len(m.Keys())),
		slog.Int64("health_check_interval_ms", m.HealthCheckInterval),
		slog.Any("models", m.Models),
	)
}

func (m LLMMeta) retryPolicyName() string {
	if m.RetryPolicy.Name == "" {
		return "NoRetry"
	}
	return m.RetryPolicy.Name
}

// String describes the endpoint by id, name and address; metadata values under secret names and
// the API keys are left out.
func (e Endpoint) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{id:%s", e.ID)
	if e.Name != "" {
		fmt.Fprintf(&b, " name:%q", e.Name)
	}
	fmt.Fprintf(&b, " address:%s", e.Address.target())
	if e.Weight != 0 {
		fmt.Fprintf(&b, " weight:%g", e.Weight)
	}
	if len(e.Metadata) > 0 {
		meta := redact.StringMap(e.Metadata, e.LLMMeta.Keys()...)
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" meta:map[")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s:%s", k, meta[k])
		}
		b.WriteByte(']')
	}
	if e.LLMMeta != nil {
		fmt.Fprintf(&b, " llm_meta:%s", e.LLMMeta.String())
	}
	b.WriteByte('}')
	return b.String()
}

// GoString is String, so that %#v cannot print the keys either.
func (e Endpoint) GoString() string { return "model.Endpoint" + e.String() }

// LogValue implements slog.LogValuer.
func (e Endpoint) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", e.ID)}
	if e.Name != "" {
		attrs = append(attrs, slog.String("name", e.Name))
	}
	attrs = append(attrs, slog.String("address", e.Address.target()))
	if e.Weight != 0 {
		attrs = append(attrs, slog.Float64("weight", e.Weight))
	}
	if len(e.Metadata) > 0 {
		attrs = append(attrs, slog.Any("meta", redact.StringMap(e.Metadata, e.LLMMeta.Keys()...)))
	}
	if e.LLMMeta != nil {
		attrs = append(attrs, slog.Any("llm_meta", e.LLMMeta.LogValue()))
	}
	return slog.GroupValue(attrs...)
}

// target is where the endpoint sends requests, for messages: the domains, or address:port.
func (a SocketAddress) target() string {
	if len(a.Domains) > 0 {
		return strings.Join(a.Domains, ",")
	}
	if a.Port != 0 {
		return fmt.Sprintf("%s:%d", a.Address, a.Port)
	}
	return a.Address
}

// String describes the adapter with its config redacted (registry passwords, keys).
func (a Adapter) String() string {
	return fmt.Sprintf("{id:%s name:%s disabled:%t config:%v}", a.ID, a.Name, a.Disabled, redact.Value(a.Config))
}

// GoString is String, so that %#v cannot print the secrets either.
func (a Adapter) GoString() string { return "model.Adapter" + a.String() }

// LogValue implements slog.LogValuer.
func (a Adapter) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("name", a.Name),
		slog.Bool("disabled", a.Disabled),
		slog.Any("config", redact.Value(a.Config)),
	)
}
