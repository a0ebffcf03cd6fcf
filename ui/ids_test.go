package ui

import (
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dynamicID is an id prefix a script builds ids from at run time, which
// the test cannot check where the id is built; calls and list say where
// the rest of each id is written, so those are checked instead.
type dynamicID struct {
	script, prefix string
	// calls is a regular expression of functions whose literal first
	// argument is the rest of an id.
	calls string
	// list names a `const list = [...]` of the rests of ids.
	list string
}

// dynamicIDs are all the ids the scripts build at run time.
var dynamicIDs = []dynamicID{
	// template(name) clones <template id="tpl-name">: its literal
	// arguments are checked as tpl-<name>, and TestPages checks the
	// templates of pages.json.
	{script: "dom.js", prefix: "tpl-"},
	// The route editor's thirty inputs are named by the rest of their id
	// (input('hc-path') is #route-hc-path), in route-form.js's ids list
	// and in calls of input, val and checked there and in the scripts
	// that import route-form.js.
	{script: "route-form.js", prefix: "route-", calls: "input|val|checked", list: "ids"},
}

// TestScriptIDs checks that every element id a script names exists in
// the markup the script works on. A page's script (by pages.json) works
// on its pages' templates and the shared markup (index.html outside the
// templates, and the templates of no page: shell, public, dialog, error).
// A module the scripts import works on what all of its importers have in
// common, so route-form.js on tpl-route-edit, dom.js on the shared markup
// alone. A misspelled or renamed id would otherwise only show as a null
// element, in the browser, on the path that touches it.
func TestScriptIDs(t *testing.T) {
	ix := parseIndex(t, readStatic(t, "index.html"))
	pageTemplates := make(map[string][]string) // script → its pages' templates
	bound := make(map[string]bool)
	for _, p := range Pages {
		if !slices.Contains(pageTemplates[p.Script], p.Template) {
			pageTemplates[p.Script] = append(pageTemplates[p.Script], p.Template)
		}
		bound[p.Template] = true
	}
	shared := ix.document.ids()
	for name, m := range ix.templates {
		if !bound[name] {
			for id := range m.ids() {
				shared[id] = true
			}
		}
	}

	files, err := fs.Glob(FS, "static/*.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in static/")
	}
	scripts := make(map[string]script)
	importers := make(map[string][]string) // module → the scripts importing it
	for _, file := range files {
		name := path.Base(file)
		src := readStatic(t, name)
		scripts[name] = lexJS(name, src)
		for _, m := range staticImport.FindAllStringSubmatch(src, -1) {
			importers[m[1]] = append(importers[m[1]], name)
		}
	}
	markup := scriptMarkup(ix, shared, pageTemplates, importers)

	seen := make(map[dynamicID]bool)
	for _, file := range files {
		name := path.Base(file)
		t.Run(name, func(t *testing.T) {
			m := markup(name)
			check := func(file string, r idRef, id string) {
				if !m.ids[id] {
					t.Errorf("%s:%d: no element has id %q in %s", file, r.line, id, m.where)
				}
			}
			s := scripts[name]
			ids, dynamic := s.ids()
			for _, r := range ids {
				check(name, r, r.id)
			}
			for _, r := range dynamic {
				i := slices.IndexFunc(dynamicIDs, func(d dynamicID) bool { return d.script == name && d.prefix == r.id })
				if i < 0 {
					t.Errorf("%s:%d: an id built at run time from %q: write the id out, or add the prefix to dynamicIDs with where its names are", name, r.line, r.id)
					continue
				}
				d := dynamicIDs[i]
				if seen[d] {
					continue
				}
				seen[d] = true
				if d.list != "" {
					listed := s.list(d.list)
					if len(listed) == 0 {
						t.Errorf("%s: dynamicIDs names the list %q, which the script does not have", name, d.list)
					}
					for _, n := range listed {
						check(name, n, d.prefix+n.id)
					}
				}
				if d.calls != "" {
					// The functions are called here and where they are imported.
					for _, caller := range append([]string{name}, importers[name]...) {
						for _, n := range scripts[caller].calls(d.calls) {
							check(caller, n, d.prefix+n.id)
						}
					}
				}
			}
		})
	}
	for _, d := range dynamicIDs {
		if !seen[d] {
			t.Errorf("dynamicIDs: %s builds no id from %q any more: remove the entry", d.script, d.prefix)
		}
	}
}

// staticImport finds the modules a script imports from static/.
var staticImport = regexp.MustCompile(`(?m)^import [^;]* from '\./([a-z0-9-]+\.js)';$`)

// markupSet is the markup a script can count on: the ids and, for
// messages, where they are.
type markupSet struct {
	ids   map[string]bool
	where string
}

// scriptMarkup returns a function that tells the markup a script works
// on (see TestScriptIDs).
func scriptMarkup(ix index, shared map[string]bool, pageTemplates, importers map[string][]string) func(string) markupSet {
	memo := make(map[string]markupSet)
	var markup func(string) markupSet
	markup = func(name string) markupSet {
		if m, ok := memo[name]; ok {
			return m
		}
		m := markupSet{ids: maps.Clone(shared), where: "the shared markup"}
		memo[name] = m // an import cycle ends here
		switch {
		case len(pageTemplates[name]) > 0:
			for _, tpl := range pageTemplates[name] {
				maps.Copy(m.ids, ix.templates[tpl].ids())
			}
			m.where = "tpl-" + strings.Join(pageTemplates[name], ", tpl-") + " or the shared markup"
		case len(importers[name]) > 0:
			first := markup(importers[name][0])
			m.ids = maps.Clone(first.ids)
			for _, imp := range importers[name][1:] {
				other := markup(imp).ids
				maps.DeleteFunc(m.ids, func(id string, _ bool) bool { return !other[id] })
			}
			m.where = "the markup of every page that loads " + name + " (through " + strings.Join(importers[name], ", ") + ")"
		}
		memo[name] = m
		return m
	}
	return markup
}

// TestScriptIDsFinds checks what the id test sees of a script, so that
// it cannot pass by finding nothing.
func TestScriptIDsFinds(t *testing.T) {
	tests := []struct {
		name          string
		src           string
		ids, dynamic  []string
		calls, listed []string
	}{
		{name: "selector", src: `$('#users-list', root)`, ids: []string{"users-list"}},
		{name: "selector with descendants", src: `$('#routes-table tbody tr')`, ids: []string{"routes-table"}},
		{name: "selector list", src: `$$("#a, #b > .c, p:not(#d)")`, ids: []string{"a", "b", "d"}},
		{name: "selector map", src: `fieldErrors({ email: '#user-email' })`, ids: []string{"user-email"}},
		{name: "getElementById", src: `document.getElementById("app")`, ids: []string{"app"}},
		{name: "template", src: `mount(template('error'))`, ids: []string{"tpl-error"}},
		{name: "another function called template", src: `x.template('error'); mytemplate('y')`},
		{name: "id built from a prefix", src: `document.getElementById('route-' + name)`, dynamic: []string{"route-"}},
		{name: "selector built from a prefix", src: `$('#user-' + id)`, dynamic: []string{"user-"}},
		{name: "selector built from nothing", src: "$('#' + id); $(`#${id}`)", dynamic: []string{"", ""}},
		{name: "not an id", src: `show(box, 'Without ?, #, * or braces: /a#b and C#'); x.href = '/account#totp'`},
		{name: "comments", src: "// $('#one')\n/* $('#two') */ $('#three')", ids: []string{"three"}},
		{
			name: "regular expression with quotes",
			src:  "const re = /^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$/;\n$('#after')",
			ids:  []string{"after"},
		},
		{name: "division", src: `const half = width / 2; $('#x') / 2; $('#y')`, ids: []string{"x", "y"}},
		{name: "calls", src: `val('hc-path'); input("kind").focus(); interval('no'); checked('hsts', true)`, calls: []string{"hc-path", "kind", "hsts"}},
		{name: "list", src: "const ids = [\n  'name', 'hosts',\n  'kind',\n];\nconst other = ['no'];", listed: []string{"name", "hosts", "kind"}},
	}
	texts := func(refs []idRef) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.id)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lexJS("test.js", tt.src)
			ids, dynamic := s.ids()
			if got := texts(ids); !slices.Equal(got, tt.ids) {
				t.Errorf("ids = %q, want %q", got, tt.ids)
			}
			if got := texts(dynamic); !slices.Equal(got, tt.dynamic) {
				t.Errorf("dynamic = %q, want %q", got, tt.dynamic)
			}
			if got := texts(s.calls("input|val|checked")); !slices.Equal(got, tt.calls) {
				t.Errorf("calls = %q, want %q", got, tt.calls)
			}
			if got := texts(s.list("ids")); !slices.Equal(got, tt.listed) {
				t.Errorf("list = %q, want %q", got, tt.listed)
			}
		})
	}
}

// TestTemplateReferences checks the ids markup refers to: a label's
// for, aria-describedby (which also ties a field to its error message,
// see errorBoxOf in dom.js), aria-labelledby, aria-controls and the
// password fields' data-reveal must name an element of the same template
// or of the shared markup, and a page's ids must be unique in its
// template and not also in the shared markup it is shown with.
func TestTemplateReferences(t *testing.T) {
	ix := parseIndex(t, readStatic(t, "index.html"))
	bound := make(map[string]bool)
	for _, p := range Pages {
		bound[p.Template] = true
	}
	shared := ix.document.ids()
	for _, name := range ix.order {
		if !bound[name] {
			// Shared templates may share ids: tpl-shell and tpl-public
			// are alternatives, each with its main#content.
			for id := range ix.templates[name].ids() {
				shared[id] = true
			}
		}
	}
	refAttrs := []string{"for", "aria-describedby", "aria-labelledby", "aria-controls", "data-reveal"}
	for _, name := range ix.order {
		m := ix.templates[name]
		own := make(map[string]bool)
		for _, tg := range m.tags {
			id, ok := tg.attrs["id"]
			if !ok {
				continue
			}
			if own[id] {
				t.Errorf("index.html:%d: id %q twice in tpl-%s", tg.line, id, name)
			}
			own[id] = true
			if bound[name] && shared[id] {
				t.Errorf("index.html:%d: id %q of tpl-%s is also in the shared markup", tg.line, id, name)
			}
		}
		described := make(map[string]bool)
		for _, tg := range m.tags {
			for _, a := range refAttrs {
				v, ok := tg.attrs[a]
				if !ok {
					continue
				}
				for _, id := range strings.Fields(v) {
					if !own[id] && !shared[id] {
						t.Errorf("index.html:%d: <%s %s=%q> in tpl-%s: no element has id %q", tg.line, tg.name, a, v, name, id)
					}
					if a == "aria-describedby" {
						described[id] = true
					}
				}
			}
		}
		for _, tg := range m.tags {
			if slices.Contains(strings.Fields(tg.attrs["class"]), "field-error") && !described[tg.attrs["id"]] {
				t.Errorf("index.html:%d: the field error %q in tpl-%s is in no field's aria-describedby, so errorBoxOf cannot find it", tg.line, tg.attrs["id"], name)
			}
		}
	}
}
