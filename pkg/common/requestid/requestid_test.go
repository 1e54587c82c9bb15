package requestid

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnsureKeepsAUsableClientID(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	r.Header.Set(Header, "trace-4711")
	assert.Equal(t, "trace-4711", Ensure(r))
	assert.Equal(t, "trace-4711", r.Header.Get(Header))
}

func TestEnsureReplacesMissingOrUnfitIDs(t *testing.T) {
	for _, sent := range []string{"", "has space", "new\nline", strings.Repeat("x", maxLen+1), "ünïcode"} {
		r, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
		if sent != "" {
			r.Header.Set(Header, sent)
		}
		id := Ensure(r)
		require.Len(t, id, 36, "a fresh UUID replaces %q", sent)
		assert.Equal(t, id, r.Header.Get(Header))
	}
}

func TestEnsureMakesDistinctIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		id := Ensure(r)
		assert.False(t, seen[id], "id %s repeated", id)
		seen[id] = true
	}
}

func BenchmarkEnsureNew(b *testing.B) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	for b.Loop() {
		r.Header.Del(Header)
		Ensure(r)
	}
}
