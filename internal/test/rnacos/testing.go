package rnacos

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// EnvAddr names the environment variable that points the gRPC tests at an existing Nacos 2.x or
// 3.x ("host:port" of its HTTP port; gRPC on port + 1000) instead of starting r-nacos.
const EnvAddr = "PIXIU_TEST_NACOS_GRPC_ADDR"

// startTimeout covers a cold cargo build (tens of minutes on two cores) plus readiness; the go
// test timeout usually ends a cold build first: `make registry` builds ahead of the tests.
const startTimeout = 60 * time.Minute

// ForTest returns the Nacos HTTP address ("host:port") a test should use: $PIXIU_TEST_NACOS_GRPC_ADDR
// if set, otherwise a fresh r-nacos stopped at the end of the test.
func ForTest(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return addr
	}
	return StartForTest(t, Options{}).Addr()
}

// StartForTest starts an r-nacos owned by the test and stops it at the end. Without cargo (and
// no cached binary) the test is skipped, or fails when CI=true: CI must run every test.
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := Start(ctx, opts)
	RequireStarted(t, err)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop r-nacos: %v", err)
		}
	})
	return s
}

// RequireStarted ends the test when err, returned by Start, says r-nacos is not running: without
// cargo (and no cached binary) the test is skipped naming what is missing, or fails when
// CI=true: CI must run every test. Any other error fails the test.
func RequireStarted(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoCargo) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and r-nacos cannot be built: %v", err)
		}
		t.Skipf("skipping: needs r-nacos %s, which cannot be built here: %v", Version, err)
	}
	if err != nil {
		t.Fatalf("cannot start r-nacos: %v", err)
	}
}
