package ui

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// defaultExport is how a page's module hands its render function to
// app.js's router, which calls module.default(page).
var defaultExport = regexp.MustCompile(`(?m)^export default async function \w+\(page\)`)

// TestPages checks the page list against the files: every page's
// template is in index.html and its script is in static/ with the
// default export app.js calls, and every template in index.html is some
// page's or is cloned by a script.
func TestPages(t *testing.T) {
	if len(Pages) == 0 {
		t.Fatal("no pages")
	}
	ix := parseIndex(t, readStatic(t, "index.html"))
	used := make(map[string]bool)
	for _, p := range Pages {
		if _, ok := ix.templates[p.Template]; !ok {
			t.Errorf("page %s: index.html has no <template id=\"tpl-%s\">", p.Path, p.Template)
		}
		used[p.Template] = true
		src, err := fs.ReadFile(FS, "static/"+p.Script)
		if err != nil {
			t.Errorf("page %s: script %s: %v", p.Path, p.Script, err)
			continue
		}
		if !defaultExport.Match(src) {
			t.Errorf("page %s: %s has no `export default async function …(page)` for app.js to call", p.Path, p.Script)
		}
	}
	files, err := fs.Glob(FS, "static/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		ids, _ := lexJS(file, readStatic(t, path.Base(file))).ids()
		for _, r := range ids {
			if name, ok := strings.CutPrefix(r.id, "tpl-"); ok {
				used[name] = true
			}
		}
	}
	for _, name := range ix.order {
		if !used[name] {
			t.Errorf("index.html: tpl-%s is no page's template in pages.json and no script clones it", name)
		}
	}
}

// TestIndexLoadsOneModule checks how index.html loads the scripts: only
// app.js, as an ES module (the others are imported from it), from
// /assets/, with no inline script, which the CSP would refuse.
func TestIndexLoadsOneModule(t *testing.T) {
	ix := parseIndex(t, readStatic(t, "index.html"))
	var scripts []tag
	for _, tg := range ix.document.tags {
		if tg.name == "script" {
			scripts = append(scripts, tg)
		}
	}
	for _, m := range ix.templates {
		for _, tg := range m.tags {
			if tg.name == "script" {
				t.Errorf("index.html:%d: a <script> in a template", tg.line)
			}
		}
	}
	if len(scripts) != 1 {
		t.Fatalf("index.html has %d <script> elements, want 1 (app.js)", len(scripts))
	}
	if s := scripts[0]; s.attrs["type"] != "module" || s.attrs["src"] != "/assets/app.js" || len(s.attrs) != 2 {
		t.Errorf("index.html:%d: <script %v>, want <script type=\"module\" src=\"/assets/app.js\">", s.line, s.attrs)
	}
	if !strings.Contains(readStatic(t, "index.html"), `<script type="module" src="/assets/app.js"></script>`) {
		t.Error("index.html: the app.js <script> is not empty")
	}
}

func TestParsePages(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    string
	}{
		{name: "ok", json: `[{"path": "/", "template": "overview", "script": "overview.js", "nav": {"label": "Overview"}},
			{"path": "/users", "template": "users", "script": "users.js", "nav": {"label": "Users", "roles": ["admin"]}},
			{"path": "/routes/edit", "template": "route-edit", "script": "route-edit.js"}]`},
		{name: "empty", json: `[]`, wantErr: "no pages"},
		{name: "not a list", json: `{"path": "/"}`, wantErr: "cannot unmarshal"},
		{name: "unknown field", json: `[{"path": "/", "template": "a", "script": "a.js", "title": "A"}]`, wantErr: "unknown field"},
		{name: "two lists", json: `[{"path": "/", "template": "a", "script": "a.js"}] []`, wantErr: "data after the list"},
		{name: "relative path", json: `[{"path": "users", "template": "a", "script": "a.js"}]`, wantErr: `path "users"`},
		{name: "assets path", json: `[{"path": "/assets/x", "template": "a", "script": "a.js"}]`, wantErr: `path "/assets/x"`},
		{name: "api path", json: `[{"path": "/api/x", "template": "a", "script": "a.js"}]`, wantErr: `path "/api/x"`},
		{name: "path twice", json: `[{"path": "/a", "template": "a", "script": "a.js"}, {"path": "/a", "template": "b", "script": "b.js"}]`, wantErr: "listed twice"},
		{name: "no template", json: `[{"path": "/", "template": "", "script": "a.js"}]`, wantErr: `template ""`},
		{name: "template with a prefix", json: `[{"path": "/", "template": "tpl-a b", "script": "a.js"}]`, wantErr: `template "tpl-a b"`},
		{name: "script elsewhere", json: `[{"path": "/", "template": "a", "script": "../a.js"}]`, wantErr: `script "../a.js"`},
		{name: "script from another site", json: `[{"path": "/", "template": "a", "script": "https://example.com/a.js"}]`, wantErr: "script"},
		{name: "not a script", json: `[{"path": "/", "template": "a", "script": "a.css"}]`, wantErr: `script "a.css"`},
		{name: "nav without label", json: `[{"path": "/", "template": "a", "script": "a.js", "nav": {}}]`, wantErr: "missing label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages, err := parsePages([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil || len(pages) == 0 {
					t.Fatalf("parsePages = %v, %v; want pages", pages, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parsePages error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIsPage(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/", true},
		{"/login", true},
		{"/setup", true},
		{"/routes", true},
		{"/routes/new", true},
		{"/routes/edit", true},
		{"/users", true},
		{"/account", true},
		{"/keys", true},
		{"/audit", true},
		{"/nodes", true},
		{"/diagnostics", true},
		{"/routes/", false},
		{"/routes/edit/x", false},
		{"/Users", false},
		{"", false},
		{"/assets/app.js", false},
		{"/api/auth/session", false},
		{"/accounts", false},
	}
	for _, tt := range tests {
		if got := IsPage(tt.path); got != tt.want {
			t.Errorf("IsPage(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
