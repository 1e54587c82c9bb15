package proxy

import (
	"io"
	"net/http"
)

// firstBodyChunk is the most readBody allocates before any byte arrived. A declared
// Content-Length is a promise, not bytes: a client that declares 10 MB and sends one byte must
// not cost 10 MB.
const firstBodyChunk = 16 << 10

// readBody reads a request body of declared length (-1 when unknown) into a buffer that grows
// with what was received, at most limit bytes; past the limit it returns *http.MaxBytesError.
// The buffer at most doubles what was received, and a body that keeps its declared length is
// read into one allocation of that length (plus one byte) once it is all there.
func readBody(body io.Reader, declared, limit int64) ([]byte, error) {
	if declared > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	// One byte past the limit shows a body that is too large; one past the declared length lets
	// the read that reports the end find room.
	most := limit + 1
	if declared >= 0 {
		most = declared + 1
	}
	buf := make([]byte, 0, min(firstBodyChunk, most))
	for {
		if len(buf) == cap(buf) {
			buf = grow(buf, most, limit+1)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// grow returns buf with twice its capacity, at most want; past want (a reader that sends more
// than it declared), at most ceiling.
func grow(buf []byte, want, ceiling int64) []byte {
	limit := want
	if int64(cap(buf)) >= want {
		limit = ceiling
	}
	grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit))
	copy(grown, buf)
	return grown
}
