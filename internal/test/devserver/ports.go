package devserver

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Ports. Role r of block b is port PortBase + r*1000 + b, with one flock'd lock file per block in
// the cache dir, so cooperating processes (every harness, every test binary) never hand out the
// same ports, and a killed server's ports stay reserved for its restart. The range 20000-26999 is
// below Linux's ephemeral range (32768+), so outgoing connections cannot take a port between the
// probe and the bind. Role 1 is role 0 + 1000: Nacos's gRPC port convention (HTTP port + 1000).
const (
	PortBase = 20000
	// MaxPortRoles is how many ports one block holds.
	MaxPortRoles = 7
	portBlocks   = 1000
)

// PortBlock is a reserved block of loopback ports.
type PortBlock struct {
	index int
	lock  *os.File
	pins  []Pin
}

// Pin puts a role on a port of the caller's choosing (a server a user connects to at a known
// address) instead of the block's own port for it.
type Pin struct{ Role, Port int }

// Port is the port of the given role (0 <= role < MaxPortRoles).
func (b *PortBlock) Port(role int) int {
	for _, p := range b.pins {
		if p.Role == role {
			return p.Port
		}
	}
	return PortBase + role*portBlocks + b.index
}

// Addr is "127.0.0.1:<port of role>".
func (b *PortBlock) Addr(role int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port(role)))
}

// Release gives the block back to other processes. This process never hands it out again.
func (b *PortBlock) Release() {
	if b != nil && b.lock != nil {
		_ = b.lock.Close()
		b.lock = nil
	}
}

// usedBlocks are never handed out twice within one process: a registrar or client not closed
// yet keeps heartbeating (or reconnecting to) its old address, so a later server on the same
// ports would inherit its traffic.
var usedBlocks struct {
	sync.Mutex
	m map[int]bool
}

// ReservePorts reserves a block whose first roles ports are all free on 127.0.0.1, pinned roles
// on their pinned ports.
func ReservePorts(roles int, pins ...Pin) (*PortBlock, error) {
	if roles < 1 || roles > MaxPortRoles {
		return nil, fmt.Errorf("port block roles %d out of 1..%d", roles, MaxPortRoles)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	lockDir := filepath.Join(cache, "ports")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("create port lock dir: %w", err)
	}
	usedBlocks.Lock()
	defer usedBlocks.Unlock()
	if usedBlocks.m == nil {
		usedBlocks.m = map[int]bool{}
	}
	first := rand.IntN(portBlocks)
	for i := range portBlocks {
		b := &PortBlock{index: (first + i) % portBlocks, pins: pins}
		if usedBlocks.m[b.index] {
			continue
		}
		b.lock, err = TryLockFile(filepath.Join(lockDir, strconv.Itoa(b.index)+".lock"))
		if err != nil {
			return nil, fmt.Errorf("lock port block: %w", err)
		}
		if b.lock == nil {
			continue // another process owns it
		}
		if b.allFree(roles) {
			usedBlocks.m[b.index] = true
			return b, nil
		}
		b.Release()
	}
	return nil, fmt.Errorf("no free port block in %d-%d", PortBase, PortBase+roles*portBlocks-1)
}

func (b *PortBlock) allFree(roles int) bool {
	for role := range roles {
		if !PortFree(b.Port(role)) {
			return false
		}
	}
	return true
}

// PortFree reports whether port can be listened on at 127.0.0.1 now.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
