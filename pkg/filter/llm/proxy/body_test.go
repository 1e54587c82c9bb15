package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadBodyReadsWhatArrives(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		declared int64
	}{
		{"small declared", 100, 100},
		{"small chunked", 100, -1},
		{"exactly the first chunk", firstBodyChunk, firstBodyChunk},
		{"larger declared", 3*firstBodyChunk + 17, 3*firstBodyChunk + 17},
		{"larger chunked", 3*firstBodyChunk + 17, -1},
		{"at the limit", 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("x"), tc.size)
			// One byte per Read: the buffer must grow step by step, never lose a byte.
			got, err := readBody(iotest.OneByteReader(bytes.NewReader(want)), tc.declared, 1<<20)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			if tc.declared >= 0 {
				assert.LessOrEqual(t, cap(got), tc.size+1, "a body that keeps its declared length wastes no room")
			}
		})
	}
}

func TestReadBodyAllocatesForBytesNotForPromises(t *testing.T) {
	// Declared 10 MB, one byte sent, then the client stalls (here: the reader fails).
	stalled := func() io.Reader {
		return io.MultiReader(strings.NewReader("x"), iotest.ErrReader(errors.New("stalled")))
	}
	const calls = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		_, err := readBody(stalled(), 10<<20, 10<<20)
		require.Error(t, err)
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	assert.Less(t, perCall, uint64(firstBodyChunk+2<<10), "bytes allocated per request that sent one byte")
}

func TestReadBodyRefusesBodiesOverTheLimit(t *testing.T) {
	var tooLarge *http.MaxBytesError
	_, err := readBody(strings.NewReader("0123456789"), 10, 9)
	require.ErrorAs(t, err, &tooLarge, "declared over the limit")
	_, err = readBody(strings.NewReader("0123456789"), -1, 9)
	require.ErrorAs(t, err, &tooLarge, "chunked over the limit")
	_, err = readBody(strings.NewReader("0123456789"), 5, 9)
	require.ErrorAs(t, err, &tooLarge, "a reader that sends more than it declared is still bounded")
	got, err := readBody(strings.NewReader("0123456789"), 5, 10)
	require.NoError(t, err, "more than declared but within the limit")
	assert.Equal(t, "0123456789", string(got))
	assert.Equal(t, int64(9), tooLarge.Limit)
}
