// Package config loads pixiu.yaml: environment expansion, decoding with line numbers, defaults,
// unknown-key warnings and validation.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/creasty/defaults"
	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/pkg/model"
)

// EnvConfigFile is the environment variable that names the config file when -c is not given.
const EnvConfigFile = "DUBBOGO_PIXIU_CONFIG"

// Warning is a problem in the file that does not stop the gateway, such as an unknown key.
type Warning struct {
	Line int
	Path string
	Msg  string
	// Suggest is, for an unknown key, the known key it was probably meant to be.
	Suggest string
	// Info marks a remark that is expected in a valid config (a route to a cluster only an
	// adapter provides); it is logged at info level rather than as a warning.
	Info bool
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", w.Line, w.Path, w.Msg)
	}
	return fmt.Sprintf("%s: %s", w.Path, w.Msg)
}

// Error is a config error located in a file.
type Error struct {
	File string
	Line int
	Path string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, ": %s", e.Path)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Document is a loaded config file: the model and the parsed yaml it came from, kept to locate
// keys by path in later errors (plugin configs are decoded after loading).
type Document struct {
	File      string
	Bootstrap *model.Bootstrap
	Warnings  []Warning
	root      *yaml.Node
}

// LoadFile reads, expands, decodes, defaults and validates a pixiu.yaml.
func LoadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	return Load(path, data)
}

// Load is LoadFile for bytes already read; name is used in messages.
func Load(name string, data []byte) (*Document, error) {
	doc := &Document{File: name, Bootstrap: &model.Bootstrap{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Err: errors.New("file is empty")}
		}
		return nil, &Error{File: name, Line: yamlErrorLine(err), Err: fmt.Errorf("invalid yaml: %w", cleanYAMLError(err))}
	}
	doc.root = &root
	doc.Warnings = append(doc.Warnings, expandEnv(&root, "")...)
	upstream, err := normalizeUpstreamSpellings(&root)
	doc.Warnings = append(doc.Warnings, upstream...)
	if err != nil {
		return nil, doc.locate(err)
	}
	bootstrapType := reflect.TypeOf(model.Bootstrap{})
	if err := checkDurations(&root, bootstrapType, ""); err != nil {
		return nil, doc.locate(err)
	}
	if err := root.Decode(doc.Bootstrap); err != nil {
		return nil, &Error{File: name, Line: yamlErrorLine(err), Err: cleanYAMLError(err)}
	}
	doc.Warnings = append(doc.Warnings, unknownKeys(&root, bootstrapType, "")...)
	if err := defaults.Set(doc.Bootstrap); err != nil {
		return nil, &Error{File: name, Err: fmt.Errorf("applying defaults: %w", err)}
	}
	warnings, err := Validate(doc.Bootstrap)
	for _, w := range warnings {
		w.Line = doc.Line(w.Path)
		doc.Warnings = append(doc.Warnings, w)
	}
	if err != nil {
		return nil, doc.explain(doc.locate(err))
	}
	return doc, nil
}

// Errorf returns an error located at the key path in this document.
func (d *Document) Errorf(path string, format string, args ...any) error {
	return &Error{File: d.File, Line: d.Line(path), Path: path, Err: fmt.Errorf(format, args...)}
}

// Locate turns a *FieldError into an *Error that carries the file and line; other errors get the file.
func (d *Document) locate(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &Error{File: d.File, Line: d.Line(fe.Path), Path: fe.Path, Err: fe.Err}
	}
	return &Error{File: d.File, Err: err}
}

// Line returns the line of the key at path (e.g. "static_resources.clusters[0].lb_policy"), or 0.
func (d *Document) Line(path string) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range splitPath(path) {
		switch {
		case part.index >= 0:
			if n.Kind != yaml.SequenceNode || part.index >= len(n.Content) {
				return line
			}
			n = n.Content[part.index]
			line = n.Line
		default:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part.key {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		}
	}
	return line
}

type pathPart struct {
	key   string
	index int
}

func splitPath(path string) []pathPart {
	var parts []pathPart
	for _, seg := range strings.Split(path, ".") {
		if seg == "" {
			continue
		}
		for seg != "" {
			open := strings.IndexByte(seg, '[')
			if open < 0 {
				parts = append(parts, pathPart{key: seg, index: -1})
				break
			}
			if open > 0 {
				parts = append(parts, pathPart{key: seg[:open], index: -1})
			}
			end := strings.IndexByte(seg, ']')
			if end < open {
				break
			}
			i, err := strconv.Atoi(seg[open+1 : end])
			if err != nil {
				break
			}
			parts = append(parts, pathPart{index: i})
			seg = seg[end+1:]
		}
	}
	return parts
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in scalar values (never in keys). An unset
// variable without a default expands to "" with a warning, so a missing secret is visible.
func expandEnv(n *yaml.Node, path string) []Warning {
	var warnings []Warning
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			warnings = append(warnings, expandEnv(c, path)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			warnings = append(warnings, expandEnv(n.Content[i+1], joinKey(path, n.Content[i].Value))...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			warnings = append(warnings, expandEnv(c, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := os.LookupEnv(m[1]); ok {
				return v
			}
			switch {
			case m[2] == "":
				warnings = append(warnings, Warning{Line: n.Line, Path: path,
					Msg: fmt.Sprintf("environment variable %s is not set; using an empty value%s", m[1], emptyKeyNote(path))})
			case m[3] == "" && isAPIKeyPath(path):
				warnings = append(warnings, Warning{Line: n.Line, Path: path,
					Msg: fmt.Sprintf("environment variable %s is not set and its default is empty%s", m[1], emptyKeyNote(path))})
			}
			return m[3]
		})
		// A plain value is resolved again (a port from ${PORT} is an int); a quoted or empty one
		// stays a string.
		if n.Style == 0 && n.Value != "" {
			n.Tag = ""
		} else {
			n.Tag = "!!str"
		}
	}
	return warnings
}

// isAPIKeyPath reports whether path is an endpoint's llm_meta.api_key or one of its api_keys.
func isAPIKeyPath(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	return last == "api_key" || last == "api_keys"
}

// emptyKeyNote says what an empty API key means, for warnings about the key at path.
func emptyKeyNote(path string) string {
	if !isAPIKeyPath(path) {
		return ""
	}
	return ": the endpoint gets no key of its own, so requests reach it with the client's Authorization"
}

func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var yamlLinePrefix = regexp.MustCompile(`(?m)^\s*line \d+: `)

// cleanYAMLError drops the yaml package's own "line N:" prefixes: the caller locates the error
// once (and a plugin config's lines are those of re-encoded text, which mean nothing to users).
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLinePrefix.ReplaceAllString(msg, "")
	return errors.New(strings.TrimSpace(msg))
}

// explain adds to a located error the unknown key that most likely caused it: a typo of the
// key the error is about, such as `filter_chain:` for `filter_chains:`, which leaves the
// listener without filters. The error then points at the typo, and keeps what went wrong.
func (d *Document) explain(err error) error {
	var located *Error
	if !errors.As(err, &located) || located.Path == "" {
		return err
	}
	for _, w := range d.Warnings {
		if w.Suggest == "" || w.Info {
			continue
		}
		parent := strings.TrimSuffix(w.Path, w.Path[strings.LastIndexByte(w.Path, '.')+1:])
		if strings.HasPrefix(located.Path+".", parent+w.Suggest+".") || strings.HasPrefix(located.Path, parent+w.Suggest+"[") {
			return &Error{File: d.File, Line: w.Line, Path: w.Path,
				Err: fmt.Errorf("unknown key; did you mean %q? (without it: %w)", w.Suggest, located.Err)}
		}
	}
	return err
}
