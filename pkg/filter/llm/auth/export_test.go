package auth

import (
	"crypto/sha256"
	"encoding/hex"
)

// DigestOf is a key's key_sha256 entry, as an operator makes it with sha256sum.
func DigestOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
