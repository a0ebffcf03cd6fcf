package access

import (
	"strings"
	"testing"
)

// FuzzCleanPath checks what rules rely on for any request path: the
// cleaned path starts with "/" and holds no "//", "." or ".." segment,
// backslash or ";", so no spelling of a path reaches past a rule; a
// path called plain is its own cleaned form; and an allow rule for a
// prefix matches only plain paths under that prefix, in its case
// (escaping an allowed prefix, or opening a path by case).
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/health", "/health/../admin", "//admin", "/a/./b/", "/a/..;/b", "\\a\\..\\b",
		"/%2e%2e/x", "/HEALTH/x", "/health/..%2Fadmin", "", "a", "/a;b/c;d", "/..", "/health/",
	} {
		f.Add(s)
	}
	allow := mustCompile(f, Login, Rule{Action: "allow", Path: "/health/*"})
	f.Fuzz(func(t *testing.T, p string) {
		key, plain := cleanPath(nil, p)
		if !strings.HasPrefix(key, "/") || strings.Contains(key, "//") || strings.ContainsAny(key, "\\;") {
			t.Fatalf("cleanPath(%q) = %q", p, key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("cleanPath(%q) = %q keeps a dot segment", p, key)
			}
		}
		if plain && key != p {
			t.Fatalf("cleanPath(%q) = %q, called plain", p, key)
		}
		if again, _ := cleanPath(nil, key); again != key {
			t.Fatalf("cleanPath is not idempotent: %q → %q → %q", p, key, again)
		}
		if a, _ := allow.Decide(&Request{Method: "GET", Path: p}); a == Allow {
			if p != key || strings.Contains(p, "%") || !(p == "/health" || strings.HasPrefix(p, "/health/")) {
				t.Fatalf("allow /health/* lets %q through", p)
			}
		}
	})
}

// FuzzMatchKey checks that the shortcuts for exact, "/base/*" and
// "*.ext" patterns match exactly what the glob matches, in both cases of
// fold, for every pattern a rule accepts.
func FuzzMatchKey(f *testing.F) {
	for _, s := range [][2]string{
		{"/health", "/health"}, {"/health", "/HEALTH"}, {"/api/*", "/api"}, {"/api/*", "/api/"},
		{"/api/*", "/apix"}, {"/API/*", "/api/x"}, {"*.php", "/x.PHP"}, {"*.php", ".php"},
		{"/a*", "/abc"}, {"/*", "/"}, {"/a/*/b", "/a/x/b"}, {"*/x/*", "/x/"}, {"/\u212a", "/k"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		if pattern == "" || pattern == "*" || checkPattern(pattern) != nil {
			return
		}
		r := rule{pattern: pattern}
		r.kind, r.lit = classify(pattern)
		for _, fold := range []bool{false, true} {
			if got, want := r.matchKey(key, fold), matchPattern(pattern, key, fold); got != want {
				t.Fatalf("pattern %q (kind %d) on %q, fold %v: %v, the glob says %v", pattern, r.kind, key, fold, got, want)
			}
		}
	})
}
