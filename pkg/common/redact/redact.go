// Package redact keeps secrets (API keys, registry passwords, tokens) out of anything the gateway
// prints: logs, the admin API, error messages. It works on names (a value stored under a key
// called api_key, password, ... is replaced whole) and, as a second line, on values (strings that
// contain a known secret or look like a bearer credential are scrubbed).
package redact

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
)

// Placeholder replaces a secret. It carries no part of the secret, not even a prefix.
const Placeholder = "[redacted]"

// IsSecretName reports whether a config or metadata key names a secret: api_key, api_keys,
// apiKey, llm-meta.api_keys, password, secret, token, authorization, access_key, private_key,
// credentials... It matches whole words, so max_tokens or key (a metadata key name) are not
// secrets.
func IsSecretName(name string) bool {
	words := splitWords(name)
	for i, w := range words {
		switch w {
		case "password", "passwd", "pwd", "secret", "secrets", "token", "authorization",
			"credential", "credentials", "apikey", "apikeys", "accesskey", "secretkey", "privatekey",
			"bearer", "cookie":
			return true
		case "key", "keys":
			if i > 0 {
				switch words[i-1] {
				case "api", "access", "secret", "private", "auth":
					return true
				}
			}
		}
	}
	return false
}

// splitWords lowercases name and splits it at non-alphanumerics and camelCase boundaries:
// "llm-meta.api_keys" → [llm meta api keys], "APIKey" → [api key].
func splitWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	runes := []rune(name)
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 {
			prevLower := unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1])
			nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			// "apiKey" splits before K; "APIKey" splits before K too (an upper followed by a lower).
			if prevLower || (unicode.IsUpper(runes[i-1]) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// credentialShaped matches strings that are credentials whatever they are stored under:
// OpenAI-style keys (sk-..., including sk-proj-...) and the value of a bearer Authorization.
var credentialShaped = regexp.MustCompile(`\bsk-[A-Za-z0-9_\-]{6,}|(?i:\bbearer\s+)[A-Za-z0-9._~+/=\-]{6,}`)

// MinSecretLen is the shortest secret Text looks for by value. Scrubbing a very short "key"
// (a placeholder such as "x" or "test") out of ordinary text would mangle the text and, by
// showing where the replacements fall, reveal the key; such values are still hidden wherever
// they are stored under a secret name.
const MinSecretLen = 8

// Text returns s with every occurrence of the given secrets (of at least MinSecretLen bytes),
// every credential-shaped token, and the user info and query of URLs, replaced by Placeholder.
func Text(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= MinSecretLen && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Placeholder)
		}
	}
	if mayHoldCredential(s) {
		s = credentialShaped.ReplaceAllString(s, Placeholder)
	}
	if strings.IndexByte(s, '=') >= 0 || strings.IndexByte(s, ':') >= 0 {
		s = secretAssignment.ReplaceAllString(s, "${1}${2}"+Placeholder)
	}
	if strings.Contains(s, "://") {
		s = URL(s)
	}
	return s
}

// secretAssignment matches a secret-named parameter with its value in free text, as in a URL
// query (password=...&), a form, or a JSON or log fragment ("accessToken":"..."), so that errors
// quoting a registry request do not carry its credentials.
var secretAssignment = regexp.MustCompile(`(?i)\b((?:password|passwd|secret|access_?token|token|api_?keys?|apikey)"?\s*[=:]\s*)("?)[^&\s",;}]+`)

// mayHoldCredential is a cheap pre-check before the regular expression.
func mayHoldCredential(s string) bool {
	return strings.Contains(s, "sk-") || strings.Contains(s, "earer ") || strings.Contains(s, "EARER ")
}

// StringMap returns a copy of m in which values under secret names are replaced by Placeholder
// and other values are scrubbed with Text.
func StringMap(m map[string]string, secrets ...string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if IsSecretName(k) {
			if v != "" {
				v = Placeholder
			}
		} else {
			v = Text(v, secrets...)
		}
		out[k] = v
	}
	return out
}

// Value returns a redacted deep copy of a JSON-shaped value (map[string]any, []any, strings,
// numbers, bools, nil, as encoding/json decodes into any). Strings, and lists of strings, under
// secret names become Placeholder; numbers and booleans under secret names are kept (a count of
// keys is not a secret); every other string is scrubbed with Text.
func Value(v any, secrets ...string) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, inner := range t {
			if IsSecretName(k) {
				out[k] = hide(inner)
				continue
			}
			out[k] = Value(inner, secrets...)
		}
		return out
	case map[string]string:
		return StringMap(t, secrets...)
	case []any:
		out := make([]any, len(t))
		for i, inner := range t {
			out[i] = Value(inner, secrets...)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, s := range t {
			out[i] = Text(s, secrets...)
		}
		return out
	case string:
		return Text(t, secrets...)
	default:
		return v
	}
}

// hide replaces whatever a secret name holds, keeping only numbers, booleans and emptiness.
func hide(v any) any {
	switch t := v.(type) {
	case nil, bool, float64, int, int64, json.Number:
		return t
	case string:
		if t == "" {
			return t
		}
		return Placeholder
	case []any:
		if len(t) == 0 {
			return t
		}
	}
	return Placeholder
}

// JSON turns any JSON-serializable value into its redacted JSON-shaped form (see Value). It
// honours json tags, so fields tagged `json:"-"` never get this far. A value that cannot be
// encoded is replaced by Placeholder rather than printed some other way.
func JSON(v any, secrets ...string) any {
	b, err := json.Marshal(v)
	if err != nil {
		return Placeholder
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return Placeholder
	}
	return Value(generic, secrets...)
}
