package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Page is one page of the dashboard, as static/pages.json lists it. The
// server serves index.html at Path; the browser then imports Script,
// whose default export renders the page from <template id="tpl-Template">
// of index.html.
type Page struct {
	// Path is the page's URL path, e.g. /routes/edit (exact match).
	Path string `json:"path"`
	// Template names the page's <template> in index.html, without the
	// tpl- prefix of its id.
	Template string `json:"template"`
	// Script is the page's ES module, a file in static/ served under
	// /assets/.
	Script string `json:"script"`
	// Nav is the page's entry in the menu of the logged-in pages; nil
	// for a page that has none (setup, login, the route editor).
	Nav *NavItem `json:"nav,omitempty"`
}

// NavItem is a page's entry in the menu.
type NavItem struct {
	// Label is the menu entry's text.
	Label string `json:"label"`
	// Roles limits the entry to users with one of these roles; empty:
	// every user. The server decides what a role may do; this only
	// keeps the menu from offering a page that would refuse.
	Roles []string `json:"roles,omitempty"`
}

// Pages are the dashboard's pages in menu order, parsed from
// static/pages.json when the package is loaded. The JavaScript reads the
// same file, so the server and the pages cannot disagree about which
// pages exist.
var Pages = mustParsePages()

// pagePaths holds the paths of Pages.
var pagePaths = func() map[string]bool {
	m := make(map[string]bool, len(Pages))
	for _, p := range Pages {
		m[p.Path] = true
	}
	return m
}()

// IsPage reports whether path is the path of one of the dashboard's
// pages, where the server answers with index.html.
func IsPage(path string) bool {
	return pagePaths[path]
}

func mustParsePages() []Page {
	data, err := FS.ReadFile("static/pages.json")
	if err == nil {
		var pages []Page
		if pages, err = parsePages(data); err == nil {
			return pages
		}
	}
	panic("ui: static/pages.json: " + err.Error())
}

var (
	// pageName is the form of a template name: the rest of an HTML id.
	pageName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	// scriptName is the form of a page's script: a file right in
	// static/, as the browser imports "./" + script.
	scriptName = regexp.MustCompile(`^[a-z][a-z0-9-]*\.js$`)
)

// parsePages decodes and checks a page list.
func parsePages(data []byte) ([]Page, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pages []Page
	if err := dec.Decode(&pages); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the list")
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("no pages")
	}
	seen := make(map[string]bool, len(pages))
	for i, p := range pages {
		switch {
		case !strings.HasPrefix(p.Path, "/") || strings.HasPrefix(p.Path, "/assets/") || strings.HasPrefix(p.Path, "/api/"):
			return nil, fmt.Errorf("page %d: path %q: must start with / and not be under /assets/ or /api/", i, p.Path)
		case seen[p.Path]:
			return nil, fmt.Errorf("page %d: path %q: listed twice", i, p.Path)
		case !pageName.MatchString(p.Template):
			return nil, fmt.Errorf("page %q: template %q: want lowercase letters, digits and dashes", p.Path, p.Template)
		case !scriptName.MatchString(p.Script):
			return nil, fmt.Errorf("page %q: script %q: want a .js file name in static/", p.Path, p.Script)
		case p.Nav != nil && p.Nav.Label == "":
			return nil, fmt.Errorf("page %q: nav: missing label", p.Path)
		}
		seen[p.Path] = true
	}
	return pages, nil
}
