// Package sockets tells which sockets a process holds, from /proc (Linux), and whether a UDP
// port answers a datagram: the tests use it to show that nothing the gateway or `pixiu llm
// register` runs can be asked for anything over the network.
package sockets

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Socket is one socket of a process.
type Socket struct {
	Proto string // udp, udp6, tcp, tcp6
	Port  int    // local port
	Inode uint64
	// State is the kernel's state code (0A is LISTEN for TCP; 07 is an unconnected UDP socket).
	State string
}

// UDP lists the UDP sockets (IPv4 and IPv6) that process pid holds: the socket inodes of its
// descriptors (/proc/<pid>/fd) found in /proc/<pid>/net/udp and udp6, which list every socket
// of the network namespace.
func UDP(pid int) ([]Socket, error) {
	return held(pid, "udp", "udp6")
}

// TCPListeners lists the TCP sockets in LISTEN state that process pid holds.
func TCPListeners(pid int) ([]Socket, error) {
	all, err := held(pid, "tcp", "tcp6")
	if err != nil {
		return nil, err
	}
	var out []Socket
	for _, s := range all {
		if s.State == "0A" {
			out = append(out, s)
		}
	}
	return out, nil
}

func held(pid int, protos ...string) ([]Socket, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []Socket
	for _, proto := range protos {
		table, err := readTable(filepath.Join("/proc", strconv.Itoa(pid), "net", proto), proto)
		if err != nil {
			return nil, err
		}
		for _, s := range table {
			if inodes[s.Inode] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// socketInodes are the inodes of the sockets among pid's open descriptors.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				out[n] = true
			}
		}
	}
	return out, nil
}

// readTable parses /proc/net/{udp,udp6,tcp,tcp6}.
func readTable(path, proto string) ([]Socket, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(proto, "6") {
		return nil, nil // no IPv6 on this host
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Socket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		_, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Socket{Proto: proto, Port: int(port), Inode: inode, State: fields[3]})
	}
	return out, sc.Err()
}

// DumpRequest is what nacos-sdk-go's push receiver answers with its whole cache.
const DumpRequest = `{"type":"dump","data":"","lastRefTime":0}`

// Answers sends payload to 127.0.0.1:port (and [::1]:port) over UDP and reports what came
// back within wait, if anything.
func Answers(port int, payload string, wait time.Duration) (string, error) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		conn, err := net.ListenUDP("udp", nil)
		if err != nil {
			return "", err
		}
		target := &net.UDPAddr{IP: net.ParseIP(host), Port: port}
		if _, err := conn.WriteToUDP([]byte(payload), target); err != nil {
			conn.Close()
			continue // e.g. no IPv6
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 64<<10)
		n, _, err := conn.ReadFromUDP(buf)
		conn.Close()
		if err == nil && n > 0 {
			return string(buf[:n]), nil
		}
	}
	return "", nil
}

// Describe formats sockets for a failure message.
func Describe(socks []Socket) string {
	var b strings.Builder
	for _, s := range socks {
		fmt.Fprintf(&b, "%s port %d (inode %d, state %s); ", s.Proto, s.Port, s.Inode, s.State)
	}
	return b.String()
}
