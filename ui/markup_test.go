package ui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// This file reads the dashboard's markup and scripts for the tests: the
// templates of index.html with their ids, and the element ids the scripts
// name. It is no HTML or JavaScript parser, only as much of one as the
// hand-written files in static/ need.

// index is what the tests know of index.html.
type index struct {
	// templates maps a template's name (its id without tpl-) to its body.
	templates map[string]markup
	// order holds the template names in file order.
	order []string
	// document holds the markup outside the templates, with the
	// templates' own ids.
	document markup
}

// markup is a piece of index.html: its tags, in order.
type markup struct {
	tags []tag
}

// tag is one start tag with its attributes.
type tag struct {
	name  string
	attrs map[string]string
	line  int
}

// ids returns the ids of the markup's elements, each once.
func (m markup) ids() map[string]bool {
	ids := make(map[string]bool)
	for _, t := range m.tags {
		if id, ok := t.attrs["id"]; ok {
			ids[id] = true
		}
	}
	return ids
}

var (
	htmlComment  = regexp.MustCompile(`(?s)<!--.*?-->`)
	templateElem = regexp.MustCompile(`(?s)<template id="tpl-([^"]*)">(.*?)</template>`)
	startTag     = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][\w-]*(?:="[^"]*")?)*)\s*/?>`)
	attribute    = regexp.MustCompile(`([a-zA-Z][\w-]*)(?:="([^"]*)")?`)
)

// readStatic returns the text of a file in static/.
func readStatic(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(FS, "static/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseIndex splits index.html into its templates and the rest.
func parseIndex(t *testing.T, html string) index {
	t.Helper()
	// Blank out comments, keeping line numbers.
	html = htmlComment.ReplaceAllStringFunc(html, func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n"))
	})
	ix := index{templates: make(map[string]markup)}
	rest := html
	for _, m := range templateElem.FindAllStringSubmatchIndex(html, -1) {
		name := html[m[2]:m[3]]
		if _, dup := ix.templates[name]; dup {
			t.Errorf("index.html: two templates tpl-%s", name)
		}
		line := 1 + strings.Count(html[:m[4]], "\n")
		ix.templates[name] = parseTags(html[m[4]:m[5]], line)
		ix.order = append(ix.order, name)
		ix.document.tags = append(ix.document.tags, tag{name: "template", attrs: map[string]string{"id": "tpl-" + name}, line: line})
	}
	rest = templateElem.ReplaceAllStringFunc(rest, func(s string) string {
		return strings.Repeat("\n", strings.Count(s, "\n"))
	})
	ix.document.tags = append(ix.document.tags, parseTags(rest, 1).tags...)
	if strings.Contains(rest, "<template") {
		t.Fatal("index.html: a <template> whose id is not tpl-<name>")
	}
	return ix
}

// parseTags returns the start tags of an HTML fragment that starts on
// line first.
func parseTags(html string, first int) markup {
	var m markup
	for _, loc := range startTag.FindAllStringSubmatchIndex(html, -1) {
		tg := tag{
			name:  html[loc[2]:loc[3]],
			attrs: make(map[string]string),
			line:  first + strings.Count(html[:loc[0]], "\n"),
		}
		for _, a := range attribute.FindAllStringSubmatch(html[loc[4]:loc[5]], -1) {
			tg.attrs[a[1]] = a[2]
		}
		m.tags = append(m.tags, tg)
	}
	return m
}

// jsString is a string literal of a script.
type jsString struct {
	text  string // between the quotes, escapes left as written
	line  int
	pos   int  // where the literal stands in the script's code
	after byte // the first character after it other than white space, 0 at the end
}

// script is a script with its comments removed and its string literals
// (and regular expression literals) replaced by placeholders, so the code
// around a literal can be matched without a literal getting in the way.
type script struct {
	name    string
	code    string
	strings []jsString
}

// before returns up to n bytes of the code before a string literal,
// without the white space right before it.
func (s script) before(str jsString, n int) string {
	return strings.TrimRight(s.code[max(0, str.pos-n):str.pos], " \t\n")
}

// regexpKeywords are the words after which a / starts a regular
// expression rather than a division.
var regexpKeywords = map[string]bool{
	"return": true, "typeof": true, "case": true, "do": true, "else": true, "in": true, "of": true,
	"void": true, "yield": true, "await": true, "delete": true, "new": true, "throw": true, "instanceof": true,
}

// lexJS splits a script into its code and its string literals.
func lexJS(name, src string) script {
	var code []byte
	var strs []jsString
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case strings.HasPrefix(src[i:], "//"):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = len(src) - i
			}
			i += j
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			end := len(src)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			n := strings.Count(src[i:end], "\n")
			line += n
			code = append(code, ' ')
			code = append(code, strings.Repeat("\n", n)...)
			i = end
		case c == '\'' || c == '"' || c == '`':
			end := stringEnd(src, i)
			text := src[i+1 : max(i+1, end-1)]
			strs = append(strs, jsString{text: text, line: line, pos: len(code), after: nextByte(src, end)})
			line += strings.Count(src[i:end], "\n")
			code = append(code, "''"...)
			i = end
		case c == '/' && regexpAllowed(code):
			end := regexpEnd(src, i)
			code = append(code, "/re/"...)
			i = end
		default:
			if c == '\n' {
				line++
			}
			code = append(code, c)
			i++
		}
	}
	return script{name: name, code: string(code), strings: strs}
}

// stringEnd returns the index after the string literal at src[i]. In a
// template literal it skips ${…} substitutions by counting braces.
func stringEnd(src string, i int) int {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch {
		case src[j] == '\\':
			j++
		case src[j] == q:
			return j + 1
		case q == '`' && strings.HasPrefix(src[j:], "${"):
			depth := 0
			for ; j < len(src); j++ {
				if src[j] == '{' {
					depth++
				} else if src[j] == '}' {
					if depth--; depth == 0 {
						break
					}
				}
			}
		}
	}
	return len(src)
}

// regexpAllowed says whether a / after code starts a regular expression.
func regexpAllowed(code []byte) bool {
	s := strings.TrimRight(string(code), " \t\n")
	if s == "" {
		return true
	}
	last := s[len(s)-1]
	if strings.IndexByte("(,=:[!&|?{};+-*%<>~^", last) >= 0 {
		return true
	}
	j := len(s)
	for j > 0 && isIdentByte(s[j-1]) {
		j--
	}
	return regexpKeywords[s[j:]]
}

// regexpEnd returns the index after the regular expression literal at
// src[i], flags included.
func regexpEnd(src string, i int) int {
	inClass := false
	j := i + 1
	for ; j < len(src); j++ {
		c := src[j]
		switch {
		case c == '\\':
			j++
		case c == '\n':
			return i + 1 // not a regular expression after all
		case c == '[':
			inClass = true
		case c == ']':
			inClass = false
		case c == '/' && !inClass:
			j++
			for j < len(src) && isIdentByte(src[j]) {
				j++
			}
			return j
		}
	}
	return j
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// nextByte returns the first byte of src from i on that is not white
// space, or 0.
func nextByte(src string, i int) byte {
	for ; i < len(src); i++ {
		if c := src[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// idRef is an element id a script names.
type idRef struct {
	id   string
	line int
}

var (
	// byIDCall ends code that passes the next literal to getElementById.
	byIDCall = regexp.MustCompile(`\bgetElementById\($`)
	// templateCall ends code that passes the next literal to dom.js's
	// template, which clones <template id="tpl-…">.
	templateCall = regexp.MustCompile(`(?:^|[^\w$.])template\($`)
	// selectorID finds the ids of a CSS selector: a # at the start or
	// after white space, a combinator, a comma or a parenthesis.
	selectorID = regexp.MustCompile(`(?:^|[\s,>+~(])#([A-Za-z][\w-]*)?`)
)

// ids returns the element ids the script names as literals: in a CSS
// selector ('#routes-table tbody'), passed to getElementById, or passed to
// template (as tpl-<name>). Ids it builds at run time ('route-' + name,
// '#' + id) are returned as prefixes in dynamic.
func (s script) ids() (ids, dynamic []idRef) {
	for _, str := range s.strings {
		before := s.before(str, 40)
		switch {
		case byIDCall.MatchString(before):
			if str.after == '+' {
				dynamic = append(dynamic, idRef{str.text, str.line})
			} else {
				ids = append(ids, idRef{str.text, str.line})
			}
			continue
		case templateCall.MatchString(before) && str.after == ')':
			ids = append(ids, idRef{"tpl-" + str.text, str.line})
			continue
		}
		for _, m := range selectorID.FindAllStringSubmatchIndex(str.text, -1) {
			id := ""
			if m[2] >= 0 {
				id = str.text[m[2]:m[3]]
			}
			rest := str.text[m[1]:]
			switch {
			case rest == "" && str.after == '+', strings.HasPrefix(rest, "${"):
				dynamic = append(dynamic, idRef{id, str.line})
			case id != "":
				ids = append(ids, idRef{id, str.line})
			}
		}
	}
	return ids, dynamic
}

// calls returns the literal first arguments of calls of the functions
// named by fn, a regular expression.
func (s script) calls(fn string) []idRef {
	call := regexp.MustCompile(`(?:^|[^\w$.])(?:` + fn + `)\($`)
	var out []idRef
	for _, str := range s.strings {
		if call.MatchString(s.before(str, 40)) && (str.after == ')' || str.after == ',') {
			out = append(out, idRef{str.text, str.line})
		}
	}
	return out
}

// list returns the string literals of the array literal `const name = [`.
func (s script) list(name string) []idRef {
	start := strings.Index(s.code, "const "+name+" = [")
	if start < 0 {
		return nil
	}
	end := start + strings.IndexByte(s.code[start:], ']')
	var out []idRef
	for _, str := range s.strings {
		if str.pos > start && str.pos < end {
			out = append(out, idRef{str.text, str.line})
		}
	}
	return out
}
