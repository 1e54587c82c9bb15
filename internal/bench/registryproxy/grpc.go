package registryproxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/pixiu-llm/gateway/internal/bench/load"
)

// GRPCProxy is a pass-through TCP proxy in front of a Nacos 2.x gRPC port. It forwards every
// byte unchanged and reads the HTTP/2 frames going by, to count what the client asks and what
// the server pushes, and to hand service and instance lists to the observer as Responses with
// the Nacos 1.x paths (Path says which kind of list it is).
//
// Counted, by key: every request message the client sends ("gRPC <type>": unary calls, plus
// the stream's setup), every request message the server sends on the client's stream ("gRPC
// push <type>") and every HTTP/2 PING that is not an acknowledgement ("HTTP/2 PING"). Replies
// (responses, and the client's acknowledgements of pushes) are not counted.
type GRPCProxy struct {
	upstream string
	observe  func(Response)
	ln       net.Listener
	conns    sync.WaitGroup
	// closing cancels dials to the upstream under way when Close is called.
	closing context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	open    map[net.Conn]struct{}
	closed  bool
	counts  map[string]int64
	latency map[string]*load.Histogram // registry response time by request type
}

// StartGRPC listens on a free loopback port and forwards every connection to upstream.
func StartGRPC(upstream string, observe func(Response)) (*GRPCProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("grpc registry proxy: %w", err)
	}
	return ServeGRPC(ln, upstream, observe), nil
}

// ServeGRPC is StartGRPC on a listener of the caller's choosing; the proxy closes it. observe,
// if not nil, is called for every list the server sends, after it was forwarded, on the
// connection's goroutine; it must be quick and safe for concurrent use.
func ServeGRPC(ln net.Listener, upstream string, observe func(Response)) *GRPCProxy {
	p := &GRPCProxy{upstream: upstream, observe: observe, ln: ln, open: map[net.Conn]struct{}{},
		counts: map[string]int64{}, latency: map[string]*load.Histogram{}}
	p.closing, p.cancel = context.WithCancel(context.Background())
	p.conns.Go(p.accept)
	return p
}

// Addr is the proxy's host:port.
func (p *GRPCProxy) Addr() string { return p.ln.Addr().String() }

// Counts returns what was counted so far, by key (see GRPCProxy).
func (p *GRPCProxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Latencies returns, by "gRPC <request type>", how long the server took to answer (a copy).
func (p *GRPCProxy) Latencies() map[string]*load.Histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	return copyHistograms(p.latency)
}

// Close stops accepting, cuts every open connection and waits for the proxy's goroutines.
func (p *GRPCProxy) Close() error {
	err := p.ln.Close()
	p.cancel()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.conns.Wait()
	return err
}

func (p *GRPCProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Go(func() { p.relay(c) })
	}
}

// track registers c to be cut by Close; false when the proxy is already closed.
func (p *GRPCProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *GRPCProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	_ = c.Close()
}

// relay connects client to the upstream and copies both ways until either side ends.
func (p *GRPCProxy) relay(client net.Conn) {
	defer p.untrack(client)
	if !p.track(client) {
		return
	}
	ctx, cancel := context.WithTimeout(p.closing, 10*time.Second)
	defer cancel()
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.upstream)
	if err != nil {
		return
	}
	defer p.untrack(server)
	if !p.track(server) {
		return
	}
	c := &grpcConn{p: p, pending: map[uint32]pendingCall{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		c.copyFrames(server, client, true)
		_ = server.Close() // ends the other direction
	})
	c.copyFrames(client, server, false)
	_ = client.Close()
	wg.Wait()
}

// grpcConn is the state of one proxied connection shared by its two directions.
type grpcConn struct {
	p       *GRPCProxy
	mu      sync.Mutex
	pending map[uint32]pendingCall // client requests awaiting their response, by stream
}

type pendingCall struct {
	kind string
	sent time.Time
}

// clientPreface opens every HTTP/2 connection, before the client's first frame.
const clientPreface = http2.ClientPreface

// copyFrames forwards src to dst one HTTP/2 frame at a time, reading each frame before
// forwarding it and accounting for its messages right after. Bytes it cannot parse as HTTP/2
// are still forwarded, uncounted.
func (c *grpcConn) copyFrames(dst io.Writer, src io.Reader, fromClient bool) {
	rec := &recordingReader{r: bufio.NewReaderSize(src, 64<<10)}
	if fromClient {
		if _, err := io.ReadFull(rec, make([]byte, len(clientPreface))); err != nil || flush(dst, rec) != nil {
			return
		}
	}
	fr := http2.NewFramer(nil, rec)
	fr.SetMaxReadFrameSize(1<<24 - 1)
	streams := map[uint32][]byte{} // partial gRPC messages by stream
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if flush(dst, rec) == nil && isProtocolError(err) {
				c.p.count("unparsed HTTP/2 connection")
				_, _ = io.Copy(dst, rec.r)
			}
			return
		}
		msgs := c.frameMessages(f, streams)
		if flush(dst, rec) != nil {
			return
		}
		at := time.Now()
		for _, m := range msgs {
			c.account(m, fromClient, at)
		}
	}
}

// isProtocolError tells frames the Framer refused from the connection ending.
func isProtocolError(err error) bool {
	var connErr http2.ConnectionError
	var streamErr http2.StreamError
	return errors.As(err, &connErr) || errors.As(err, &streamErr) || errors.Is(err, http2.ErrFrameTooLarge)
}

// flush writes what rec read since the last flush to dst.
func flush(dst io.Writer, rec *recordingReader) error {
	_, err := dst.Write(rec.buf)
	rec.buf = rec.buf[:0]
	return err
}

// recordingReader keeps the bytes read through it until flushed: the raw frame just parsed.
type recordingReader struct {
	r   *bufio.Reader
	buf []byte
}

func (r *recordingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.buf = append(r.buf, b[:n]...)
	return n, err
}

// frameMessages returns the gRPC messages that f completes, keeping partial ones in streams.
func (c *grpcConn) frameMessages(f http2.Frame, streams map[uint32][]byte) []message {
	id := f.Header().StreamID
	switch f := f.(type) {
	case *http2.DataFrame:
		buf := append(streams[id], f.Data()...)
		var out []message
		for len(buf) >= 5 {
			n := int(binary.BigEndian.Uint32(buf[1:5]))
			if len(buf) < 5+n {
				break
			}
			m := decodePayload(buf[5 : 5+n])
			m.stream = id
			if buf[0] != 0 {
				m.kind = "compressed message"
			}
			out = append(out, m)
			buf = buf[5+n:]
		}
		if len(buf) == 0 || f.StreamEnded() {
			delete(streams, id)
		} else {
			streams[id] = buf
		}
		return out
	case *http2.HeadersFrame:
		if f.StreamEnded() {
			delete(streams, id)
		}
	case *http2.RSTStreamFrame:
		delete(streams, id)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.p.count("HTTP/2 PING")
		}
	}
	return nil
}

// account counts one message that was just forwarded at at, times the server's answers and
// hands lists to the observer.
func (c *grpcConn) account(m message, fromClient bool, at time.Time) {
	switch {
	case fromClient && m.isRequest():
		c.p.count("gRPC " + m.kind)
		c.mu.Lock()
		c.pending[m.stream] = pendingCall{kind: m.kind, sent: at}
		c.mu.Unlock()
	case fromClient: // an acknowledgement of a push
	case m.isRequest():
		c.p.count("gRPC push " + m.kind)
		c.p.observeMessage(m, at)
	default:
		c.mu.Lock()
		call, ok := c.pending[m.stream]
		delete(c.pending, m.stream)
		c.mu.Unlock()
		if ok {
			c.p.recordLatency("gRPC "+call.kind, at.Sub(call.sent))
		}
		c.p.observeMessage(m, at)
	}
}

func (p *GRPCProxy) count(key string) {
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
}

func (p *GRPCProxy) recordLatency(key string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.latency[key]
	if h == nil {
		h = &load.Histogram{}
		p.latency[key] = h
	}
	h.Record(d)
}

func (p *GRPCProxy) observeMessage(m message, at time.Time) {
	if p.observe == nil {
		return
	}
	if r, ok := m.list(); ok {
		r.At = at
		p.observe(r)
	}
}
