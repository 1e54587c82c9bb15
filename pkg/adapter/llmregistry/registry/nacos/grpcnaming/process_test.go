package grpcnaming

// Tests of what the client holds in this process. Not parallel: they look at the whole process.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pixiu-llm/gateway/internal/test/rnacos"
)

// The client opens no UDP socket and no TCP listener: watching and registering work over
// connections it makes itself.
func TestNoListeningSocket(t *testing.T) {
	skipShort(t)
	addr := rnacos.ForTest(t)
	watch, provider := connect(t, addr, Config{}), connect(t, addr, Config{})
	service, group := uniqueName("sock"), "pixiu-test"
	w := newWatcher()
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	require.NoError(t, provider.Register(instance(service, group, 18091, map[string]string{"llm-meta.api_key": "sk-x"})))
	w.waitFor(t, "the instance", hasPorts(18091))

	mine := socketInodes(t)
	require.NotEmpty(t, mine, "the clients' gRPC connections are sockets of this process")
	for _, table := range []string{"udp", "udp6", "udplite", "udplite6"} {
		for _, e := range socketTable(t, table) {
			assert.False(t, mine[e.inode], "%s socket %s held by this process", table, e.local)
		}
	}
	const listen = "0A"
	for _, table := range []string{"tcp", "tcp6"} {
		for _, e := range socketTable(t, table) {
			assert.False(t, mine[e.inode] && e.state == listen, "TCP listener %s held by this process", e.local)
		}
	}
}

// Close leaves no goroutine behind: the SDK's goroutines end once its connection is closed and
// its context cancelled (its reconnect loop may first finish a sleep of up to 5s).
func TestCloseLeavesNoGoroutine(t *testing.T) {
	skipShort(t)
	addr := rnacos.ForTest(t) // the server's own goroutines are not the client's
	before := goleak.IgnoreCurrent()

	watch, err := New(Config{Addresses: []string{addr}, Timeout: testTimeout})
	require.NoError(t, err)
	provider, err := New(Config{Addresses: []string{addr}, Timeout: testTimeout})
	require.NoError(t, err)
	service, group := uniqueName("leak"), "pixiu-test"
	w := newWatcher()
	require.NoError(t, watch.Subscribe(service, group, w.onChange))
	require.NoError(t, provider.Register(instance(service, group, 18092, nil)))
	w.waitFor(t, "the instance", hasPorts(18092))
	require.NoError(t, provider.Close())
	require.NoError(t, watch.Close())
	require.NoError(t, watch.Close(), "Close is idempotent")
	_, err = watch.Services(group)
	require.ErrorContains(t, err, "client closed")

	require.Eventually(t, func() bool { return goleak.Find(before) == nil }, 15*time.Second, 100*time.Millisecond,
		"goroutines left after Close: %v", goleak.Find(before))
}

type socketEntry struct {
	local, state string
	inode        string
}

// socketTable parses /proc/self/net/<name> (the network namespace's sockets).
func socketTable(t *testing.T, name string) []socketEntry {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc/self/net", name))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []socketEntry
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		out = append(out, socketEntry{local: fields[1], state: fields[3], inode: fields[9]})
	}
	require.NoError(t, sc.Err())
	return out
}

// socketInodes are the inodes of the sockets this process holds open.
func socketInodes(t *testing.T) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			out[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return out
}
