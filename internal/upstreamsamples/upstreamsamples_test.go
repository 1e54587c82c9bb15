package upstreamsamples

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The samples are found in shared/upstream-samples above the repository root's parent, however
// deep the repository is cloned, from any package directory inside it.
func TestFindWalksUpFromTheRepositoryRootsParent(t *testing.T) {
	t.Setenv(EnvDir, "")
	top := t.TempDir()
	samples := filepath.Join(top, relDir)
	repo := filepath.Join(top, "work", "clones", "gateway")
	pkg := filepath.Join(repo, "pkg", "test", "compat")
	require.NoError(t, os.MkdirAll(samples, 0o755))
	require.NoError(t, os.MkdirAll(pkg, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module example\n"), 0o644))
	t.Chdir(pkg)
	got, err := find()
	require.NoError(t, err)
	assert.Equal(t, samples, got)
}

func TestFindFailsWithoutSamples(t *testing.T) {
	t.Setenv(EnvDir, "")
	repo := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module example\n"), 0o644))
	t.Chdir(repo)
	_, err := find()
	assert.ErrorContains(t, err, "no shared/upstream-samples above")
}

func TestEnvDirOverridesTheLookup(t *testing.T) {
	t.Setenv(EnvDir, "/somewhere/else")
	got, err := find()
	require.NoError(t, err)
	assert.Equal(t, "/somewhere/else", got)
}
