package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"

	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// decodeBody decodes a JSON response body into v.
func decodeBody(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
}

// sessionReason asks /api/auth/session about a cookie and returns the
// 401 reason, or "" when the session is valid.
func sessionReason(t *testing.T, d *Dashboard, cookie string) session.Reason {
	t.Helper()
	req := apiRequest(http.MethodGet, "/api/auth/session", "")
	if cookie != "" {
		withCookie(req, cookie)
	}
	rec := serve(t, d, req)
	switch rec.Code {
	case http.StatusOK:
		return ""
	case http.StatusUnauthorized:
		var body api.Body
		decodeBody(t, rec, &body)
		if body.Error != "unauthenticated" || body.Reason == "" {
			t.Fatalf("401 body %+v", body)
		}
		return body.Reason
	}
	t.Fatalf("session: status %d, body %s", rec.Code, rec.Body)
	return ""
}

// TestSetup walks through first-run setup: the setup code gates the first
// admin, so a stranger who reaches a fresh instance first cannot take it
// over, and setup works exactly once.
func TestSetup(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	code, err := a.SetupCode(t.Context())
	if err != nil || len(code) != 19 {
		t.Fatalf("SetupCode = %q, %v", code, err)
	}
	status := func(t *testing.T) bool {
		t.Helper()
		rec := serve(t, d, apiRequest(http.MethodGet, "/api/setup/status", ""))
		var body map[string]bool
		decodeBody(t, rec, &body)
		if strings.Contains(rec.Body.String(), code) {
			t.Fatal("setup status reveals the setup code")
		}
		return body["setup_required"]
	}
	setup := func(code, password string) *httptest.ResponseRecorder {
		return serve(t, d, apiRequest(http.MethodPost, "/api/setup",
			fmt.Sprintf(`{"email":"Admin@Example.com","password":%q,"setup_code":%q}`, password, code)))
	}
	if !status(t) {
		t.Fatal("fresh instance: setup_required false")
	}

	t.Run("wrong code", func(t *testing.T) {
		rec := setup("AAAA-BBBB-CCCC-DDDD", "password123")
		if rec.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403; body %s", rec.Code, rec.Body)
		}
		var body api.Body
		decodeBody(t, rec, &body)
		if body.Field != "setup_code" {
			t.Errorf("body %+v, want field setup_code", body)
		}
		if responseCookie(rec) != nil {
			t.Error("wrong code set a session cookie")
		}
		if n, _ := a.Store().CountUsers(t.Context()); n != 0 {
			t.Errorf("%d users after a wrong code", n)
		}
	})
	t.Run("weak password", func(t *testing.T) {
		rec := setup(code, "short")
		var body api.Body
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
		if decodeBody(t, rec, &body); body.Field != "password" {
			t.Errorf("body %+v, want field password", body)
		}
	})

	var cookie *http.Cookie
	t.Run("right code", func(t *testing.T) {
		// Codes are typed from a log: case and dashes do not matter.
		rec := setup(strings.ToLower(strings.ReplaceAll(code, "-", "")), "password123")
		if rec.Code != http.StatusCreated {
			t.Fatalf("status %d, want 201; body %s", rec.Code, rec.Body)
		}
		var body struct {
			User     account.User `json:"user"`
			Redirect string       `json:"redirect"`
		}
		decodeBody(t, rec, &body)
		if body.User.Email != "admin@example.com" || body.User.Role != RoleAdmin || body.User.ID == "" || body.Redirect != "/" {
			t.Errorf("body %+v", body)
		}
		cookie = responseCookie(rec)
		if cookie == nil {
			t.Fatal("no session cookie")
		}
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.Secure || cookie.Domain != "" {
			t.Errorf("cookie %s, want HttpOnly; SameSite=Lax; Path=/, host-only, not Secure over http", cookie)
		}
		if want := int(DefaultSessionTTL / time.Second); cookie.MaxAge != want {
			t.Errorf("Max-Age %d, want %d", cookie.MaxAge, want)
		}
		if reason := sessionReason(t, d, cookie.Value); reason != "" {
			t.Errorf("new admin's session: reason %q", reason)
		}
	})
	t.Run("setup done", func(t *testing.T) {
		if status(t) {
			t.Error("setup_required still true")
		}
		if code, _ := a.SetupCode(t.Context()); code != "" {
			t.Error("setup code still valid after setup")
		}
		rec := setup(code, "password123")
		if rec.Code != http.StatusConflict {
			t.Errorf("second setup: status %d, want 409; body %s", rec.Code, rec.Body)
		}
		if n, _ := a.Store().CountUsers(t.Context()); n != 1 {
			t.Errorf("%d users, want 1", n)
		}
	})
}

// TestSessionCookieAttributes checks the cookie flags that avoid both
// login loops and leaks: Secure exactly when the browser's connection is
// HTTPS (TLS here, or a trusted proxy's X-Forwarded-Proto), never
// because of an untrusted header.
func TestSessionCookieAttributes(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	tests := []struct {
		name       string
		tls        bool
		xfp        string
		trusted    bool
		wantSecure bool
	}{
		{"http", false, "", false, false},
		{"tls", true, "", false, true},
		{"untrusted forwarded https", false, "https", false, false},
		{"trusted forwarded https", false, "https", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apiRequest(http.MethodPost, "/api/auth/login", `{"email":"ada@example.com","password":"password1"}`)
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				req.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			if tt.wantSecure { // the browser's page is on https
				req.Header.Set("Origin", "https://"+testHost)
			}
			rec := httptest.NewRecorder()
			req, _ = prepare(req, rec)
			caddyhttp.SetVar(req.Context(), caddyhttp.TrustedProxyVarKey, tt.trusted)
			if err := d.ServeHTTP(rec, req, nil); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("login: %v, status %d, body %s", err, rec.Code, rec.Body)
			}
			c := responseCookie(rec)
			if c == nil {
				t.Fatal("no session cookie")
			}
			if c.Secure != tt.wantSecure {
				t.Errorf("Secure = %v, want %v", c.Secure, tt.wantSecure)
			}
			// on HTTPS the host-only cookie no other host can plant
			if want := map[bool]string{true: request.HostSessionCookieName, false: request.SessionCookieName}[tt.wantSecure]; c.Name != want || c.Domain != "" {
				t.Errorf("cookie %s on %s, want %s without Domain", c.Name, tt.name, want)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("cookie %s", c)
			}
		})
	}
}

// TestLoginUserEnumeration prevents user enumeration by message: an
// unknown email, a wrong password, a disabled account and an invalid
// email get byte-identical answers.
func TestLoginUserEnumeration(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	disabled := a.addUser(t, "off@example.com", "password1", RoleViewer)
	setUserDisabled(t, a.dbPath, disabled.ID, true)
	d := a.dashboard()

	attempt := func(t *testing.T, email, password string) *httptest.ResponseRecorder {
		t.Helper()
		rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401; body %s", email, rec.Code, rec.Body)
		}
		if responseCookie(rec) != nil {
			t.Fatalf("%s: failed login set a cookie", email)
		}
		return rec
	}
	want := attempt(t, "ada@example.com", "wrong-password")
	if !strings.Contains(want.Body.String(), account.ErrBadCredentials.Error()) {
		t.Errorf("body %s does not say %q", want.Body, account.ErrBadCredentials)
	}
	for _, tt := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", "wrong-password"},
		{"disabled account, right password", "off@example.com", "password1"},
		{"invalid email", "not an email", "wrong-password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := attempt(t, tt.email, tt.password)
			if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("body %q differs from the wrong-password body %q", got.Body, want.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Retry-After"} {
				if got.Header().Get(h) != want.Header().Get(h) {
					t.Errorf("header %s: %q vs %q", h, got.Header().Get(h), want.Header().Get(h))
				}
			}
		})
	}
}

// TestLoginSessionFixation prevents session fixation: a login always
// issues a new token, and a valid session the browser presented (say, one
// an attacker planted) is revoked.
func TestLoginSessionFixation(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	a.addUser(t, "mallory@example.com", "password2", RoleViewer)
	d := a.dashboard()

	planted := login(t, d, "mallory@example.com", "password2", "")
	victim := login(t, d, "ada@example.com", "password1", planted)
	if victim == planted {
		t.Fatal("login reused the presented session token")
	}
	if reason := sessionReason(t, d, planted); reason != session.ReasonRevoked {
		t.Errorf("presented session: reason %q, want %q", reason, session.ReasonRevoked)
	}
	if reason := sessionReason(t, d, victim); reason != "" {
		t.Errorf("new session: reason %q", reason)
	}
	again := login(t, d, "ada@example.com", "password1", victim)
	if again == victim {
		t.Error("second login reused the token")
	}
	if reason := sessionReason(t, d, victim); reason != session.ReasonRevoked {
		t.Errorf("previous session of the same user: reason %q, want %q", reason, session.ReasonRevoked)
	}
}

// TestLoginRateLimit prevents password guessing: the sixth failed login
// for one account within the window answers 429 with Retry-After, even
// with the right password, until the lockout ends.
func TestLoginRateLimit(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	try := func(t *testing.T, email, password string) *httptest.ResponseRecorder {
		t.Helper()
		return serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	}
	for i := 1; i <= account.AccountFailures; i++ {
		if rec := try(t, "ada@example.com", fmt.Sprintf("guess-%d", i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i, rec.Code)
		}
	}
	for _, tt := range []struct{ name, email, password string }{
		{"wrong password", "ada@example.com", "guess-6"},
		{"right password", "ada@example.com", "password1"},
		{"email in other case", "ADA@example.com", "password1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := try(t, tt.email, tt.password)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429; body %s", rec.Code, rec.Body)
			}
			if got, want := rec.Header().Get("Retry-After"), "900"; got != want {
				t.Errorf("Retry-After %q, want %q", got, want)
			}
			if responseCookie(rec) != nil {
				t.Error("locked login set a cookie")
			}
		})
	}
	t.Run("other account unaffected", func(t *testing.T) {
		if rec := try(t, "bob@example.com", "x-password"); rec.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", rec.Code)
		}
	})
	t.Run("lockout ends", func(t *testing.T) {
		a.clock.Advance(account.LimitLockout)
		if rec := try(t, "ada@example.com", "password1"); rec.Code != http.StatusOK {
			t.Errorf("status %d after the lockout, want 200", rec.Code)
		}
	})
}

// TestLoginSuccessResetsAccountLimit checks that a user who mistypes now
// and then is not locked out by failures spread over successful logins.
func TestLoginSuccessResetsAccountLimit(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	for round := range 2 {
		for i := 1; i < account.AccountFailures; i++ {
			rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", `{"email":"ada@example.com","password":"typo-password"}`))
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("round %d, failure %d: status %d, want 401", round, i, rec.Code)
			}
		}
		login(t, d, "ada@example.com", "password1", "")
	}
}

func TestLoginReturnURL(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	tests := []struct{ name, returnTo, want string }{
		{"none", "", "/"},
		{"path", "/routes?x=1", "/routes?x=1"},
		{"dashboard url", "http://dash.test/diagnostics", "http://dash.test/diagnostics"},
		{"open redirect", "https://evil.com/", "/"},
		{"protocol-relative", "//evil.com", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login",
				fmt.Sprintf(`{"email":"ada@example.com","password":"password1","return_to":%q}`, tt.returnTo)))
			var body struct {
				Redirect string `json:"redirect"`
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if decodeBody(t, rec, &body); body.Redirect != tt.want {
				t.Errorf("redirect %q, want %q", body.Redirect, tt.want)
			}
		})
	}
}

func TestLoginBadBody(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	for _, tt := range []struct{ name, body string }{
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`},
		{"not an object", `["a@b.c"]`},
		{"two values", `{"email":"a@b.c"} {}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", tt.body))
			var body api.Body
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rec.Code)
			}
			if decodeBody(t, rec, &body); body.Field != "body" {
				t.Errorf("body %+v", body)
			}
		})
	}
}

// TestLogout checks that logout revokes the session server-side, so a
// copy of the cookie (stolen, or left in another tab) is worthless.
func TestLogout(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	cookie := login(t, d, "ada@example.com", "password1", "")
	other := login(t, d, "ada@example.com", "password1", "") // another device

	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/auth/logout", "{}"), cookie))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: status %d, want 204; body %s", rec.Code, rec.Body)
	}
	if c := responseCookie(rec); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout cookie %v, want one that deletes the session cookie", c)
	}
	if reason := sessionReason(t, d, cookie); reason != session.ReasonRevoked {
		t.Errorf("old cookie after logout: reason %q, want %q", reason, session.ReasonRevoked)
	}
	if reason := sessionReason(t, d, other); reason != "" {
		t.Errorf("another device's session: reason %q, want valid", reason)
	}

	t.Run("again", func(t *testing.T) {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/auth/logout", "{}"), cookie))
		var body api.Body
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
		if decodeBody(t, rec, &body); body.Reason != session.ReasonRevoked {
			t.Errorf("reason %q, want revoked", body.Reason)
		}
	})
	t.Run("without cookie", func(t *testing.T) {
		rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/logout", "{}"))
		var body api.Body
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
		if decodeBody(t, rec, &body); body.Reason != session.ReasonNoCookie {
			t.Errorf("reason %q, want no_cookie", body.Reason)
		}
	})
}

func TestSessionEndpoint(t *testing.T) {
	a := newTestApp(t)
	u := a.addUser(t, "ada@example.com", "password1", RoleOperator)
	d := a.dashboard()
	cookie := login(t, d, "ada@example.com", "password1", "")

	t.Run("valid", func(t *testing.T) {
		rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/auth/session", ""), cookie))
		var body struct {
			User      account.User `json:"user"`
			SessionID string       `json:"session_id"`
			ExpiresAt time.Time    `json:"expires_at"`
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		decodeBody(t, rec, &body)
		if !reflect.DeepEqual(body.User, account.User{ID: u.ID, Email: u.Email, Role: RoleOperator}) || body.SessionID == "" {
			t.Errorf("body %+v", body)
		}
		if want := a.clock.Now().Add(DefaultSessionTTL); !body.ExpiresAt.Equal(want) {
			t.Errorf("expires_at %v, want %v", body.ExpiresAt, want)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Error("session answer may be cached")
		}
	})
	// A login page opened while logged in follows its return URL, made
	// safe like a login's (attack: open redirect through the login page).
	t.Run("return", func(t *testing.T) {
		for ret, want := range map[string]string{
			"/routes?x=1":          "/routes?x=1",
			"https://evil.example": "/",
			"//evil.example/x":     "/",
		} {
			req, _ := json.Marshal(map[string]string{"return_to": ret})
			rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/auth/handoff", string(req)), cookie))
			var out struct {
				Redirect string `json:"redirect"`
			}
			decodeBody(t, rec, &out)
			if out.Redirect != want {
				t.Errorf("return %q: redirect %q, want %q", ret, out.Redirect, want)
			}
		}
	})
	tests := []struct {
		name   string
		cookie string
		want   session.Reason
	}{
		{"no cookie", "", session.ReasonNoCookie},
		{"malformed", "abc", session.ReasonMalformed},
		{"unknown key", mustKeyring(t, randomSecret(t)).SignToken(keyring.NewToken()), session.ReasonUnknownKey},
		{"bad signature", cookie[:keyring.CookieLen-3] + "AAA", session.ReasonBadSignature},
		{"unknown token", a.keys.SignToken(keyring.NewToken()), session.ReasonRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if reason := sessionReason(t, d, tt.cookie); reason != tt.want {
				t.Errorf("reason %q, want %q", reason, tt.want)
			}
		})
	}
	t.Run("user disabled", func(t *testing.T) {
		setUserDisabled(t, a.dbPath, u.ID, true)
		a.state.sessions.ForgetUser(u.ID)
		if reason := sessionReason(t, d, cookie); reason != session.ReasonUserDisabled {
			t.Errorf("reason %q, want %q", reason, session.ReasonUserDisabled)
		}
	})
}

func TestSessionEndpointTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		want    session.Reason
	}{
		{"within idle", DefaultSessionIdle - time.Second, ""},
		{"idle", DefaultSessionIdle, session.ReasonIdleTimeout},
		{"expired", DefaultSessionTTL, session.ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			a.addUser(t, "ada@example.com", "password1", RoleViewer)
			d := a.dashboard()
			cookie := login(t, d, "ada@example.com", "password1", "")
			a.clock.Advance(tt.advance)
			if reason := sessionReason(t, d, cookie); reason != tt.want {
				t.Errorf("reason %q, want %q", reason, tt.want)
			}
		})
	}
}

// TestAPICrossSite prevents CSRF: a page on another site can post a form
// or a cross-origin fetch with the user's cookie; neither may log in,
// log out or change anything.
func TestAPICrossSite(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	cookie := login(t, d, "ada@example.com", "password1", "")

	tests := []struct {
		name, path, contentType, body, origin, fetchSite string
	}{
		{"form login", "/api/auth/login", "application/x-www-form-urlencoded", "email=ada%40example.com&password=password1", "http://" + testHost, "same-origin"},
		{"text/plain json login", "/api/auth/login", "text/plain", `{"email":"ada@example.com","password":"password1"}`, "http://evil.test", "cross-site"},
		{"cross-site json logout", "/api/auth/logout", "application/json", "{}", "http://evil.test", "cross-site"},
		{"form logout", "/api/auth/logout", "application/x-www-form-urlencoded", "", "http://evil.test", "cross-site"},
		{"same-site subdomain logout", "/api/auth/logout", "application/json", "{}", "http://evil.dash.test", "same-site"},
		{"setup from another site", "/api/setup", "application/json", `{"email":"x@evil.test","password":"password1","setup_code":"x"}`, "http://evil.test", "cross-site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://"+testHost+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			withCookie(req, cookie)
			rec := serve(t, d, req)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403; body %s", rec.Code, rec.Body)
			}
			if responseCookie(rec) != nil {
				t.Error("refused request changed the session cookie")
			}
			if reason := sessionReason(t, d, cookie); reason != "" {
				t.Errorf("session after a cross-site request: reason %q", reason)
			}
		})
	}
}

func TestAPIMethodsAndPaths(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantAllow          string
	}{
		{"GET login", http.MethodGet, "/api/auth/login", http.StatusMethodNotAllowed, "POST"},
		{"GET logout", http.MethodGet, "/api/auth/logout", http.StatusMethodNotAllowed, "POST"},
		{"GET setup", http.MethodGet, "/api/setup", http.StatusMethodNotAllowed, "POST"},
		{"POST session", http.MethodPost, "/api/auth/session", http.StatusMethodNotAllowed, "GET"},
		{"DELETE diagnose", http.MethodDelete, "/api/auth/diagnose", http.StatusMethodNotAllowed, "GET"},
		{"unknown endpoint", http.MethodGet, "/api/nope", http.StatusNotFound, ""},
		{"trailing slash", http.MethodPost, "/api/auth/login/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == http.MethodPost {
				body = "{}"
			}
			rec := serve(t, d, apiRequest(tt.method, tt.path, body))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			var e api.Body
			if decodeBody(t, rec, &e); e.Error == "" {
				t.Error("error body without a message")
			}
		})
	}
}

func TestDashboardPages(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	run := func(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, error) {
		t.Helper()
		rec := httptest.NewRecorder()
		req, _ = prepare(req, rec)
		return rec, d.ServeHTTP(rec, req, nil)
	}
	t.Run("security headers", func(t *testing.T) {
		rec, err := run(t, httptest.NewRequest(http.MethodGet, "http://"+testHost+"/login", nil))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			"Content-Security-Policy": contentSecurityPolicy,
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Error("CSP allows framing")
		}
	})
	t.Run("canonical redirect", func(t *testing.T) {
		for _, target := range []string{"http://127.0.0.1:2015/login?return=%2Fx", "https://dash.test/login?return=%2Fx"} {
			rec, err := run(t, httptest.NewRequest(http.MethodGet, target, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rec.Header().Get("Location"), "http://dash.test/login?return=%2Fx"; rec.Code != http.StatusPermanentRedirect || got != want {
				t.Errorf("%s: %d %q, want 308 %q", target, rec.Code, got, want)
			}
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		_, err := run(t, httptest.NewRequest(http.MethodGet, "http://"+testHost+"/nope", nil))
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
			t.Errorf("error %v, want HandlerError 404", err)
		}
	})
	t.Run("POST page", func(t *testing.T) {
		rec, err := run(t, httptest.NewRequest(http.MethodPost, "http://"+testHost+"/login", nil))
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("error %v, Allow %q; want HandlerError 405", err, rec.Header().Get("Allow"))
		}
	})
}
