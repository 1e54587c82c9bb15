package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransportKindNamesNoAddress(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, kindRefused},
		{&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, kindReset},
		{&net.DNSError{Err: "no such host", Name: "api.example", Server: "10.0.0.53:53", IsNotFound: true}, kindDNS},
		{fmt.Errorf("wrapped: %w", io.EOF), kindClosed},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, kindTLS},
		{&net.OpError{Op: "dial", Err: timeoutError{}}, kindTimeout},
		{errors.New("net/http: server response headers exceeded 262144 bytes; aborted"), kindHeaderSize},
		{errors.New("something else"), kindOther},
	} {
		assert.Equal(t, tc.want, transportKind(tc.err), "%v", tc.err)
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// The kinds come from what the transport really returns, not only from hand-made errors.
func TestTransportKindOfRealFailures(t *testing.T) {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	roundTrip := func(url string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	assert.Equal(t, kindRefused, transportKind(roundTrip("http://"+closed)))

	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	assert.Equal(t, kindTLS, transportKind(roundTrip("https://"+plain.Listener.Addr().String())))

	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsServer.Close)
	assert.Equal(t, kindTLS, transportKind(roundTrip(tlsServer.URL)), "an unknown certificate authority")
}
