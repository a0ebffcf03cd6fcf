package location

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// caddyMatch reports whether Caddy's own path matcher with pattern
// matches a request whose URL has path p (and raw path raw, if any).
func caddyMatch(t testing.TB, pattern, p, raw string) bool {
	t.Helper()
	m := caddyhttp.MatchPath{pattern}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	r := (&http.Request{URL: &url.URL{Path: p, RawPath: raw}}).WithContext(ctx)
	ok, err := m.MatchWithError(r)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// ownMatch is the handler's matching of one pattern.
func ownMatch(pattern, p string) bool {
	return parsePattern(pattern).match(cleanKey(p))
}

var (
	testPatterns = []string{
		"/", "/*", "/api", "/api*", "/api/*", "/api/", "/API/V1/*", "/api/v1/users/*", "/exact",
		"/static*", "/robots.txt", "/a.b/c", "/x-y_z~!$&'()+,;=:@", "/k", "/kelvin*", "/i*", "/é*",
		"/a/./b", "/a/../b", "/a/*/b*",
	}
	testPaths = []string{
		"", "/", "//", "/api", "/API", "/Api/", "/api/", "/api/x", "/apis", "/api/v1", "/api/v1/", "/api/v1/users",
		"/api/v1/users/", "/api/v1/users/42", "/API/V1/USERS/42", "/api//v1", "//api/x", "/./api/x", "/x/../api/x",
		"/api/..", "/api/../", "/api/.", "/api/./", "/api/x/..", "/../api", "/api/%2e%2e/x", "/exact", "/exact/",
		"/EXACT", "/exact/.", "/exact?x", "/static", "/staticfiles/a", "/robots.txt", "/ROBOTS.TXT", "/robots.txt/",
		"/\u212Aelvin", "/\u212A", "/\u0130", "/\u0130x", "/kelvin", "/\xff", "/api/\xff", "/\xffapi", "/É",
		"/é/x", "/a.b/c", "/A.B/C", "/x-y_z~!$&'()+,;=:@", "api", "*", "/api\\x", "/api/x/", "/a/b", "/a/./b",
		"/a/../b", "/a/x/b", "/api/\x00",
	}
)

// TestMatchLikeCaddy compares the handler's matching with Caddy's path
// matcher on every pattern CheckPath allows here and many paths, among
// them the ways to dress a path up (case, dot segments, doubled
// slashes, Unicode letters that lower-case to ASCII): a request may not
// reach a location Caddy's matcher would keep it from, nor miss one it
// would send it to.
func TestMatchLikeCaddy(t *testing.T) {
	for _, pattern := range testPatterns {
		if CheckPath(pattern) != nil {
			continue // "/é*", "/a/*/b*": refused (TestCheckPath)
		}
		for _, p := range testPaths {
			if got, want := ownMatch(pattern, p), caddyMatch(t, pattern, p, ""); got != want {
				t.Errorf("pattern %q, path %q: matched %v, Caddy's matcher %v", pattern, p, got, want)
			}
		}
	}
}

// TestMatchEscapedPath: the path compared is the decoded one, as Caddy's
// matcher does for patterns without "%": "/api%2Fx" is "/api/x".
func TestMatchEscapedPath(t *testing.T) {
	u, err := url.Parse("http://h/API%2Fx/%2e%2e/y")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"/api/*", "/api*", "/api/y", "/y"} {
		if got, want := ownMatch(pattern, u.Path), caddyMatch(t, pattern, u.Path, u.RawPath); got != want {
			t.Errorf("pattern %q, path %q (raw %q): matched %v, Caddy's matcher %v", pattern, u.Path, u.RawPath, got, want)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/a", "/a*", "/a/*", "/", "/*", "/a.b/c~d"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "a", "*", "/a*b", "/a/**", "//a", "/a%2f", "/{env.X}", "/a?", "/[a]", `/a\b`, "/é", "/a b"} {
		if err := CheckPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// TestCleanKeyAllocs: a clean ASCII path, in any case and with a final
// slash, is matched without allocating.
func TestCleanKeyAllocs(t *testing.T) {
	pt := parsePattern("/api/v1/*")
	for _, p := range []string{"/api/v1/users", "/API/V1/Users/", "/static/app.js"} {
		if n := testing.AllocsPerRun(100, func() { matchSink = pt.match(cleanKey(p)) }); n != 0 {
			t.Errorf("%q: %.1f allocations", p, n)
		}
	}
}

var matchSink bool

// FuzzMatch compares the handler's matching with Caddy's path matcher
// on any pattern CheckPath accepts and any path.
func FuzzMatch(f *testing.F) {
	for i, p := range testPaths { // TestMatchLikeCaddy tries every pair
		f.Add(testPatterns[i%len(testPatterns)], p)
	}
	f.Fuzz(func(t *testing.T, pattern, p string) {
		if CheckPath(pattern) != nil {
			return
		}
		if got, want := ownMatch(pattern, p), caddyMatch(t, pattern, p, ""); got != want {
			t.Errorf("pattern %q, path %q: matched %v, Caddy's matcher %v", pattern, p, got, want)
		}
	})
}
