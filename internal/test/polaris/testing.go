package polaris

import (
	"context"
	"os"
	"testing"
	"time"
)

// EnvAddr names the environment variable that points the suite at an
// existing Nacos (e.g. a real Java Nacos) instead of starting Polaris.
const EnvAddr = "PIXIU_TEST_NACOS_ADDR"

// startTimeout covers a cold build (about a minute, longer on a slow proxy)
// plus readiness.
const startTimeout = 8 * time.Minute

// ForTest returns the Nacos address ("host:port") a test should use: $PIXIU_TEST_NACOS_ADDR
// if set, otherwise a fresh Polaris server stopped at the end of the test.
func ForTest(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		return addr
	}
	return start(t).Addr()
}

// StartForTest starts a Polaris server owned by the test, for tests that need
// Kill or Restart. It skips the test when $PIXIU_TEST_NACOS_ADDR is set,
// because an external server cannot be killed.
func StartForTest(t testing.TB) *Server {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		t.Skipf("%s=%s: this test kills and restarts the registry, which needs a local Polaris", EnvAddr, addr)
	}
	return start(t)
}

func start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// The data dir is thrown away, so skip Polaris' 5s graceful shutdown.
	s, err := Start(ctx, Options{StopGrace: -1})
	if err != nil {
		t.Fatalf("cannot start the Polaris Nacos registry (set %s to use an existing Nacos instead): %v", EnvAddr, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop polaris: %v", err)
		}
	})
	return s
}
