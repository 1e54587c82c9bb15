package devserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pixiu-llm/gateway/internal/childproc"
)

// Broken marks a readiness error that waiting will not cure: the server is broken. WaitReady
// returns it at once.
func Broken(err error) error { return brokenError{err} }

type brokenError struct{ error }

func (e brokenError) Unwrap() error { return e.error }

// WaitReady calls check every 100ms until it returns nil. It fails when check reports the server
// Broken, or when the process exits or ctx ends first, with check's last error.
func WaitReady(ctx context.Context, p *childproc.Process, check func(context.Context) error) error {
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if errors.As(err, new(brokenError)) {
			return err
		}
		select {
		case <-p.Done():
			return fmt.Errorf("process exited (%v); last check: %w", p.Err(), err)
		case <-ctx.Done():
			return fmt.Errorf("%w; last check: %w", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readinessClient never reuses connections, so polling leaves nothing open behind.
var readinessClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// GetOK is a readiness check: GET url answers 200.
func GetOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := readinessClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
