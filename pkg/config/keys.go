package config

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/creasty/defaults"
	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/pkg/common/suggest"
)

var durationType = reflect.TypeOf(time.Duration(0))

// unknownKeys reports mapping keys that have no field in t. Free-form maps (plugin configs,
// metadata) are not checked here; plugins check their own config with Decode.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) []Warning {
	if n, t = unwrap(n, t); n == nil {
		return nil
	}
	var warnings []Warning
	switch {
	case t.Kind() == reflect.Struct && t != durationType && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := joinKey(path, key)
			f, ok := fields[key]
			if !ok {
				warnings = append(warnings, unknownKey(n.Content[i].Line, p, key, fields))
				continue
			}
			warnings = append(warnings, unknownKeys(n.Content[i+1], f, p)...)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			warnings = append(warnings, unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return warnings
}

// unwrap returns the content of a document node (nil when the document is empty) and the type
// t points to.
func unwrap(n *yaml.Node, t reflect.Type) (*yaml.Node, reflect.Type) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, t
		}
		n = n.Content[0]
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return n, t
}

func unknownKey(line int, path, key string, fields map[string]reflect.Type) Warning {
	w := Warning{Line: line, Path: path, Msg: "unknown key, ignored"}
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known) // ties go to the same key every time
	if s, ok := suggest.Closest(key, known); ok {
		w.Suggest = s
		w.Msg = fmt.Sprintf("unknown key, ignored; did you mean %q?", s)
	}
	return w
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

// Decode decodes a plugin's free-form config (a map from pixiu.yaml) into target, applies its
// `default` tags, and returns warnings for keys target does not know. Errors and warnings name
// keys relative to path.
func Decode(raw map[string]any, target any, path string) ([]Warning, error) {
	var buf bytes.Buffer
	if raw != nil {
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(raw); err != nil {
			return nil, &FieldError{Path: path, Err: fmt.Errorf("re-encoding config: %w", err)}
		}
	}
	var warnings []Warning
	if buf.Len() > 0 {
		var n yaml.Node
		if err := yaml.Unmarshal(buf.Bytes(), &n); err != nil {
			return nil, &FieldError{Path: path, Err: err}
		}
		if err := checkDurations(&n, reflect.TypeOf(target), path); err != nil {
			return nil, err
		}
		if err := n.Decode(target); err != nil {
			return nil, &FieldError{Path: path, Err: cleanYAMLError(err)}
		}
		for _, w := range unknownKeys(&n, reflect.TypeOf(target), path) {
			w.Line = 0 // lines of the re-encoded text mean nothing to the user
			warnings = append(warnings, w)
		}
	}
	if err := defaults.Set(target); err != nil {
		return warnings, &FieldError{Path: path, Err: fmt.Errorf("applying defaults: %w", err)}
	}
	return warnings, nil
}
