package proxyos

import (
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/proxyos/route"
)

// The 401 loop after login, explained before it happens: a route behind
// the login on a host the session cookie does not reach gets a warning
// naming the host, the cookie's scope and the fix.
func TestRouteWarningsLoginLoop(t *testing.T) {
	login := func(hosts ...string) *route.Route {
		return &route.Route{Hosts: hosts, Auth: &route.Auth{RequireLogin: true}}
	}
	for _, c := range []struct {
		name         string
		url          string
		cookieDomain string
		route        *route.Route
		want         []string // fields with a warning
		mention      string
	}{
		{"host-only cookie, other host", "https://dash.example.com", "", login("app.example.com"), []string{"hosts[0]"}, "cookie_domain"},
		{"host-only cookie, dashboard host", "https://dash.example.com", "", login("dash.example.com"), nil, ""},
		{"cookie domain covers hosts", "https://dash.example.com", "example.com", login("app.example.com", "*.example.com", "example.com"), nil, ""},
		{"cookie domain misses a host", "https://dash.example.com", "example.com", login("app.example.com", "app.other.test"), []string{"hosts[1]"}, "example.com"},
		{"no url", "", "", login("app.example.com"), []string{"auth.require_login"}, "url"},
		{"no login, no warning", "https://dash.example.com", "", &route.Route{Hosts: []string{"app.test"}}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, func(a *App) { a.URL, a.CookieDomain = c.url, c.cookieDomain })
			ws := a.routeWarnings(c.route)
			var fields []string
			for _, w := range ws {
				fields = append(fields, w.Field)
				if !strings.Contains(w.Message, c.mention) {
					t.Errorf("warning %q does not mention %q", w.Message, c.mention)
				}
			}
			if strings.Join(fields, ",") != strings.Join(c.want, ",") {
				t.Fatalf("warnings on %v, want %v: %+v", fields, c.want, ws)
			}
		})
	}
}
