package proxyos

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// startOP starts a test OpenID provider on loopback.
func startOP(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() }) //nolint:errcheck // test end
	return op
}

// oidcApp is a test app with the provider "corp" at op (on real time:
// the provider's tokens carry real times).
func oidcApp(t *testing.T, op *mockoidc.MockOIDC, configure ...func(*App)) *testApp {
	t.Helper()
	return newTestApp(t, append([]func(*App){func(a *App) {
		a.now = time.Now
		a.OIDC = []oidc.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID, ClientSecret: op.ClientSecret,
			Scopes: []string{"openid", "email", "groups"}}}
	}}, configure...)...)
}

// oidcLogin runs a browser's login at the provider through the dashboard:
// the start with query, the provider (which logs the queued user in at
// once), the callback with the state cookie. It returns the callback's
// response.
func oidcLogin(t *testing.T, d *Dashboard, query string) *http.Response {
	t.Helper()
	rec := serve(t, d, apiRequest(http.MethodGet, "/api/auth/oidc/corp?"+query, ""))
	if rec.Code != http.StatusFound {
		t.Fatalf("start: %d %s (%s)", rec.Code, rec.Body, rec.Header().Get("Location"))
	}
	var state *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "proxyos_oidc" {
			state = c
		}
	}
	if state == nil || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode {
		t.Fatalf("start: state cookie %+v, want an HttpOnly Lax one", state)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, err := url.Parse(res.Header.Get("Location"))
	if err != nil || cb.Host != testHost || cb.Path != "/api/auth/oidc/corp/callback" {
		t.Fatalf("the provider sent the browser to %q, want the callback on the dashboard's url", res.Header.Get("Location"))
	}
	req := apiRequest(http.MethodGet, cb.RequestURI(), "")
	req.Header.Del("Origin")
	req.Header.Set("Sec-Fetch-Site", "cross-site") // the provider's redirect
	req.AddCookie(state)
	out := serve(t, d, req)
	return out.Result()
}

func sessionCookieOf(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == request.SessionCookieName && c.MaxAge > 0 {
			return c.Value
		}
	}
	return ""
}

// The whole flow through the dashboard's handlers: the start sends the
// browser to the provider, the callback logs it in and sends it where
// the login page's return URL says; the login is audited with the
// provider, and TOTP is not asked.
func TestOIDCLoginThroughDashboard(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op)
	d := a.dashboard()
	u := a.addUser(t, "jane.doe@example.com", "correct horse battery", RoleOperator) // mockoidc's default user
	res := oidcLogin(t, d, "return=%2Froutes%3Fq%3D1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/routes?q=1" {
		t.Fatalf("callback: %d to %q, want 303 to /routes?q=1", res.StatusCode, res.Header.Get("Location"))
	}
	cookie := sessionCookieOf(res)
	rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/auth/session", ""), cookie))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), u.ID) {
		t.Fatalf("session after the callback: %d %s", rec.Code, rec.Body)
	}
}

// Open redirect via the return URL: a return URL to another site, kept
// across the round trip to the provider, is made safe after the callback
// exactly as after a password login.
func TestOIDCReturnURLIsNoOpenRedirect(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op)
	d := a.dashboard()
	a.addUser(t, "jane.doe@example.com", "correct horse battery", RoleViewer)
	for _, evil := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		res := oidcLogin(t, d, "return="+url.QueryEscape(evil))
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("return %q: %d to %q, want 303 to /", evil, res.StatusCode, loc)
		}
	}
}

// A provider that is down when Caddy starts does not stop it (nothing is
// fetched at provision); a login with it lands on the login page with
// the reason unreachable, the return URL kept, and password logins keep
// working.
func TestOIDCProviderDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/oidc"
	ln.Close()
	a := newTestApp(t, func(a *App) {
		a.OIDC = []oidc.Provider{{Name: "corp", Issuer: down, ClientID: "proxyos", ClientSecret: "s3cret-value-xyz"}}
	})
	d := a.dashboard()
	rec := serve(t, d, apiRequest(http.MethodGet, "/api/auth/oidc/corp?return=%2Froutes&state=st1", ""))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q := loc.Query()
	if rec.Code != http.StatusSeeOther || loc.Path != "/login" || q.Get("oidc_error") != oidc.CodeUnreachable ||
		q.Get("provider") != "corp" || q.Get("return") != "/routes" || q.Get("state") != "st1" {
		t.Fatalf("start with the provider down: %d to %q", rec.Code, loc)
	}
	a.addUser(t, "ann@example.com", "correct horse battery", RoleViewer)
	login(t, d, "ann@example.com", "correct horse battery", "")
}

// The login page learns the ways to log in; with password_login off the
// password login is refused. The client secret is in no answer.
func TestOIDCMethodsAndPasswordLoginOff(t *testing.T) {
	op := startOP(t)
	off := false
	a := oidcApp(t, op, func(a *App) { a.PasswordLogin = &off })
	d := a.dashboard()
	rec := serve(t, d, apiRequest(http.MethodGet, "/api/auth/methods", ""))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"oidc":["corp"],"password":false}`+"\n" {
		t.Fatalf("methods: %d %q", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), op.ClientSecret) {
		t.Fatal("the client secret shows in the API")
	}
	a.addUser(t, "ann@example.com", "correct horse battery", RoleViewer)
	rec = serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", `{"email":"ann@example.com","password":"correct horse battery"}`))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("password login with password_login off: %d %s", rec.Code, rec.Body)
	}
}

// A login begun under another host than the app's url is sent there
// first, so the state cookie is on the host the callback comes back to.
func TestOIDCStartOnCanonicalHost(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op)
	d := a.dashboard()
	req := apiRequest(http.MethodGet, "/api/auth/oidc/corp?return=%2F", "")
	req.Host = "other.test"
	rec := serve(t, d, req)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "http://"+testHost+"/api/auth/oidc/corp?return=%2F" {
		t.Fatalf("start on another host: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
}

// Login CSRF through the handlers: a callback URL of the attacker's own
// login, opened in a victim's browser (which has no state cookie for
// it), does not log the victim in.
func TestOIDCCallbackWithoutStateCookie(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op)
	d := a.dashboard()
	a.addUser(t, "jane.doe@example.com", "correct horse battery", RoleViewer)
	rec := serve(t, d, apiRequest(http.MethodGet, "/api/auth/oidc/corp?return=%2F", ""))
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, _ := url.Parse(res.Header.Get("Location"))
	out := serve(t, d, apiRequest(http.MethodGet, cb.RequestURI(), "")) // no cookie
	if out.Code != http.StatusSeeOther || !strings.HasPrefix(out.Header().Get("Location"), "/login?oidc_error=state") || responseCookie(out) != nil && responseCookie(out).MaxAge > 0 {
		t.Fatalf("callback without the state cookie: %d to %q", out.Code, out.Header().Get("Location"))
	}
}

// Bad OIDC configuration is refused at provision with an error naming
// the field, and never shows the client secret.
func TestOIDCBadConfigRefused(t *testing.T) {
	const secret = "very-secret-client-secret-123"
	good := oidc.Provider{Name: "corp", Issuer: "https://id.example.com", ClientID: "proxyos", ClientSecret: secret}
	for _, c := range []struct {
		name string
		edit func(*App)
		want string
	}{
		{"missing client_id", func(a *App) { a.OIDC[0].ClientID = "" }, "client_id"},
		{"client_id from an unset variable", func(a *App) { a.OIDC[0].ClientID = "{env.PROXYOS_TEST_UNSET_VAR}" }, "client_id"},
		{"bad issuer", func(a *App) { a.OIDC[0].Issuer = "not a url" }, "issuer"},
		{"unknown role", func(a *App) { a.OIDC[0].Roles = map[string][]string{"owner": {"g"}} }, "roles"},
		{"no url", func(a *App) { a.URL = "" }, "url"},
		{"password login off without providers", func(a *App) { off := false; a.OIDC = nil; a.PasswordLogin = &off }, "password_login"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", t.TempDir())
			a := &App{Secret: testSecret, Database: &Database{Driver: store.SQLite, DSN: t.TempDir() + "/p.db"},
				URL: "http://" + testHost, OIDC: []oidc.Provider{good}}
			c.edit(a)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := a.Provision(ctx)
			a.Cleanup() //nolint:errcheck // best effort
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Provision = %v, want an error naming %s", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the client secret: %v", err)
			}
		})
	}
}

// A demoted user's sessions end at their next login through the
// provider (like a role change by an admin).
func TestOIDCDemotionEndsSessions(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op, func(a *App) {
		a.OIDC[0].Roles = map[string][]string{"admin": {"admins"}, "viewer": {"engineering"}}
	})
	d := a.dashboard()
	a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	u := a.addUser(t, "jane.doe@example.com", "correct horse battery", RoleAdmin)
	old := a.newSession(t, u)
	op.QueueUser(&mockoidc.MockUser{Subject: "s-jane", Email: "jane.doe@example.com", EmailVerified: true, Groups: []string{"engineering"}})
	res := oidcLogin(t, d, "")
	if res.StatusCode != http.StatusSeeOther || sessionCookieOf(res) == "" {
		t.Fatalf("callback: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, reason, _ := a.verifyRequest(withCookie(apiRequest(http.MethodGet, "/", ""), old)); reason != session.ReasonRevoked {
		t.Errorf("the admin session after the demotion: %q, want revoked", reason)
	}
	rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/auth/session", ""), sessionCookieOf(res)))
	if !strings.Contains(rec.Body.String(), `"role":"viewer"`) {
		t.Errorf("new session: %s, want role viewer", rec.Body)
	}
}

// An account made by a first login with a provider has no password: a
// password login is refused exactly like one for an unknown account (so
// it tells nothing), whatever the password, until an admin sets one.
func TestOIDCCreatedAccountHasNoPassword(t *testing.T) {
	op := startOP(t)
	a := oidcApp(t, op, func(a *App) { a.OIDC[0].AutoCreate = true })
	d := a.dashboard()
	if res := oidcLogin(t, d, ""); sessionCookieOf(res) == "" {
		t.Fatalf("first login: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	u, err := a.state.store.UserByEmail(context.Background(), "jane.doe@example.com")
	if err != nil || u.PasswordHash != "" {
		t.Fatalf("created %+v, %v; want no password", u, err)
	}
	unknown := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", `{"email":"nobody@example.com","password":"x"}`))
	for _, pw := range []string{"", "x", "correct horse battery"} {
		rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", `{"email":"jane.doe@example.com","password":"`+pw+`"}`))
		if rec.Code != unknown.Code || rec.Body.String() != unknown.Body.String() {
			t.Errorf("password %q: %d %s; an unknown account gets %d %s", pw, rec.Code, rec.Body, unknown.Code, unknown.Body)
		}
	}
}

// Placeholders work in issuer, client_id and client_secret: the values
// are checked once resolved, and the login uses them.
func TestOIDCPlaceholders(t *testing.T) {
	op := startOP(t)
	t.Setenv("PROXYOS_TEST_ISSUER", op.Issuer())
	t.Setenv("PROXYOS_TEST_CLIENT_ID", op.ClientID)
	t.Setenv("PROXYOS_TEST_CLIENT_SECRET", op.ClientSecret)
	a := oidcApp(t, op, func(a *App) {
		a.OIDC[0].Issuer, a.OIDC[0].ClientID = "{env.PROXYOS_TEST_ISSUER}", "{env.PROXYOS_TEST_CLIENT_ID}"
		a.OIDC[0].ClientSecret = "{env.PROXYOS_TEST_CLIENT_SECRET}"
	})
	a.addUser(t, "jane.doe@example.com", "correct horse battery", RoleViewer)
	if res := oidcLogin(t, a.dashboard(), ""); sessionCookieOf(res) == "" {
		t.Fatalf("login with placeholders: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
