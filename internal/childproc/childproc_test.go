package childproc

import (
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartHandsOverEveryLineBeforeDone(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	p, err := Start("sh", exec.Command("sh", "-c", "echo one; echo two >&2; exit 3"), func(line string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, line)
	})
	require.NoError(t, err)
	<-p.Done()
	mu.Lock()
	assert.ElementsMatch(t, []string{"one", "two"}, lines)
	mu.Unlock()
	assert.Equal(t, 3, p.ExitCode())
	assert.Error(t, p.Err())
}

func TestStopEndsTheProcessGroup(t *testing.T) {
	p, err := Start("sh", exec.Command("sh", "-c", "sleep 30 & sleep 30"), nil)
	require.NoError(t, err)
	assert.False(t, p.Exited())
	require.NoError(t, p.Stop(5*time.Second))
	require.NoError(t, p.Stop(5*time.Second), "idempotent")
	assert.True(t, p.Exited())
	assert.Equal(t, -1, p.ExitCode(), "ended by a signal")
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p, err := Start("sh", exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`), func(string) {})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // let the trap be installed
	assert.ErrorContains(t, p.Stop(100*time.Millisecond), "killed")
	assert.True(t, p.Exited())
}

func TestStartReportsAMissingBinary(t *testing.T) {
	_, err := Start("nothing", exec.Command("/no/such/binary"), func(string) {})
	assert.ErrorContains(t, err, "start nothing")
}
