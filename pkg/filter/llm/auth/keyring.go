package auth

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
)

// Consumer is an authenticated client of the gateway. Settings that apply per consumer (such
// as request and token limits) belong here; later filters find it with ConsumerFrom.
type Consumer struct {
	Name string
	// Limits are the consumer's requests and tokens per minute (zero: no limit).
	Limits limit.Limits
	// keys is how many keys the consumer may present, for the admin API.
	keys int
}

// keyring finds the consumer of a presented key. It holds SHA-256 digests only, never keys.
type keyring struct {
	digests [][sha256.Size]byte
	owners  []*Consumer // owners[i] presents the key of digests[i]
}

func (k *keyring) add(sum [sha256.Size]byte, c *Consumer) {
	k.digests = append(k.digests, sum)
	k.owners = append(k.owners, c)
}

// lookup returns the consumer whose key was presented, or nil. Its time does not depend on
// which key matched, or on how much of a key matched: the presented key is hashed, and its
// digest is compared in constant time with every configured digest, to the end.
func (k *keyring) lookup(presented string) *Consumer {
	sum := sha256.Sum256([]byte(presented))
	match := -1
	for i := range k.digests {
		eq := subtle.ConstantTimeCompare(sum[:], k.digests[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return nil
	}
	return k.owners[match]
}
