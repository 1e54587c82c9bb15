package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// headerAttempts tells the client how many upstream attempts its request took.
const headerAttempts = "X-Pixiu-Attempts"

// errStreamIdle ends an answer whose upstream sent nothing for cfg.StreamIdleTimeout.
var errStreamIdle = errors.New("the upstream sent nothing for the stream idle timeout")

// CutStreamIdle is the Record's Cut, and the metric's reason, of an answer ended because its
// upstream went silent.
const CutStreamIdle = "stream_idle"

// relay passes an upstream answer to the client: headers, then the body as it arrives. Streams
// (text/event-stream, or a body of unknown length) are flushed after every write, so each event
// reaches the client when the upstream sends it. Nothing is retried from here on. cancel ends
// the attempt's context (ctx), which a silent upstream's idle timer does.
func (x *exchange) relay(ctx context.Context, cancel context.CancelCauseFunc, m *cluster.Member, resp *http.Response, start time.Time) attemptResult {
	defer resp.Body.Close()
	cl, id := x.cluster.Name, m.ID()
	eventStream := isEventStream(resp.Header)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	var usage *usageScanner
	if ok && (eventStream || isJSON(resp.Header)) && resp.Header.Get("Content-Encoding") == "" {
		usage = new(usageScanner)
	}
	x.writeHead(m, resp, eventStream || resp.ContentLength < 0)

	firstByte := ok
	out := x.copyBody(resp.Body, cancel, eventStream || resp.ContentLength < 0, func(p []byte) {
		if firstByte {
			x.p.metrics.FirstByte(cl, id, time.Since(start))
			firstByte = false
		}
		if usage != nil {
			usage.feed(p)
		}
	})
	if errors.Is(out.readErr, io.EOF) {
		out.readErr = nil
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
	if out.writeErr != nil || x.r.Context().Err() != nil {
		x.p.metrics.Request(cl, id, statusClientClosed)
		return attemptResult{outcome: served}
	}
	x.p.metrics.Request(cl, id, resp.StatusCode)
	if errors.Is(context.Cause(ctx), errStreamIdle) {
		x.cutIdle(m, eventStream, out.tail)
	}
	if out.readErr != nil {
		x.p.logger.Warn("upstream response broke off", "cluster", cl, "endpoint", id, "error", out.readErr)
		// Close the client connection without finishing the body, so the client sees a
		// truncated answer rather than a complete one (as httputil.ReverseProxy does).
		panic(http.ErrAbortHandler)
	}
	return attemptResult{outcome: served}
}

// writeHead sends the upstream's status and headers, with the attempt count. An endpoint that
// answers (anything but a retryable status) is healthy again: its cooldown ends.
func (x *exchange) writeHead(m *cluster.Member, resp *http.Response, stream bool) {
	if !retryableStatus(resp.StatusCode) {
		m.Health.Recovered(time.Now())
	}
	x.rec.Endpoint = m.ID()
	x.extendWriteDeadline()
	h := x.w.Header()
	copyResponseHeader(h, resp.Header)
	h[headerAttempts] = []string{strconv.Itoa(x.rec.Attempts)}
	x.w.WriteHeader(resp.StatusCode)
	if stream {
		_ = x.rc.Flush()
	}
}

// copied is how a body copy ended: the read and write errors, and the last two bytes written.
type copied struct {
	readErr, writeErr error
	tail              [2]byte
}

// copyBody passes src to the client as it arrives, handing every chunk to seen first; streams
// are flushed after each write. Each read may wait cfg.StreamIdleTimeout for the upstream, then
// cancel ends the attempt with errStreamIdle; time spent writing to the client does not count.
func (x *exchange) copyBody(src io.Reader, cancel context.CancelCauseFunc, stream bool, seen func([]byte)) copied {
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	var idle *time.Timer
	if d := x.p.cfg.StreamIdleTimeout; d > 0 {
		idle = time.AfterFunc(d, func() { cancel(errStreamIdle) })
		defer idle.Stop()
	}
	var out copied
	for out.readErr == nil && out.writeErr == nil {
		if idle != nil {
			idle.Reset(x.p.cfg.StreamIdleTimeout)
		}
		var n int
		n, out.readErr = src.Read(buf)
		if idle != nil {
			idle.Stop()
		}
		if n == 0 {
			continue
		}
		seen(buf[:n])
		if stream {
			x.extendWriteDeadline()
		}
		if _, out.writeErr = x.w.Write(buf[:n]); out.writeErr == nil && stream {
			if err := x.rc.Flush(); !errors.Is(err, http.ErrNotSupported) {
				out.writeErr = err // a writer that cannot flush still gets the bytes
			}
		}
		out.tail = lastTwo(out.tail, buf[:n])
	}
	return out
}

func lastTwo(tail [2]byte, p []byte) [2]byte {
	if len(p) >= 2 {
		return [2]byte{p[len(p)-2], p[len(p)-1]}
	}
	return [2]byte{tail[1], p[0]}
}

// cutIdle ends an answer whose upstream went silent: an event stream gets a last event, an
// OpenAI-shaped error, after the events already passed on; then the connection is closed, so
// the client cannot take the answer for complete. It does not return.
func (x *exchange) cutIdle(m *cluster.Member, eventStream bool, tail [2]byte) {
	d := x.p.cfg.StreamIdleTimeout
	x.rec.Cut = CutStreamIdle
	x.p.metrics.StreamCut(x.cluster.Name, m.ID(), CutStreamIdle)
	x.warn("stream cut: the upstream went silent", m.ID(), "idle", d.String())
	if eventStream {
		var event strings.Builder
		switch {
		case tail[1] != '\n':
			event.WriteString("\n\n") // end the upstream's unfinished event first
		case tail[0] != '\n':
			event.WriteString("\n")
		}
		event.Write(openaierror.Event(openaierror.TypeServer, "stream_idle_timeout",
			fmt.Sprintf("the upstream sent nothing for %s; the stream was ended", d)))
		x.extendWriteDeadline()
		if _, err := io.WriteString(x.w, event.String()); err == nil {
			_ = x.rc.Flush()
		}
	}
	panic(http.ErrAbortHandler)
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
