// Package upstreamsamples finds upstream Pixiu's published sample configs for compatibility
// tests. They are not part of this repository (they are upstream's, under upstream's license);
// they live in a directory shared/upstream-samples next to the repository or above it, which
// the lookup finds by walking up from the repository root's parent. EnvDir overrides it.
package upstreamsamples

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Sample files, as named in the samples directory.
const (
	BestPractise = "llm_bestpractise_pixiu_conf.yaml"
	Nacos        = "llm_nacos_pixiu_conf.yaml"
	KVCacheMock  = "ai_kvcache_mock_pixiu_conf.yaml"
)

// EnvDir names an environment variable holding the samples directory, to point tests at it
// explicitly.
const EnvDir = "PIXIU_UPSTREAM_SAMPLES"

// relDir is what the lookup looks for in the repository root's parent and the directories above.
const relDir = "shared/upstream-samples"

// Path returns the path of a sample file. When the samples are not found the test is skipped,
// or, under CI=true, fails: CI must run the compatibility tests.
func Path(t testing.TB, name string) string {
	t.Helper()
	dir, err := find()
	if err == nil {
		p := filepath.Join(dir, name)
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("upstream Pixiu's sample configs are not available (%v); put them in a %s directory next to the repository or above it, or set %s", err, relDir, EnvDir)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func find() (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		return dir, nil
	}
	root, err := repositoryRoot()
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, relDir)
		if fi, err := os.Stat(candidate); err == nil && fi.IsDir() {
			return candidate, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("no %s above %s", relDir, root)
		}
	}
}

// repositoryRoot walks up from the working directory (a test runs in its package's directory)
// to the directory holding go.mod.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = filepath.Dir(dir)
	}
}
