package proxy

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay passes an upstream answer to the client: headers, then the body as it arrives. Streams
// (text/event-stream, or a body of unknown length) are flushed after every write, so each event
// reaches the client when the upstream sends it. Nothing is retried from here on.
func (x *exchange) relay(m *cluster.Member, resp *http.Response, start time.Time) attemptResult {
	defer resp.Body.Close()
	cl, id := x.cluster.Name, m.ID()
	eventStream := isEventStream(resp.Header)
	stream := eventStream || resp.ContentLength < 0
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300

	var usage *usageScanner
	if ok && (eventStream || isJSON(resp.Header)) && resp.Header.Get("Content-Encoding") == "" {
		usage = new(usageScanner)
	}

	x.rec.Endpoint = id
	x.extendWriteDeadline()
	copyResponseHeader(x.w.Header(), resp.Header)
	x.w.WriteHeader(resp.StatusCode)
	if stream {
		_ = x.rc.Flush()
	}

	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	firstByte := true
	var readErr, writeErr error
	for readErr == nil && writeErr == nil {
		var n int
		n, readErr = resp.Body.Read(buf)
		if n == 0 {
			continue
		}
		if firstByte && ok {
			x.p.metrics.FirstByte(cl, id, time.Since(start))
		}
		firstByte = false
		if usage != nil {
			usage.feed(buf[:n])
		}
		if stream {
			x.extendWriteDeadline()
		}
		if _, writeErr = x.w.Write(buf[:n]); writeErr == nil && stream {
			if err := x.rc.Flush(); !errors.Is(err, http.ErrNotSupported) {
				writeErr = err // a writer that cannot flush still gets the bytes
			}
		}
	}
	if errors.Is(readErr, io.EOF) {
		readErr = nil
		for k, vv := range resp.Trailer {
			x.w.Header()[http.TrailerPrefix+k] = vv
		}
	}

	x.p.metrics.UpstreamAttempt(cl, id, metrics.StatusClass(resp.StatusCode), time.Since(start))
	if usage != nil && usage.found {
		x.rec.Model = usage.modelName()
		x.rec.Usage = filter.Usage{Prompt: usage.prompt, Completion: usage.completion, Total: usage.total, Reported: true}
		x.p.metrics.Tokens(cl, x.rec.Model, usage.prompt, usage.completion, usage.total)
	}
	if writeErr != nil || x.r.Context().Err() != nil {
		x.p.metrics.Request(cl, id, statusClientClosed)
		return attemptResult{outcome: served}
	}
	x.p.metrics.Request(cl, id, resp.StatusCode)
	if readErr != nil {
		x.p.logger.Warn("upstream response broke off", "cluster", cl, "endpoint", id, "error", readErr)
		// Close the client connection without finishing the body, so the client sees a
		// truncated answer rather than a complete one (as httputil.ReverseProxy does).
		panic(http.ErrAbortHandler)
	}
	return attemptResult{outcome: served}
}

// extendWriteDeadline gives the next write to the client cfg.ClientWriteTimeout. The listener's
// write_timeout counts from the start of the request; past the upstream's headers it would cut
// long streams (and answers that took long to start), so it is replaced write by write.
func (x *exchange) extendWriteDeadline() {
	_ = x.rc.SetWriteDeadline(time.Now().Add(x.p.cfg.ClientWriteTimeout))
}

func isEventStream(h http.Header) bool {
	return hasMediaType(h.Get("Content-Type"), "text/event-stream")
}

func isJSON(h http.Header) bool {
	return hasMediaType(h.Get("Content-Type"), "application/json")
}

// hasMediaType compares the media type of a Content-Type value, ignoring case and parameters.
func hasMediaType(contentType, want string) bool {
	if len(contentType) < len(want) || !strings.EqualFold(contentType[:len(want)], want) {
		return false
	}
	rest := contentType[len(want):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}
