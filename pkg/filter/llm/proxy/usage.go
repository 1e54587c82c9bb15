package proxy

import (
	"bytes"
	"encoding/json"
)

// usageScanner reads token usage and the model name out of a response body as it passes
// through, in chunks of any size: a unary JSON completion, or an SSE stream whose events carry
// "usage" (OpenAI sends it in the last event when stream_options.include_usage is set, and
// "usage":null before). Nothing is buffered but the usage object itself; the last non-null one
// wins. A JSON key cannot occur inside a JSON string (its quotes would be escaped there), so
// matching the quoted key is enough.
type usageScanner struct {
	usageValue valueScanner
	modelValue valueScanner
	model      string
	modelDone  bool

	found                     bool
	prompt, completion, total int64
}

var (
	usageKey = []byte(`"usage"`)
	modelKey = []byte(`"model"`)
)

const (
	maxUsageJSON = 4 << 10
	maxModelJSON = 256
)

func (u *usageScanner) feed(p []byte) {
	if !u.modelDone {
		for q := p; len(q) > 0 && !u.modelDone; {
			var v []byte
			v, q = u.modelValue.next(q, modelKey, '"', maxModelJSON)
			if v != nil {
				u.setModel(v)
			}
		}
	}
	for q := p; len(q) > 0; {
		var v []byte
		v, q = u.usageValue.next(q, usageKey, '{', maxUsageJSON)
		if v != nil {
			u.takeUsage(v)
		}
	}
}

// takeUsage reads the token counts of a usage object. The object is small and its keys are
// known, so they are looked up directly rather than decoded with reflection: a quoted key such
// as "prompt_tokens" cannot match "prompt_tokens_details", nor text inside a string.
func (u *usageScanner) takeUsage(v []byte) {
	prompt := max(intField(v, `"prompt_tokens"`), intField(v, `"input_tokens"`)) // Responses API: input/output
	completion := max(intField(v, `"completion_tokens"`), intField(v, `"output_tokens"`))
	total := intField(v, `"total_tokens"`)
	if total == 0 {
		total = prompt + completion
	}
	if total == 0 {
		return
	}
	u.found, u.prompt, u.completion, u.total = true, prompt, completion, total
}

// intField returns the non-negative integer value of the first occurrence of key in the JSON
// object v, or 0.
func intField(v []byte, key string) int64 {
	i := bytes.Index(v, []byte(key))
	if i < 0 {
		return 0
	}
	p := trimSpace(v[i+len(key):])
	if len(p) == 0 || p[0] != ':' {
		return 0
	}
	p = trimSpace(p[1:])
	var n int64
	for _, c := range p {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// setModel takes the model name from its JSON string, unescaping only when it has to.
func (u *usageScanner) setModel(v []byte) {
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		u.model = string(v[1 : len(v)-1])
	} else if json.Unmarshal(v, &u.model) != nil {
		u.model = ""
	}
	u.modelDone = u.model != ""
}

func (u *usageScanner) modelName() string {
	if u.model == "" {
		return "unknown"
	}
	return u.model
}

type scanState uint8

const (
	seekKey   scanState = iota // looking for the quoted key
	seekColon                  // after the key: whitespace, then ':'
	seekValue                  // after the colon: whitespace, then the value's first byte
	inValue                    // capturing the value
)

// valueScanner finds `"key": <value>` in a byte stream fed in arbitrary pieces and captures
// values that start with the wanted byte ('{' for an object, '"' for a string); other values
// (null, numbers) are skipped.
type valueScanner struct {
	state scanState
	// carry holds the end of the previous piece, which may be the start of the key.
	carry  [8]byte
	nCarry int

	value []byte
	depth int
	inStr bool
	esc   bool
}

// next scans p. It returns a complete value when one ends in p, with the bytes of p after it;
// otherwise nil, nil once all of p is consumed. The value is valid until the next call.
func (s *valueScanner) next(p, key []byte, start byte, limit int) (value, rest []byte) {
	for len(p) > 0 {
		switch s.state {
		case seekKey:
			end := s.findKey(p, key)
			if end < 0 {
				return nil, nil
			}
			p, s.state = p[end:], seekColon
		case seekColon:
			p = trimSpace(p)
			if len(p) == 0 {
				return nil, nil
			}
			if p[0] == ':' {
				p, s.state = p[1:], seekValue
			} else {
				s.state = seekKey // the quoted word was a value, not a key
			}
		case seekValue:
			p = trimSpace(p)
			if len(p) == 0 {
				return nil, nil
			}
			if p[0] != start {
				s.state = seekKey
				continue
			}
			s.state, s.value, s.depth, s.inStr, s.esc = inValue, s.value[:0], 0, false, false
		case inValue:
			end := s.valueEnd(p)
			if end < 0 {
				if len(s.value)+len(p) > limit {
					s.state = seekKey // too large to be what we look for
					continue
				}
				s.value = append(s.value, p...)
				return nil, nil
			}
			if len(s.value)+end > limit {
				s.state = seekKey
				p = p[end:]
				continue
			}
			s.value = append(s.value, p[:end]...)
			s.state = seekKey
			return s.value, p[end:]
		}
	}
	return nil, nil
}

// findKey returns the index in p just past the key, or -1 after remembering p's tail. A key
// split between the previous piece and p is found too.
func (s *valueScanner) findKey(p, key []byte) int {
	if s.nCarry > 0 {
		var joint [16]byte
		n := copy(joint[:], s.carry[:s.nCarry])
		n += copy(joint[n:], p[:min(len(p), len(key)-1)])
		if i := bytes.Index(joint[:n], key); i >= 0 {
			end := i + len(key) - s.nCarry
			s.nCarry = 0
			return end
		}
	}
	if i := bytes.Index(p, key); i >= 0 {
		s.nCarry = 0
		return i + len(key)
	}
	// Remember the last len(key)-1 bytes seen, across pieces shorter than that.
	need := len(key) - 1
	if len(p) >= need {
		s.nCarry = copy(s.carry[:], p[len(p)-need:])
		return -1
	}
	keep := min(s.nCarry, need-len(p))
	copy(s.carry[:], s.carry[s.nCarry-keep:s.nCarry])
	s.nCarry = keep + copy(s.carry[keep:], p)
	return -1
}

// valueEnd tracks the JSON value through p and returns the index just past its end, or -1 if
// it goes on after p.
func (s *valueScanner) valueEnd(p []byte) int {
	for i, c := range p {
		switch {
		case s.inStr:
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
			}
		case c == '"':
			s.inStr = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			s.depth--
		}
		if s.depth == 0 && !s.inStr {
			return i + 1
		}
	}
	return -1
}

func trimSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n') {
		p = p[1:]
	}
	return p
}
