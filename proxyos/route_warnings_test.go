package proxyos

import (
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// A route behind the login on an app without url would answer browsers
// 401 instead of sending them to the login page: the API says so. Hosts
// the session cookie does not reach need no warning, the login is handed
// off to them.
func TestRouteWarnings(t *testing.T) {
	login := &route.Route{Hosts: []string{"app.other.test"}, Auth: &route.Auth{RequireLogin: true}}
	open := &route.Route{Hosts: []string{"app.other.test"}}
	for _, c := range []struct {
		name  string
		url   string
		route *route.Route
		want  string // field with a warning
	}{
		{"login without url", "", login, "auth.require_login"},
		{"login with url, any host", "https://dash.example.com", login, ""},
		{"no login", "", open, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, func(a *App) { a.URL = c.url })
			ws := a.routes.WithStatus(c.route).Warnings
			var fields []string
			for _, w := range ws {
				fields = append(fields, w.Field)
				if !strings.Contains(w.Message, "url") {
					t.Errorf("warning %q does not name the url option", w.Message)
				}
			}
			if strings.Join(fields, ",") != c.want {
				t.Fatalf("warnings on %v, want %q", fields, c.want)
			}
		})
	}
}
