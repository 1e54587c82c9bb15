package proc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCPUCountsFieldsAfterTheCommandName(t *testing.T) {
	// A command name with spaces and a ')' inside must not shift the fields.
	stat := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 8 0 123 1000000 2000 18446744073709551615"
	cpu, err := parseCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 3800*time.Millisecond, cpu) // (250 + 130) ticks of 10ms

	_, err = parseCPU("4242 no parens at all")
	assert.ErrorContains(t, err, "malformed")
	_, err = parseCPU("4242 (x) S 1 2")
	assert.ErrorContains(t, err, "fields")
}

func TestParseMemoryReadsRSSAndHighWaterMark(t *testing.T) {
	status := "Name:\tpixiu\nVmPeak:\t 900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	rss, hwm, err := parseMemory(status)
	require.NoError(t, err)
	assert.Equal(t, int64(40960*1024), rss)
	assert.Equal(t, int64(51200*1024), hwm)

	_, _, err = parseMemory("Name:\tx\n")
	assert.Error(t, err)
	_, _, err = parseMemory("VmHWM:\tlots kB\nVmRSS:\t1 kB\n")
	assert.ErrorContains(t, err, "VmHWM")
}

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, u.PeakRSS)
	assert.GreaterOrEqual(t, u.PeakRSS, u.RSS)
}

func TestListeningAddr(t *testing.T) {
	addr, ok := ListeningAddr(`{"time":"x","level":"INFO","msg":"listening","listener":"llm","address":"127.0.0.1:4321"}`)
	assert.True(t, ok)
	assert.Equal(t, "127.0.0.1:4321", addr)
	_, ok = ListeningAddr(`{"msg":"listening stopped","address":"127.0.0.1:1"}`)
	assert.False(t, ok)
	_, ok = ListeningAddr(`level=INFO msg=listening`)
	assert.False(t, ok)
}

func TestStartWaitsForReadinessAndStops(t *testing.T) {
	dir := t.TempDir()
	script := `echo starting; echo '{"msg":"listening","address":"127.0.0.1:9"}'; exec sleep 30`
	p, addr, err := Start(context.Background(), "sh", filepath.Join(dir, "sh.log"), nil, ListeningAddr, 10*time.Second, "sh", "-c", script)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9", addr)
	_, err = p.Usage()
	assert.NoError(t, err)
	require.NoError(t, p.Stop(5*time.Second))
	require.NoError(t, p.Stop(5*time.Second), "idempotent")
	log, err := os.ReadFile(p.LogPath)
	require.NoError(t, err)
	assert.Contains(t, string(log), "starting")
}

func TestStartReportsAnEarlyExit(t *testing.T) {
	_, _, err := Start(context.Background(), "false", filepath.Join(t.TempDir(), "f.log"), nil, ListeningAddr, 10*time.Second, "sh", "-c", "echo nope; exit 3")
	assert.ErrorContains(t, err, "exited before it was ready")
}

func TestFindByCwd(t *testing.T) {
	dir := t.TempDir()
	p, _, err := Start(context.Background(), "sh", filepath.Join(t.TempDir(), "sh.log"), nil, ListeningAddr, 10*time.Second,
		"sh", "-c", `cd "$0" && echo '{"msg":"listening","address":"x:1"}' && exec sleep 30`, dir)
	require.NoError(t, err)
	defer p.Stop(5 * time.Second)
	// sh execs sleep right after printing the ready line.
	var pid int
	require.Eventually(t, func() bool {
		pid, err = FindByCwd(dir, "sleep")
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, p.Pid(), pid)
	_, err = FindByCwd(dir, "no-such-binary")
	assert.ErrorContains(t, err, "no no-such-binary process")
}
