package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/redact"
	"github.com/pixiu-llm/gateway/pkg/model"
)

// accessLog writes one line per request of a listener, from the request's Record: who asked
// (the consumer's name, never a key), where it went and how it ended.
type accessLog struct {
	logger *slog.Logger
}

// newAccessLog returns the access log the listener config asks for, or nil when it is off.
// Lines go to out in the configured format, whatever the gateway's own log level.
func newAccessLog(cfg model.AccessLog, out io.Writer) (*accessLog, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	var h slog.Handler
	switch strings.ToLower(cfg.Format) {
	case "json", "":
		h = slog.NewJSONHandler(out, nil)
	case "text":
		h = slog.NewTextHandler(out, nil)
	default:
		return nil, fmt.Errorf("%q is not json or text", cfg.Format)
	}
	return &accessLog{logger: slog.New(redact.NewHandler(h))}, nil
}

// write logs the finished request. It is safe on a nil *accessLog.
func (a *accessLog) write(rec *filter.Record) {
	if a == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", rec.RequestID),
		slog.String("method", rec.Method),
		slog.String("path", shorten(rec.Path, maxLoggedPath)),
		slog.Int("status", rec.Status),
		slog.String("consumer", rec.Consumer),
		slog.String("route", rec.Route),
		slog.String("cluster", rec.Cluster),
		slog.String("endpoint", rec.Endpoint),
		slog.String("tried", strings.Join(rec.Tried, ",")),
		slog.Int("attempts", rec.Attempts),
		slog.Float64("ttfb_ms", milliseconds(rec.FirstByte)),
		slog.Float64("duration_ms", milliseconds(time.Since(rec.Start))),
	}
	if rec.Usage.Reported {
		attrs = append(attrs, slog.Group("tokens", slog.Int64("prompt", rec.Usage.Prompt),
			slog.Int64("completion", rec.Usage.Completion), slog.Int64("total", rec.Usage.Total)))
	}
	if rec.Model != "" {
		attrs = append(attrs, slog.String("model", rec.Model))
	}
	if rec.ClientGone {
		attrs = append(attrs, slog.Bool("client_gone", true))
	}
	if rec.Cut != "" {
		attrs = append(attrs, slog.String("cut", rec.Cut))
	}
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}

// maxLoggedPath bounds the path in an access log line: a client chooses it, up to the
// listener's header limit.
const maxLoggedPath = 512

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
