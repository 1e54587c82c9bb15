package filter

import (
	"context"
	"net/http"
	"time"
)

// Record is what the gateway learns about one client request while a filter chain handles it.
// The listener creates it before routing and hands it, complete, to every Observer of the chain
// once the chain has returned; filters fill in what they know on the way. It belongs to the
// goroutine serving the request: no locking.
type Record struct {
	Start time.Time
	// RequestID is the id the client, the provider and the access log see (X-Request-Id).
	RequestID string
	Method    string
	Path      string
	// Route is the matched route's prefix or path; empty when no route matched.
	Route string
	// Consumer is the name of the authenticated consumer; empty without an auth filter.
	Consumer string
	Cluster  string
	// Endpoint is the endpoint whose answer the client got; empty when none answered.
	Endpoint string
	// Tried lists the endpoints attempted, in order, each once.
	Tried []string
	// Attempts counts upstream attempts, retries and fallbacks included.
	Attempts int
	// Status is the status written to the client (0 when nothing was written).
	Status int
	// ClientGone is true when the client went away before the answer was complete.
	ClientGone bool
	// FirstByte is the time from Start to the first response body byte written; 0 when none.
	FirstByte time.Duration
	// Model is the model named by the upstream's answer, when it named one.
	Model string
	Usage Usage
	// Cut says why an answer already under way was ended early (for example "stream_idle");
	// empty when it ended normally.
	Cut string
}

// Usage is the token usage an upstream reported for a request.
type Usage struct {
	Prompt, Completion, Total int64
	// Reported is true when the answer carried a usage object.
	Reported bool
}

// Observer is implemented by filter factories that want to see every finished request of their
// chain, wherever they stand in it. Upstream Pixiu configs place dgp.filter.llm.tokenizer after
// the terminal proxy, whose Handler never calls the next filter, so observing cannot depend on
// the filter's position.
type Observer interface {
	Observe(rec *Record)
}

type recordKey struct{}

// WithRecord returns a context carrying rec.
func WithRecord(ctx context.Context, rec *Record) context.Context {
	return context.WithValue(ctx, recordKey{}, rec)
}

// RecordFrom returns the request's record, or nil when the request is not served by a listener
// (a filter called directly, in a unit test).
func RecordFrom(ctx context.Context) *Record {
	rec, _ := ctx.Value(recordKey{}).(*Record)
	return rec
}

// RecordingWriter is the client's ResponseWriter with the status and the time of the first body
// byte noted in a Record. Unwrap keeps http.ResponseController (flush, deadlines) working.
type RecordingWriter struct {
	http.ResponseWriter
	Rec *Record
}

func (w *RecordingWriter) WriteHeader(status int) {
	if w.Rec.Status == 0 && status >= 200 {
		w.Rec.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *RecordingWriter) Write(p []byte) (int, error) {
	if w.Rec.Status == 0 {
		w.Rec.Status = http.StatusOK
	}
	if w.Rec.FirstByte == 0 && len(p) > 0 {
		w.Rec.FirstByte = max(time.Since(w.Rec.Start), 1)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap returns the client's writer, for http.ResponseController.
func (w *RecordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type usageWantedKey struct{}

// WithUsageWanted marks a request whose token usage must be known when it ends: a filter that
// charges tokens (the auth filter, for a consumer with a tokens limit) sets it, and the proxy
// then asks the upstream of a streamed completion to report usage, which it does not by
// default.
func WithUsageWanted(ctx context.Context) context.Context {
	return context.WithValue(ctx, usageWantedKey{}, true)
}

// UsageWanted reports whether an earlier filter marked the request with WithUsageWanted.
func UsageWanted(ctx context.Context) bool {
	wanted, _ := ctx.Value(usageWantedKey{}).(bool)
	return wanted
}
