package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"

	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// nextRecorder is the handler after proxyos_auth; it records what it saw.
type nextRecorder struct {
	called bool
	header http.Header
	repl   map[string]string
}

func (n *nextRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called = true
	n.header = r.Header.Clone()
	n.repl = map[string]string{}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		for _, k := range []string{"http.auth.user.id", "http.auth.user.email", "http.auth.user.role"} {
			if v, ok := repl.GetString(k); ok {
				n.repl[k] = v
			}
		}
	}
	w.WriteHeader(http.StatusTeapot)
	return nil
}

// gate runs proxyos_auth on req and returns the response, the handler
// error and what the next handler saw.
func gate(t *testing.T, h *Auth, req *http.Request) (*httptest.ResponseRecorder, *nextRecorder, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	req, _ = prepare(req, rec)
	next := &nextRecorder{}
	err := h.ServeHTTP(rec, req, next)
	return rec, next, err
}

// TestAuthValidSession checks what a logged-in request hands on: Caddy's
// auth placeholders and the identity headers, without the session cookie.
func TestAuthValidSession(t *testing.T) {
	a := newTestApp(t)
	u := a.addUser(t, "ada@example.com", "password1", RoleOperator)
	cookie := a.newSession(t, u)
	h := a.gate()

	req := httptest.NewRequest(http.MethodGet, "http://app.test/x", nil)
	withCookie(req, cookie)
	rec, next, err := gate(t, h, req)
	if err != nil || !next.called {
		t.Fatalf("valid session not passed on: err %v, status %d, body %s", err, rec.Code, rec.Body)
	}
	wantRepl := map[string]string{"http.auth.user.id": u.ID, "http.auth.user.email": "ada@example.com", "http.auth.user.role": RoleOperator}
	for k, v := range wantRepl {
		if next.repl[k] != v {
			t.Errorf("placeholder {%s} = %q, want %q", k, next.repl[k], v)
		}
	}
	wantHeaders := map[string]string{"X-Proxyos-User": u.ID, "X-Proxyos-Email": "ada@example.com", "X-Proxyos-Role": RoleOperator}
	for k, v := range wantHeaders {
		if got := next.header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := next.header.Get("Cookie"); got != "" {
		t.Errorf("upstream got Cookie %q, want none", got)
	}
}

// TestAuthIdentityHeaderSpoofing prevents identity-header spoofing: a
// client must not pass its own X-Proxyos-* headers to the upstream, in
// any letter case and whether or not its session is valid.
func TestAuthIdentityHeaderSpoofing(t *testing.T) {
	a := newTestApp(t)
	u := a.addUser(t, "viewer@example.com", "password1", RoleViewer)
	cookie := a.newSession(t, u)
	h := a.gate()

	req := httptest.NewRequest(http.MethodGet, "http://app.test/x", nil)
	withCookie(req, cookie)
	// Set directly in the map: names as a raw HTTP/2 or HTTP/1 parser
	// might leave them, not canonicalized.
	req.Header["X-Proxyos-Role"] = []string{RoleAdmin}
	req.Header["x-proxyos-user"] = []string{"attacker-id"}
	req.Header["X-PROXYOS-EMAIL"] = []string{"admin@example.com"}
	req.Header["x-ProxyOS-Role"] = []string{RoleAdmin}
	req.Header["X-Proxyos-Admin"] = []string{"true"}
	req.Header["X-Proxyos-"] = []string{"x"}
	req.Header["x-proxyos-groups"] = []string{"admins"}
	req.Header["X-Proxy"] = []string{"kept"}

	_, next, err := gate(t, h, req)
	if err != nil || !next.called {
		t.Fatalf("valid session not passed on: %v", err)
	}
	want := http.Header{
		"X-Proxyos-User":  {u.ID},
		"X-Proxyos-Email": {"viewer@example.com"},
		"X-Proxyos-Role":  {RoleViewer},
		// a password user is in no group: the role alone
		"X-Proxyos-Groups": {RoleViewer},
	}
	for name, v := range next.header {
		if len(name) >= len(request.IdentityHeaderPrefix) && http.CanonicalHeaderKey(name[:len(request.IdentityHeaderPrefix)]) == request.IdentityHeaderPrefix {
			if w, ok := want[name]; !ok || len(v) != 1 || v[0] != w[0] {
				t.Errorf("upstream got %s: %q", name, v)
			}
		}
	}
	for name, v := range want {
		if got := next.header[name]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if next.header.Get("X-Proxy") != "kept" {
		t.Error("a header outside the X-Proxyos- prefix was removed")
	}
}

// TestAuthStripsSessionCookie prevents session theft by upstreams: the
// proxied site never sees the dashboard's session cookie, but keeps its
// own cookies.
func TestAuthStripsSessionCookie(t *testing.T) {
	a := newTestApp(t)
	cookie := a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleAdmin))
	h := a.gate()

	req := httptest.NewRequest(http.MethodGet, "http://app.test/x", nil)
	req.Header.Add("Cookie", "app_session=s1; "+request.SessionCookieName+"="+cookie)
	req.Header.Add("Cookie", "theme=dark")
	_, next, err := gate(t, h, req)
	if err != nil || !next.called {
		t.Fatalf("valid session not passed on: %v", err)
	}
	if got, want := next.header.Values("Cookie"), []string{"app_session=s1; theme=dark"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("upstream Cookie = %q, want %q", got, want)
	}
}

// TestAuthCachedIdentity prevents one request's identity from reaching
// another through the values the gate caches per session: requests of
// two users in turn, each forging X-Proxyos-User, get their own identity
// whether the gate hands the cached header values on (in the routes the
// router compiles) or copies them (anywhere else). A handler that then
// rewrites the header values in place, as request_header with a
// replacement does, changes only its own request, also when it runs
// after an error (as the site's error routes do).
func TestAuthCachedIdentity(t *testing.T) {
	a := newTestApp(t)
	ada := a.addUser(t, "ada@example.com", "password1", RoleAdmin)
	bob := a.addUser(t, "bob@example.com", "password1", RoleViewer)
	cookies := map[string]string{ada.ID: a.newSession(t, ada), bob.ID: a.newSession(t, bob)}
	tests := []struct {
		name    string
		shared  bool
		nextErr error // what the handler after the gate returns
		rewrite bool  // rewrite the identity header values in place afterwards
	}{
		{"copied", false, nil, true},
		// Where the gate shares, the handlers after it leave the values
		// alone (the router checks it) until one returns an error.
		{"shared", true, nil, false},
		{"shared, error", true, caddyhttp.Error(http.StatusBadGateway, errors.New("upstream down")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := a.gate().withShared(tt.shared)
			for i, u := range []store.User{ada, bob, ada, bob, ada} {
				req := httptest.NewRequest(http.MethodGet, "http://app.test/x", nil)
				withCookie(req, cookies[u.ID])
				req.Header.Set("X-Proxyos-User", "forged")
				rec := httptest.NewRecorder()
				req, _ = prepare(req, rec)
				next := &nextRecorder{}
				err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					next.ServeHTTP(w, r) //nolint:errcheck // always nil
					return tt.nextErr
				}))
				if !errors.Is(err, tt.nextErr) || !next.called {
					t.Fatalf("request %d (%s): error %v, passed %v", i, u.Email, err, next.called)
				}
				want := map[string]string{"X-Proxyos-User": u.ID, "X-Proxyos-Email": u.Email, "X-Proxyos-Role": u.Role}
				for name, v := range want {
					if got := next.header.Values(name); len(got) != 1 || got[0] != v {
						t.Errorf("request %d (%s): %s = %q, want %q", i, u.Email, name, got, v)
					}
				}
				if got := next.repl["http.auth.user.id"]; got != u.ID {
					t.Errorf("request %d (%s): {http.auth.user.id} = %q, want %q", i, u.Email, got, u.ID)
				}
				if !tt.rewrite {
					continue
				}
				// What the gate left in the request is this request's to
				// change.
				for name := range want {
					for j := range req.Header[name] {
						req.Header[name][j] = "rewritten"
					}
				}
			}
		})
	}
}

// TestAuthCachedSessionAllocs checks that passing the gate with a cached
// session allocates nothing where the gate may share its cached values,
// and only the request's own copy of the identity header values
// elsewhere.
func TestAuthCachedSessionAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	cookie := request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleAdmin))
	for _, tt := range []struct {
		shared bool
		max    float64
	}{{true, 0}, {false, 1}} {
		h := a.gate().withShared(tt.shared)
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/x", nil), rec)
		cookieLine := []string{cookie}
		next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
		serve := func() {
			req.Header["Cookie"] = cookieLine
			if err := h.ServeHTTP(rec, req, next); err != nil {
				t.Fatal(err)
			}
		}
		serve() // the replacer's map gets its keys once per request
		if n := testing.AllocsPerRun(100, serve); n > tt.max {
			t.Errorf("shared %v: %.1f allocations per request, want at most %v", tt.shared, n, tt.max)
		}
		if got := req.Header.Get("X-Proxyos-Email"); got != "ada@example.com" {
			t.Errorf("shared %v: X-Proxyos-Email = %q", tt.shared, got)
		}
	}
}

func TestAuthRefusal(t *testing.T) {
	a := newTestApp(t)
	u := a.addUser(t, "ada@example.com", "password1", RoleAdmin)
	revoked := a.newSession(t, u)
	if e, _, _ := a.state.sessions.Verify(t.Context(), a.keys, revoked, 0); e == nil {
		t.Fatal("session not cached")
	} else if err := a.state.sessions.Revoke(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	h := a.gate()
	valid := a.newSession(t, u)
	other := mustKeyring(t, randomSecret(t)).SignToken(keyring.NewToken())

	tests := []struct {
		name       string
		method     string
		target     string
		headers    map[string]string
		cookie     string
		wantStatus int
		wantReason session.Reason // for 401
	}{
		{"navigation without cookie", http.MethodGet, "http://app.test/x?y=1", map[string]string{"Accept": "text/html,application/xhtml+xml"}, "", http.StatusFound, ""},
		{"sec-fetch-mode navigate", http.MethodGet, "http://app.test/", map[string]string{"Sec-Fetch-Mode": "navigate"}, "", http.StatusFound, ""},
		{"HEAD navigation", http.MethodHead, "http://app.test/", map[string]string{"Accept": "text/html"}, "", http.StatusFound, ""},
		{"navigation with revoked session", http.MethodGet, "http://app.test/", map[string]string{"Accept": "text/html"}, revoked, http.StatusFound, ""},
		{"xhr", http.MethodGet, "http://app.test/api", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, "", http.StatusUnauthorized, session.ReasonNoCookie},
		{"api client", http.MethodGet, "http://app.test/api", map[string]string{"Accept": "application/json"}, "", http.StatusUnauthorized, session.ReasonNoCookie},
		{"no accept", http.MethodGet, "http://app.test/", nil, "", http.StatusUnauthorized, session.ReasonNoCookie},
		{"post form", http.MethodPost, "http://app.test/", map[string]string{"Accept": "text/html"}, "", http.StatusUnauthorized, session.ReasonNoCookie},
		{"malformed", http.MethodGet, "http://app.test/", nil, "nonsense", http.StatusUnauthorized, session.ReasonMalformed},
		{"tampered", http.MethodGet, "http://app.test/", nil, valid[:keyring.CookieLen-3] + "AAA", http.StatusUnauthorized, session.ReasonBadSignature},
		{"unknown key", http.MethodGet, "http://app.test/", nil, other, http.StatusUnauthorized, session.ReasonUnknownKey},
		{"revoked", http.MethodGet, "http://app.test/", nil, revoked, http.StatusUnauthorized, session.ReasonRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if tt.cookie != "" {
				withCookie(req, tt.cookie)
			}
			rec, next, err := gate(t, h, req)
			if err != nil {
				t.Fatalf("handler error %v", err)
			}
			if next.called {
				t.Fatal("request without a valid session reached the next handler")
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			switch tt.wantStatus {
			case http.StatusFound:
				want := "http://dash.test/login?return=" + url.QueryEscape(tt.target)
				if got := rec.Header().Get("Location"); got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Error("redirect may be cached")
				}
			case http.StatusUnauthorized:
				var body api.Body
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if body != (api.Body{Error: "unauthenticated", Reason: tt.wantReason}) {
					t.Errorf("body = %+v, want reason %q", body, tt.wantReason)
				}
				if rec.Header().Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
				}
			}
		})
	}
}

func TestAuthRedirectKeepsScheme(t *testing.T) {
	a := newTestApp(t)
	h := a.gate()
	req := httptest.NewRequest(http.MethodGet, "https://app.test:8443/p?q=a%20b", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	rec, _, _ := gate(t, h, req)
	want := "http://dash.test/login?return=" + url.QueryEscape("https://app.test:8443/p?q=a%20b")
	if got := rec.Header().Get("Location"); rec.Code != http.StatusFound || got != want {
		t.Errorf("%d Location %q, want 302 %q", rec.Code, got, want)
	}
}

// TestAuthNoURLAnswers401 checks that without the app's url the gate
// cannot know where the login page is and answers 401 even to browsers.
func TestAuthNoURLAnswers401(t *testing.T) {
	a := newTestApp(t, func(a *App) { a.URL = "" })
	h := a.gate()
	req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	rec, next, err := gate(t, h, req)
	if err != nil || next.called || rec.Code != http.StatusUnauthorized {
		t.Errorf("status %d, err %v, next called %v; want 401", rec.Code, err, next.called)
	}
}

// TestAuthRoles prevents privilege escalation: a logged-in user whose
// role is not listed gets 403 as a handler error, so handle_errors runs.
func TestAuthRoles(t *testing.T) {
	a := newTestApp(t)
	viewer := a.newSession(t, a.addUser(t, "viewer@example.com", "password1", RoleViewer))
	admin := a.newSession(t, a.addUser(t, "admin@example.com", "password1", RoleAdmin))
	tests := []struct {
		name   string
		roles  []string
		cookie string
		pass   bool
	}{
		{"any role", nil, viewer, true},
		{"listed role", []string{RoleAdmin, RoleViewer}, viewer, true},
		{"admin listed", []string{RoleAdmin}, admin, true},
		{"role not listed", []string{RoleAdmin, RoleOperator}, viewer, false},
		{"admin not listed", []string{RoleViewer}, admin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := a.gate(tt.roles...)
			req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
			withCookie(req, tt.cookie)
			_, next, err := gate(t, h, req)
			if tt.pass {
				if err != nil || !next.called {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
				t.Errorf("error %v, want a HandlerError with 403", err)
			}
			if next.called {
				t.Error("request reached the next handler")
			}
		})
	}
}

func TestAuthValidate(t *testing.T) {
	tests := []struct {
		name  string
		roles []string
		ok    bool
	}{
		{"none", nil, true},
		{"all", []string{RoleAdmin, RoleOperator, RoleViewer}, true},
		{"unknown", []string{RoleAdmin, "root"}, false},
		{"case matters", []string{"Admin"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Auth{Roles: tt.roles}).Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestIsNavigation(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    bool
	}{
		{"navigate", http.MethodGet, map[string]string{"Sec-Fetch-Mode": "navigate"}, true},
		{"html accept", http.MethodGet, map[string]string{"Accept": "text/html"}, true},
		{"cors beats accept", http.MethodGet, map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "text/html"}, false},
		{"no-cors", http.MethodGet, map[string]string{"Sec-Fetch-Mode": "no-cors"}, false},
		{"json accept", http.MethodGet, map[string]string{"Accept": "application/json"}, false},
		{"post navigate", http.MethodPost, map[string]string{"Sec-Fetch-Mode": "navigate"}, false},
		{"nothing", http.MethodGet, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://app.test/", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if got := request.IsNavigation(req); got != tt.want {
				t.Errorf("isNavigation = %v, want %v", got, tt.want)
			}
		})
	}
}
