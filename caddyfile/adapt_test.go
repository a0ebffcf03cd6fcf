package caddyfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	// reverse_proxy, basic_auth, respond and the other standard directives
	// that the golden files combine with ours.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of the golden adapt files")

// adaptDir holds the golden Caddyfile adapt tests, in the format of Caddy's
// caddytest/integration/caddyfile_adapt: a Caddyfile, a line of ten
// dashes, then either the expected JSON or, for a Caddyfile that must not
// adapt, a substring of the expected error.
const adaptDir = "../testdata/caddyfile_adapt"

// goldenSeparator splits a golden file into Caddyfile and expectation.
const goldenSeparator = "----------"

// TestCaddyfileAdapt adapts every golden file and compares the result with
// its expected JSON or error. A new case is a new .caddyfiletest file.
// With -update, the expected JSON of the passing-adapt cases is rewritten
// from the adapter's output: read the diff before committing it.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(adaptDir, "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .caddyfiletest files in %s", adaptDir)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			input, expected := readGolden(t, file)
			got, adaptErr := adapt(t, input)
			if !strings.HasPrefix(expected, "{") {
				if adaptErr == nil {
					t.Fatalf("adapted without error, want an error containing %q; got:\n%s", expected, got)
				}
				if !strings.Contains(adaptErr.Error(), expected) {
					t.Fatalf("error:\n%v\nwant it to contain:\n%s", adaptErr, expected)
				}
				return
			}
			if adaptErr != nil {
				t.Fatalf("adapting: %v", adaptErr)
			}
			if *update {
				writeGolden(t, file, input, got)
				return
			}
			if got != expected {
				t.Errorf("%s: adapted JSON differs at %s\n\ngot:\n%s", file, firstDiff(expected, got), got)
			}
		})
	}
}

// TestExampleCaddyfileIsGolden keeps the example Caddyfile covered: it must
// be the Caddyfile of example.caddyfiletest, so that a change to the
// example cannot escape the golden test.
func TestExampleCaddyfileIsGolden(t *testing.T) {
	example, err := os.ReadFile("../testdata/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	golden, _ := readGolden(t, filepath.Join(adaptDir, "example.caddyfiletest"))
	if got := normalizeNewlines(strings.TrimSpace(string(example))) + "\n"; got != golden {
		t.Errorf("testdata/Caddyfile and the Caddyfile of %s/example.caddyfiletest differ; copy the example into the golden file and update its JSON", adaptDir)
	}
}

// readGolden splits a golden file into its Caddyfile (with a final
// newline, as the formatter wants) and its expectation.
func readGolden(t *testing.T, file string) (input, expected string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	input, expected, ok := strings.Cut(normalizeNewlines(string(data)), goldenSeparator)
	if !ok {
		t.Fatalf("%s: no %q line between the Caddyfile and the expectation", file, goldenSeparator)
	}
	expected = strings.TrimSpace(expected)
	if expected == "" {
		t.Fatalf("%s: empty expectation", file)
	}
	return strings.TrimSpace(input) + "\n", expected
}

// writeGolden replaces the expectation of a golden file.
func writeGolden(t *testing.T, file, input, result string) {
	t.Helper()
	data := input + goldenSeparator + "\n" + result + "\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// adapt runs the caddyfile adapter and indents its output with tabs, like
// `caddy adapt --pretty`. Warnings fail the test: a golden file must adapt
// cleanly.
func adapt(t *testing.T, input string) (string, error) {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("the caddyfile adapter is not registered")
	}
	result, warnings, err := adapter.Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	for _, w := range warnings {
		t.Errorf("warning: %s", w)
	}
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, result, "", "\t"); err != nil {
		t.Fatalf("adapter output is not JSON: %v", err)
	}
	return buf.String(), nil
}

// firstDiff describes the first line where want and got differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, strings.TrimSpace(wl), strings.TrimSpace(gl))
		}
	}
	return "(no line differs)"
}

func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
