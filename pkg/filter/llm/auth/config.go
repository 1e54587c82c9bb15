package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/filter/llm/limit"
)

// Config is the filter's config in pixiu.yaml (http_filters[].config).
type Config struct {
	Consumers []ConsumerConfig `yaml:"consumers"`
}

// ConsumerConfig is one consumer: a name and the keys it may present. Several keys allow
// rotation: add the new key, move the clients over, remove the old one.
type ConsumerConfig struct {
	// Name labels the consumer's requests in metrics, the access log and the admin API.
	Name string `yaml:"name"`
	// Keys are the consumer's keys as clients send them; write them as ${VAR} references.
	Keys []string `yaml:"keys"`
	// KeySHA256 are keys given by the hex SHA-256 of the key, so the file never holds the key.
	KeySHA256 []string `yaml:"key_sha256"`
	// Limits caps the consumer's requests and tokens per minute; a zero or absent limit
	// limits nothing.
	Limits limit.Limits `yaml:"limits"`
}

// compile checks the config and builds the key ring. Errors name the key path relative to the
// filter's config and never quote a key.
func (c *Config) compile() (*keyring, error) {
	if len(c.Consumers) == 0 {
		return nil, fieldErr("consumers", "no consumers: list at least one, with a name and keys")
	}
	ring := &keyring{}
	names := map[string]int{}
	owner := map[[sha256.Size]byte]string{} // digest → the key path that first named it
	for i, cc := range c.Consumers {
		path := fmt.Sprintf("consumers[%d]", i)
		name := strings.TrimSpace(cc.Name)
		if name == "" {
			return nil, fieldErr(path+".name", "empty consumer name")
		}
		if first, dup := names[name]; dup {
			return nil, fieldErr(path+".name", "consumer %q is already defined at consumers[%d]", name, first)
		}
		names[name] = i
		if len(cc.Keys)+len(cc.KeySHA256) == 0 {
			return nil, fieldErr(path, "consumer %q has no keys: set keys or key_sha256", name)
		}
		if err := cc.Limits.Validate(); err != nil {
			return nil, within(path+".limits", err)
		}
		consumer := &Consumer{Name: name, Limits: cc.Limits}
		digests, err := cc.digests(path)
		if err != nil {
			return nil, err
		}
		for _, d := range digests {
			if first, dup := owner[d.sum]; dup {
				return nil, fieldErr(d.path, "the same key as %s: a key belongs to one consumer, once", first)
			}
			owner[d.sum] = d.path
			ring.add(d.sum, consumer)
		}
		consumer.keys = len(digests)
	}
	return ring, nil
}

type pathDigest struct {
	path string
	sum  [sha256.Size]byte
}

// digests returns the SHA-256 of every key of the consumer, with the key path it came from.
func (cc *ConsumerConfig) digests(path string) ([]pathDigest, error) {
	out := make([]pathDigest, 0, len(cc.Keys)+len(cc.KeySHA256))
	for j, key := range cc.Keys {
		p := fmt.Sprintf("%s.keys[%d]", path, j)
		if strings.TrimSpace(key) == "" {
			return nil, fieldErr(p, "empty key (is its environment variable set?)")
		}
		if strings.TrimSpace(key) != key {
			return nil, fieldErr(p, "the key starts or ends with white space")
		}
		out = append(out, pathDigest{path: p, sum: sha256.Sum256([]byte(key))})
	}
	for j, h := range cc.KeySHA256 {
		p := fmt.Sprintf("%s.key_sha256[%d]", path, j)
		sum, err := parseDigest(h)
		if err != nil {
			return nil, fieldErr(p, "%v", err)
		}
		out = append(out, pathDigest{path: p, sum: sum})
	}
	return out, nil
}

// parseDigest reads a SHA-256 written as 64 hex digits (either case).
func parseDigest(h string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h = strings.TrimSpace(h)
	if h == "" {
		return sum, errors.New("empty digest (is its environment variable set?)")
	}
	if len(h) != hex.EncodedLen(sha256.Size) {
		return sum, fmt.Errorf("a SHA-256 is %d hex digits, not %d (make it with: printf %%s \"$KEY\" | sha256sum)",
			hex.EncodedLen(sha256.Size), len(h))
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return sum, errors.New("not hex: a SHA-256 is written with 0-9 and a-f")
	}
	return sum, nil
}

// within places err, and the key path of a *config.FieldError, under path.
func within(path string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return fieldErr(path+"."+fe.Path, "%v", fe.Err)
	}
	return fieldErr(path, "%v", err)
}

func fieldErr(path, format string, args ...any) error {
	return &config.FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}
