// Package docs tests the documentation: every yaml, Go and shell block of the guides must work
// with the code as it is, so the docs cannot drift from the gateway.
package docs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/pixiu-llm/gateway/pkg/adapter/llmregistry/registry"
	"github.com/pixiu-llm/gateway/pkg/cluster/retry"
	"github.com/pixiu-llm/gateway/pkg/cmd"
	"github.com/pixiu-llm/gateway/pkg/config"
	"github.com/pixiu-llm/gateway/pkg/llmprovider"
	_ "github.com/pixiu-llm/gateway/pkg/pluginregistry"
	"github.com/pixiu-llm/gateway/pkg/server"
)

// guides are the documents whose code blocks are checked, relative to this directory.
var guides = []string{
	"ai/registry.md",
	"ai/registry_CN.md",
	"ai/endpoint.md",
	"ai/endpoint_CN.md",
	"ai/models.md",
	"ai/models_CN.md",
	"../README.md",
}

// translations must carry exactly the code blocks of their original.
var translations = map[string]string{
	"ai/registry.md": "ai/registry_CN.md",
	"ai/endpoint.md": "ai/endpoint_CN.md",
	"ai/models.md":   "ai/models_CN.md",
}

type block struct {
	file string
	line int // line of the opening fence
	lang string
	text string
}

func (b block) where() string { return b.file + ":" + strconv.Itoa(b.line) }

// blocks returns the fenced code blocks of a markdown file.
func blocks(t *testing.T, file string) []block {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []block
	var cur *block
	var body []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			lang, _, _ := strings.Cut(strings.TrimPrefix(trimmed, "```"), " ")
			cur, body = &block{file: file, line: n, lang: lang}, nil
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	require.Nil(t, cur, "%s: unterminated code block", file)
	return out
}

func allBlocks(t *testing.T, lang string) []block {
	var out []block
	for _, g := range guides {
		for _, b := range blocks(t, g) {
			if b.lang == lang {
				out = append(out, b)
			}
		}
	}
	return out
}

var validateMarker = regexp.MustCompile(`^# pixiu llm validate: (accepted|rejected (\S+))\n`)

// TestYAMLBlocks loads every full pixiu.yaml through config.Load and server.New (so plugin
// configs are decoded and validated too, and unknown keys fail the test), checks instance files
// with the same conversion the adapter uses, and compiles retry policies.
func TestYAMLBlocks(t *testing.T) {
	checked := 0
	for _, b := range allBlocks(t, "yaml") {
		t.Run(b.where(), func(t *testing.T) {
			checked++
			if m := validateMarker.FindStringSubmatch(b.text); m != nil {
				checkInstanceFile(t, b, m[2])
				return
			}
			dec := yaml.NewDecoder(strings.NewReader(b.text))
			for doc := 0; ; doc++ {
				var node yaml.Node
				err := dec.Decode(&node)
				if errors.Is(err, io.EOF) {
					require.Positive(t, doc, "empty yaml block")
					return
				}
				require.NoError(t, err, "not valid yaml")
				var top map[string]any
				require.NoError(t, node.Decode(&top))
				switch {
				case top["static_resources"] != nil:
					out, err := yaml.Marshal(&node)
					require.NoError(t, err)
					checkGatewayConfig(t, b.where(), out)
				case top["retry_policy"] != nil:
					var rp struct {
						RetryPolicy struct {
							Name   string         `yaml:"name"`
							Config map[string]any `yaml:"config"`
						} `yaml:"retry_policy"`
					}
					require.NoError(t, node.Decode(&rp))
					_, err := retry.New(rp.RetryPolicy.Name, rp.RetryPolicy.Config)
					require.NoError(t, err)
				}
			}
		})
	}
	require.Positive(t, checked)
}

func checkInstanceFile(t *testing.T, b block, rejectedKey string) {
	summary, err := llmprovider.CheckFile([]byte(b.text))
	if rejectedKey == "" {
		require.NoError(t, err, "the docs say this instance is accepted")
		require.NotNil(t, summary)
		return
	}
	var me *registry.MetadataError
	require.True(t, errors.As(err, &me), "the docs say this instance is rejected, got %v", err)
	assert.Equal(t, rejectedKey, me.Key)
}

func checkGatewayConfig(t *testing.T, name string, data []byte) {
	doc, err := config.Load(name, data)
	require.NoError(t, err)
	for _, w := range doc.Warnings {
		assert.NotContains(t, w.Msg, "unknown key", "%s", w)
	}
	var logs bytes.Buffer
	g, err := server.New(doc, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err, "server.New")
	require.NoError(t, g.Shutdown(context.Background()))
	assert.NotContains(t, logs.String(), "unknown key", "a plugin did not know a key")
}

// TestGoBlocksAreCompiledExamples requires every Go block to be, verbatim, a file under
// ai/example, which `go build ./...` and `go vet ./...` compile with the repository.
func TestGoBlocksAreCompiledExamples(t *testing.T) {
	examples := map[string]string{}
	require.NoError(t, filepath.WalkDir("ai/example", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		data, err := os.ReadFile(path)
		examples[string(data)] = path
		return err
	}))
	goBlocks := allBlocks(t, "go")
	require.NotEmpty(t, goBlocks)
	for _, b := range goBlocks {
		_, ok := examples[b.text]
		assert.True(t, ok, "%s: Go block is not (exactly) one of the compiled examples under docs/ai/example", b.where())
	}
}

// TestShellBlocks checks that every pixiu command line in the docs names an existing command
// and only flags it has, and that every make target exists.
func TestShellBlocks(t *testing.T) {
	makefile, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	commands := 0
	for _, b := range allBlocks(t, "sh") {
		for _, line := range commandLines(b.text) {
			words := shellWords(line)
			if len(words) == 0 {
				continue
			}
			switch filepath.Base(words[0]) {
			case "pixiu":
				commands++
				root := cmd.NewRoot()
				c, rest, err := root.Find(words[1:])
				require.NoError(t, err, "%s: %s", b.where(), line)
				require.NotEqual(t, root, c, "%s: %s: no such command", b.where(), line)
				assert.NoError(t, c.ParseFlags(rest), "%s: %s", b.where(), line)
			case "make":
				for _, target := range words[1:] {
					if strings.Contains(target, "=") {
						continue
					}
					assert.Regexp(t, "(?m)^"+regexp.QuoteMeta(target)+":", string(makefile), "%s: make target %q", b.where(), target)
				}
			}
		}
	}
	require.Positive(t, commands)
}

// TestTranslationsCarryTheSameCode keeps each translation's code blocks identical to its
// original's, so a change in one language cannot silently miss the other.
func TestTranslationsCarryTheSameCode(t *testing.T) {
	for orig, trans := range translations {
		a, b := blocks(t, orig), blocks(t, trans)
		require.Equal(t, len(a), len(b), "%s and %s: number of code blocks", orig, trans)
		for i := range a {
			assert.Equal(t, a[i].text, b[i].text, "code block %d: %s vs %s", i+1, a[i].where(), b[i].where())
		}
	}
}

// commandLines joins backslash-continued lines and drops comments and blank lines.
func commandLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// shellWords splits a command line like a POSIX shell would for the simple cases in docs: single
// and double quotes, backslash escapes, comments; it stops at the first redirection, pipe or
// separator, and skips leading VAR=value assignments.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				end = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			return dropAssignments(words) // a comment
		case strings.IndexByte("<>|;&", c) >= 0:
			flush()
			return dropAssignments(words)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return dropAssignments(words)
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func dropAssignments(words []string) []string {
	for len(words) > 0 && assignment.MatchString(words[0]) {
		words = words[1:]
	}
	if len(words) > 0 && (words[0] == "export" || words[0] == "cd") {
		return nil
	}
	return words
}
