package cluster

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// Defaults of the hashing policies.
const (
	DefaultRingReplicas    = 160
	DefaultMaglevTableSize = 65537
	// maxMaglevTableSize bounds the table's memory (4 bytes an entry) and build time.
	maxMaglevTableSize = 1_000_003
	maxRingReplicas    = 10_000
)

// hashTable maps a request's hash to a member; implementations are immutable once built, so
// requests read them without locks.
type hashTable interface {
	// pick returns the member owning h, or the next one in the table's order that is not
	// cooling down; when every member cools down, the owner of h.
	pick(c *Cluster, h uint64, now time.Time) *Member
}

// ValidConsistentHash checks a cluster's consistent-hash settings; errors name the key.
func ValidConsistentHash(ch model.ConsistentHash) error {
	if ch.ReplicaNum < 0 || ch.ReplicaNum > maxRingReplicas {
		return fmt.Errorf("replica_num: %d is not in 0..%d", ch.ReplicaNum, maxRingReplicas)
	}
	if n := ch.MaglevTableSize; n != 0 && (n < 2 || n > maxMaglevTableSize || !prime(n)) {
		return fmt.Errorf("maglev_table_size: %d is not a prime in 2..%d (the default is %d)", n, maxMaglevTableSize, DefaultMaglevTableSize)
	}
	if h := ch.Header; h != "" && !headerName(h) {
		return fmt.Errorf("header: %q is not a header name", h)
	}
	return nil
}

func newHashTable(policy string, ch model.ConsistentHash, members []*Member) hashTable {
	switch policy {
	case model.LoadBalancerRingHashing:
		return newRing(members, orDefault(ch.ReplicaNum, DefaultRingReplicas))
	case model.LoadBalancerMaglevHashing:
		return newMaglev(members, orDefault(ch.MaglevTableSize, DefaultMaglevTableSize))
	}
	return nil
}

// requestKey says what of a request is hashed: the value of a header when the request has it,
// else the client's address (without its port, which changes with every connection).
type requestKey struct {
	header string // canonical form, so the header map is indexed without allocating
}

func newRequestKey(header string) requestKey {
	if header == "" {
		return requestKey{}
	}
	return requestKey{header: http.CanonicalHeaderKey(header)}
}

func (k requestKey) hash(r *http.Request) uint64 {
	if k.header != "" {
		if v := r.Header[k.header]; len(v) > 0 && v[0] != "" {
			return hashString(v[0])
		}
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return hashString(host)
}

// hashString is 64-bit FNV-1a with a final avalanche step (MurmurHash3's fmix64), so that keys
// differing in one character land far apart on the ring. It is stable across processes and
// releases: gateways restarted or run side by side map a key to the same endpoint.
func hashString(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return mix64(h)
}

func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// pointHash is the hash of the i-th point of an endpoint, for building tables.
func pointHash(id string, i int) uint64 {
	return hashString(id + "#" + strconv.Itoa(i))
}

// headerName reports whether s is an HTTP field name (an RFC 9110 token).
func headerName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

func prime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}
