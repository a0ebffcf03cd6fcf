// Package transfer holds the export document of proxyos (its routes,
// their history, users and API keys without secrets, in a versioned
// format) and the importers that turn another proxy's configuration
// (Nginx Proxy Manager's database, a Caddyfile) into routes. The routes
// of an import go through the route service like any change (see
// router.Service.Import): diffed, checked and applied all together.
package transfer

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// Format and Version identify an export document. A document of a newer
// version is refused rather than half understood.
const (
	Format  = "proxyos-export"
	Version = 1
)

// Document is an export: everything needed to serve the same routes
// elsewhere, and a record of who may use the dashboard. It holds no
// secret: request header values are null, users have no password hashes,
// two-factor secrets or passkeys, API keys are names and scopes.
type Document struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	ExportedAt time.Time `json:"exported_at"`
	// Routes are as GET /api/routes/{id} shows them.
	Routes []json.RawMessage `json:"routes"`
	// History maps a route id to its versions, newest first (with
	// ?history=1). An import does not restore it.
	History map[string]json.RawMessage `json:"history,omitempty"`
	// Users and APIKeys are there for admins; an import reports them
	// and creates none.
	Users   json.RawMessage `json:"users,omitempty"`
	APIKeys json.RawMessage `json:"api_keys,omitempty"`
}

// Parse reads an export document, refusing another format or a newer
// version.
func Parse(b []byte) (*Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("not a proxyos export (JSON): %v", err)
	}
	if d.Format != Format {
		return nil, fmt.Errorf("format is %q, want %q", d.Format, Format)
	}
	if d.Version < 1 || d.Version > Version {
		return nil, fmt.Errorf("version %d is not one this proxyos reads (1 to %d)", d.Version, Version)
	}
	return &d, nil
}

// Notes lists what the document holds that an import does not restore.
func (d *Document) Notes() []Note {
	var out []Note
	if len(d.History) > 0 {
		out = append(out, Note{Source: "history", Reason: "not imported: the routes' history starts again with the import"})
	}
	if n := countList(d.Users); n > 0 {
		out = append(out, Note{Source: "users", Reason: fmt.Sprintf("%d not imported: an import never creates users; add them under Users", n)})
	}
	if n := countList(d.APIKeys); n > 0 {
		out = append(out, Note{Source: "api_keys", Reason: fmt.Sprintf("%d not imported: keys are secrets their owners make again", n)})
	}
	return out
}

func countList(raw json.RawMessage) int {
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) != nil {
		return 0
	}
	return len(l)
}

// Note says what an importer left out, or imported only in part, and
// why.
type Note struct {
	Source string `json:"source"` // what it is in the source, e.g. proxy host 3 (app.example.com)
	Reason string `json:"reason"`
}

// Import is what an importer made of another proxy's configuration.
type Import struct {
	Routes []*route.Route `json:"routes"`
	Notes  []Note         `json:"notes"`
}

func (im *Import) note(source, format string, args ...any) {
	im.Notes = append(im.Notes, Note{Source: source, Reason: fmt.Sprintf(format, args...)})
}
