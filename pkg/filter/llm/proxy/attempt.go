package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/cluster"
	"github.com/pixiu-llm/gateway/pkg/common/extension/filter"
	"github.com/pixiu-llm/gateway/pkg/common/openaierror"
	"github.com/pixiu-llm/gateway/pkg/metrics"
)

// errHeaderTimeout cancels an attempt whose response headers did not arrive within the timeout.
var errHeaderTimeout = errors.New("timeout awaiting response headers")

// maxKeptBody bounds how much of a failed upstream answer is kept to show the client.
const maxKeptBody = 64 << 10

// exchange is one client request on its way through the endpoints of a cluster snapshot.
type exchange struct {
	p       *Proxy
	w       http.ResponseWriter
	rc      http.ResponseController
	r       *http.Request
	rec     *filter.Record
	cluster *cluster.Cluster
	// next are the clusters a model-routed request goes on to, in order, once it went through
	// every endpoint of cluster; see nextMember.
	next    []*cluster.Cluster
	body    []byte
	getBody func() (io.ReadCloser, error)

	// left is what remains of the request's attempt budget (cfg.MaxAttempts).
	left int
	// kept is the last retryable answer an upstream gave; the client gets it if no later
	// attempt gets an answer at all.
	kept *keptResponse
	// failures describe each endpoint that used up its attempts, for the error message.
	failures    []failure
	lastTimeout bool
	lastMember  *cluster.Member
}

type keptResponse struct {
	member *cluster.Member
	status int
	header http.Header
	body   []byte
}

type outcome int

const (
	// served: the client got an answer from an upstream.
	served outcome = iota
	// clientGone: the client went away; nothing more is sent or tried.
	clientGone
	// retryable: this attempt failed in a way another attempt may not.
	retryable
	// exhausted: an endpoint used up its attempts.
	exhausted
)

type attemptResult struct {
	outcome outcome
	// kind is what went wrong, for the client (see failure); err is the transport's error.
	kind       string
	err        error
	retryAfter time.Duration
}

// run tries the picked endpoint, then its fallbacks, and answers the client.
func (x *exchange) run() {
	m := x.cluster.PickFor(x.r, time.Now())
	var rest []*cluster.Member
	candidates := x.candidates()
	for tried := 1; ; tried++ {
		waiting := 0
		if m.Fallback() {
			waiting = candidates - tried
		}
		switch x.tryEndpoint(m, waiting) {
		case served:
			return
		case clientGone:
			x.p.metrics.Request(x.cluster.Name, m.ID(), statusClientClosed)
			return
		}
		x.coolDown(m)
		if waiting == 0 || x.left == 0 {
			break
		}
		from := m
		x.p.metrics.Fallback(x.cluster.Name, m.ID())
		m, rest = x.nextMember(m, rest, tried == 1)
		x.warnFallback(from, m)
	}
	x.fail()
}

// candidates counts the endpoints the request may try: those of its cluster and of the
// clusters after it.
func (x *exchange) candidates() int {
	n := len(x.cluster.Members)
	for _, c := range x.next {
		n += len(c.Members)
	}
	return n
}

// nextMember returns the endpoint to fall back to after m, and the ones after that. The order
// is the cluster's after the first pick, wrapping around, every endpoint once; then the next
// cluster's pick and the rest of that cluster. first says that m was the request's first pick.
func (x *exchange) nextMember(m *cluster.Member, rest []*cluster.Member, first bool) (*cluster.Member, []*cluster.Member) {
	if first {
		rest = x.cluster.After(m, time.Now())
	}
	if len(rest) > 0 {
		return rest[0], rest[1:]
	}
	x.cluster, x.next = x.next[0], x.next[1:]
	x.rec.Cluster = x.cluster.Name
	m = x.cluster.Pick(time.Now())
	return m, x.cluster.After(m, time.Now())
}

// tryEndpoint makes the attempts on m its retry policy allows within the request's budget.
// waiting is how many endpoints the request may still fall back to after m.
func (x *exchange) tryEndpoint(m *cluster.Member, waiting int) outcome {
	x.lastMember = m
	x.rec.Tried = append(x.rec.Tried, m.ID())
	t := m.Target.WithScheme(x.p.cfg.Scheme)
	policyAttempts, policy := 1, m.Retry
	if policy != nil {
		policyAttempts = max(policy.Attempts(), 1)
	}
	attempts := attemptsFor(policyAttempts, x.left, waiting)
	for n := 1; ; n++ {
		last := n == attempts
		// The request's last attempt passes any answer, even a retryable one, on. (x.left is 1
		// only on the endpoint's last attempt: attemptsFor stays within the budget.)
		res := x.attempt(m, t, n, last && (waiting == 0 || x.left == 1))
		if res.outcome != retryable {
			return res.outcome
		}
		wait := time.Duration(0)
		if !last {
			wait = max(policy.Backoff(n), min(res.retryAfter, policy.MaxInterval()))
		}
		if last || !x.fitsDeadline(wait) {
			x.failures = append(x.failures, failure{endpoint: m.ID(), kind: res.kind, attempts: n, err: res.err})
			return exhausted
		}
		x.p.metrics.Retry(x.cluster.Name, m.ID())
		if !sleep(x.r.Context(), wait) {
			return clientGone
		}
	}
}

// fitsDeadline reports whether a wait before the next attempt ends before the request's
// context does; a wait that could not be followed by an attempt is not started.
func (x *exchange) fitsDeadline(wait time.Duration) bool {
	deadline, ok := x.r.Context().Deadline()
	return !ok || time.Until(deadline) > wait
}

// attempt sends the request to m once. final says that no attempt follows, so any answer,
// even a retryable one, goes to the client.
func (x *exchange) attempt(m *cluster.Member, t target, n int, final bool) attemptResult {
	x.rec.Attempts++
	x.left--
	ctx, cancel := context.WithCancelCause(x.r.Context())
	defer cancel(nil)
	// The timeout covers connecting, sending and waiting for the headers; it is stopped before
	// the body is relayed, so it never cuts a stream.
	timer := time.AfterFunc(x.p.cfg.Timeout, func() { cancel(errHeaderTimeout) })
	start := time.Now()
	resp, err := x.p.transport.RoundTrip(x.outgoing(ctx, m, t))
	if err != nil {
		timer.Stop()
		return x.transportFailure(ctx, m, n, start, err)
	}
	if retryableStatus(resp.StatusCode) && !final {
		// Reading the answer (within the timeout) also frees the connection for reuse.
		x.keep(m, resp)
		timer.Stop()
		x.p.metrics.UpstreamAttempt(x.cluster.Name, m.ID(), metrics.StatusClass(resp.StatusCode), time.Since(start))
		x.lastTimeout = false
		x.debug("upstream attempt failed", m, n, "status", resp.StatusCode)
		return attemptResult{outcome: retryable, kind: statusKind(resp.StatusCode), retryAfter: retryAfter(resp)}
	}
	if !timer.Stop() {
		// The timeout fired just as the headers arrived and has cancelled the body.
		resp.Body.Close()
		return x.transportFailure(ctx, m, n, start, errHeaderTimeout)
	}
	if retryableStatus(resp.StatusCode) {
		// The request's last attempt failed too: the client gets this answer as it is.
		x.failures = append(x.failures, failure{endpoint: m.ID(), kind: statusKind(resp.StatusCode), attempts: n})
		x.coolDown(m)
		x.warnUnanswered()
	}
	return x.relay(ctx, cancel, m, resp, start)
}

// outgoing builds the request of one attempt. Everything that differs between attempts is
// fresh: URL, header map (the client's map is never shared), body reader.
func (x *exchange) outgoing(ctx context.Context, m *cluster.Member, t target) *http.Request {
	in := x.r
	out := in.WithContext(ctx)
	out.URL = upstreamURL(t, in.URL)
	out.Host = "" // the Host header is the upstream's
	out.RequestURI = ""
	out.Close = false
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Header = forwardHeader(in.Header, 1)
	// The body was read in full, and the client was sent its 100 Continue by then.
	delete(out.Header, "Expect")
	if key := m.NextKey(); key != "" {
		out.Header["Authorization"] = []string{"Bearer " + key}
	}
	out.ContentLength = int64(len(x.body))
	out.Body, out.GetBody = nil, nil
	if len(x.body) > 0 {
		if x.getBody == nil {
			x.getBody = func() (io.ReadCloser, error) { return newReplayBody(x.body), nil }
		}
		out.Body, out.GetBody = newReplayBody(x.body), x.getBody
	}
	return out
}

// replayBody is the request body of one attempt, read from the bytes received from the client.
type replayBody struct{ bytes.Reader }

func newReplayBody(b []byte) *replayBody {
	rb := new(replayBody)
	rb.Reset(b)
	return rb
}

func (*replayBody) Close() error { return nil }

func (x *exchange) transportFailure(ctx context.Context, m *cluster.Member, n int, start time.Time, err error) attemptResult {
	if x.r.Context().Err() != nil {
		x.p.metrics.UpstreamAttempt(x.cluster.Name, m.ID(), "canceled", time.Since(start))
		return attemptResult{outcome: clientGone}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // the URL is in the logs' endpoint id already
	}
	kind := withSchemeHint(transportKind(err), err, m, x.p.cfg.Scheme)
	if errors.Is(context.Cause(ctx), errHeaderTimeout) || errors.Is(err, errHeaderTimeout) {
		kind = kindTimeout
	}
	outcome := "error"
	x.lastTimeout = kind == kindTimeout
	if x.lastTimeout {
		outcome = "timeout"
		kind = fmt.Sprintf("%s: no response headers within %s", kindTimeout, x.p.cfg.Timeout)
	}
	x.p.metrics.UpstreamAttempt(x.cluster.Name, m.ID(), outcome, time.Since(start))
	x.debug("upstream attempt failed", m, n, "error", err)
	return attemptResult{outcome: retryable, kind: kind, err: err}
}

// keep reads a retryable answer, up to maxKeptBody, to show the client if nothing better comes.
func (x *exchange) keep(m *cluster.Member, resp *http.Response) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxKeptBody))
	resp.Body.Close()
	x.kept = &keptResponse{member: m, status: resp.StatusCode, header: resp.Header, body: body}
}

// coolDown takes m out of first picks for its health_check_interval after it used up its attempts.
func (x *exchange) coolDown(m *cluster.Member) {
	d := m.Cooldown()
	if d <= 0 {
		return
	}
	m.Health.CoolDownUntil(time.Now().Add(d))
	x.p.metrics.Cooldown(x.cluster.Name, m.ID())
	x.warn("endpoint cooling down after failing", m.ID(), "for", d.String())
}

// fail answers the client after every endpoint tried failed: with the last upstream answer if
// there was one, else with an OpenAI-shaped error naming the endpoints and how they failed.
func (x *exchange) fail() {
	x.extendWriteDeadline()
	x.warnUnanswered()
	x.w.Header()[headerAttempts] = []string{strconv.Itoa(x.rec.Attempts)}
	if k := x.kept; k != nil {
		h := x.w.Header()
		copyResponseHeader(h, k.header)
		h["Content-Length"] = []string{strconv.Itoa(len(k.body))}
		x.rec.Endpoint = k.member.ID()
		x.w.WriteHeader(k.status)
		_, _ = x.w.Write(k.body)
		x.p.metrics.Request(x.cluster.Name, k.member.ID(), k.status)
		return
	}
	status, code := http.StatusBadGateway, "upstream_unreachable"
	if x.lastTimeout {
		status, code = http.StatusGatewayTimeout, "upstream_timeout"
	}
	openaierror.Write(x.w, status, openaierror.TypeServer, code, x.failureMessage())
	x.p.metrics.Request(x.cluster.Name, x.lastMember.ID(), status)
}

// failureMessage tells the client which endpoints were tried, how each failed and how many
// attempts the request made: endpoint ids and kinds of failure only.
func (x *exchange) failureMessage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %q: no endpoint answered after %s", x.cluster.Name, plural(x.rec.Attempts, "attempt"))
	if x.left == 0 {
		fmt.Fprintf(&b, " (maxAttempts %d reached)", x.p.cfg.MaxAttempts)
	}
	for i, f := range x.failures {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		b.WriteString(f.String())
	}
	return b.String()
}

func (x *exchange) debug(msg string, m *cluster.Member, n int, key string, value any) {
	if x.p.logger.Enabled(x.r.Context(), slog.LevelDebug) {
		x.p.logger.Debug(msg, "cluster", x.cluster.Name, "endpoint", m.ID(), "attempt", n, key, value)
	}
}

// retryableStatus: overload and upstream failures; every other status is the answer.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter is the wait a 429 or 503 asks for, in seconds or as an HTTP date; 0 when none.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

// sleep waits d and reports false, at once, if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
