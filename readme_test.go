package caddyproxyos

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestReadmeCaddyfiles adapts every Caddyfile block of the README, so an
// example a user copies is one Caddy takes.
func TestReadmeCaddyfiles(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```caddyfile\n(.*?)```").FindAllStringSubmatch(string(raw), -1)
	if len(blocks) == 0 {
		t.Fatal("no caddyfile blocks in README.md")
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for i, b := range blocks {
		_, warnings, err := adapter.Adapt([]byte(b[1]), map[string]any{"filename": "README.md"})
		if err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(b[1]), "\n")
			t.Errorf("README caddyfile block %d (%q…): %v", i+1, first, err)
		}
		for _, w := range warnings {
			t.Logf("README caddyfile block %d: %s", i+1, w)
		}
	}
}
