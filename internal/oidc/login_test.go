package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// idUser is a user of the test provider whose ID token the test shapes:
// email_verified present or not, groups, and (for attacks) the nonce and
// audience.
type idUser struct {
	sub, email string
	verified   *bool
	groups     []string
	nonce      *string  // replaces the login's nonce
	aud        []string // replaces the audience
}

func (u *idUser) ID() string { return u.sub }

func (u *idUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": u.sub, "email": u.email})
}

type idClaims struct {
	*mockoidc.IDTokenClaims
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

func (u *idUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.nonce != nil {
		c.Nonce = *u.nonce
	}
	if u.aud != nil {
		c.Audience = u.aud
	}
	return &idClaims{IDTokenClaims: c, Email: u.email, EmailVerified: u.verified, Groups: u.groups}, nil
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// fixture is a provider on loopback and the login service of one config
// using it, on a fresh store, with its logs observed.
type fixture struct {
	op        *mockoidc.MockOIDC
	discovers *atomic.Int32 // requests of the discovery document
	svc       *Service
	store     *store.Store
	sessions  *session.Cache
	keys      *keyring.Keyring
	logs      *observer.ObservedLogs
	logger    *zap.Logger
}

// newProvider starts a test provider, edit changing it before it starts.
func newProvider(t *testing.T, edit func(*mockoidc.MockOIDC)) (*mockoidc.MockOIDC, *atomic.Int32) {
	t.Helper()
	op, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	discovers := new(atomic.Int32)
	op.AddMiddleware(func(next http.Handler) http.Handler { //nolint:errcheck // not started yet
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
				discovers.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	if edit != nil {
		edit(op)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() }) //nolint:errcheck // test end
	return op, discovers
}

// newFixture starts a provider and a service for p (its issuer and
// client filled in).
func newFixture(t *testing.T, p Provider, edit func(*mockoidc.MockOIDC)) *fixture {
	t.Helper()
	f := &fixture{}
	f.op, f.discovers = newProvider(t, edit)
	f.store, _ = testkit.OpenStore(t)
	k, err := keyring.New(testkit.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.keys = k
	var core zapcore.Core
	core, f.logs = observer.New(zap.DebugLevel)
	f.logger = zap.New(core)
	f.sessions = session.NewCache(f.store, audit.New(f.store, time.Now, f.log), time.Now, f.log)
	if p.Name == "" {
		p.Name = "corp"
	}
	p.Issuer, p.ClientID, p.ClientSecret = f.op.Issuer(), f.op.ClientID, f.op.ClientSecret
	if p.Scopes == nil {
		p.Scopes = []string{"openid", "email", "groups"}
	}
	f.build(t, p)
	return f
}

func (f *fixture) log() *zap.Logger { return f.logger }

// build (re)makes the service for p, as a config reload would.
func (f *fixture) build(t *testing.T, p Provider) {
	t.Helper()
	if err := Validate([]Provider{p}); err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://dash.test")
	f.svc = New([]Provider{p}, base, &http.Client{Timeout: 5 * time.Second}, Service{
		Store: f.store, Keys: f.keys, Sessions: f.sessions, Audit: audit.New(f.store, time.Now, f.log),
		Now: time.Now, Logger: f.log,
	})
}

// authorize follows the authorization URL at the provider (which logs
// the next queued user in at once) and returns the callback's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), "http://dash.test"+CallbackPath("corp")) {
		t.Fatalf("authorize: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

// login logs u in through the whole flow, as one browser, and returns
// what Finish returned.
func (f *fixture) login(t *testing.T, u mockoidc.User, flow Flow) (store.User, Flow, error) {
	t.Helper()
	f.op.QueueUser(u)
	authURL, state, err := f.svc.Begin(context.Background(), "corp", "192.0.2.7", flow)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	q := authorize(t, authURL)
	return f.svc.Finish(context.Background(), "corp", Callback{State: q.Get("state"), Code: q.Get("code"),
		CookieState: state, ClientIP: "192.0.2.7"})
}

// wantCode fails unless err is an *Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want an *Error with code %s", err, code)
	}
	if !strings.Contains(e.Error(), "corp") {
		t.Errorf("error %q does not name the provider", e.Error())
	}
}

func (f *fixture) audit(t *testing.T) []store.AuditEntry {
	t.Helper()
	es, err := f.store.ListAudit(context.Background(), store.AuditFilter{}, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// A verified email logs in to the existing account with that email, links
// the provider's subject to it (so a changed email still finds it), asks
// for no second factor (the account has TOTP on) and records the
// provider in the audit log.
func TestLoginLinksVerifiedEmail(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	ctx := context.Background()
	want := testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "operator")
	if err := f.store.SetTOTPPending(ctx, want.ID, "sealed-secret"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.EnableTOTP(ctx, want.ID, "sealed-secret", 0, nil); err != nil {
		t.Fatal(err)
	}
	flow := Flow{ReturnTo: "https://app.example.com/x?y=1", HandoffState: "hs-123"}
	u, got, err := f.login(t, &idUser{sub: "s-ann", email: "Ann@Example.com", verified: yes()}, flow)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != want.ID || u.Role != "operator" || !u.TOTPEnabled {
		t.Fatalf("logged in as %+v, want %s as operator, with TOTP on", u, want.ID)
	}
	if got != flow {
		t.Errorf("flow after the callback = %+v, want %+v (the return URL and handoff state survive)", got, flow)
	}
	link, err := f.store.OIDCIdentityOf(ctx, "corp", "s-ann")
	if err != nil || link.UserID != want.ID {
		t.Fatalf("link = %+v, %v", link, err)
	}
	// The provider changes the email: the subject still maps.
	u, _, err = f.login(t, &idUser{sub: "s-ann", email: "ann.new@example.com", verified: yes()}, Flow{})
	if err != nil || u.ID != want.ID {
		t.Fatalf("after an email change: %+v, %v", u, err)
	}
	var found bool
	for _, e := range f.audit(t) {
		if e.Action == string(audit.Login) && e.Outcome == audit.Success && e.Target == "ann@example.com" {
			found = strings.Contains(string(e.Details), `"method":"oidc"`) && strings.Contains(string(e.Details), `"provider":"corp"`)
		}
	}
	if !found {
		t.Errorf("no login entry with method oidc and provider corp in %+v", f.audit(t))
	}
}

// Login CSRF / state fixation: a callback whose state is not the one of
// the browser's cookie (an attacker's own login, planted in a victim's
// browser) is refused, and its login in flight stays unused for nobody.
func TestLoginCSRFStateMustBeTheBrowsers(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "eve@example.com", "correct horse battery", "viewer")
	f.op.QueueUser(&idUser{sub: "s-eve", email: "eve@example.com", verified: yes()})
	authURL, _, err := f.svc.Begin(context.Background(), "corp", "192.0.2.7", Flow{})
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, authURL)
	for name, cookie := range map[string]string{"no cookie": "", "another login's state": "c29tZXRoaW5nIGVsc2U"} {
		_, _, err := f.svc.Finish(context.Background(), "corp", Callback{State: q.Get("state"), Code: q.Get("code"), CookieState: cookie})
		t.Run(name, func(t *testing.T) { wantCode(t, err, CodeState) })
	}
}

// Code replay: a callback works once. The same callback again (a copied
// URL, with the browser's cookie) finds no login in flight; the code with
// a fresh login of the attacker's is refused by the provider (spent, and
// not this login's PKCE verifier).
func TestCodeReplayRefused(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	f.op.QueueUser(&idUser{sub: "s-ann", email: "ann@example.com", verified: yes()})
	authURL, state, err := f.svc.Begin(context.Background(), "corp", "192.0.2.7", Flow{})
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, authURL)
	cb := Callback{State: q.Get("state"), Code: q.Get("code"), CookieState: state}
	if _, _, err := f.svc.Finish(context.Background(), "corp", cb); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Finish(context.Background(), "corp", cb)
	wantCode(t, err, CodeState)

	_, state2, err := f.svc.Begin(context.Background(), "corp", "192.0.2.7", Flow{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Finish(context.Background(), "corp", Callback{State: state2, Code: cb.Code, CookieState: state2})
	wantCode(t, err, CodeRefused)
}

// Token substitution: an ID token minted for another login (its nonce is
// not this login's) is refused even though the provider signed it.
func TestNonceMismatchRefused(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	other := "nonce-of-another-login"
	_, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes(), nonce: &other}, Flow{})
	wantCode(t, err, CodeToken)
}

// An ID token for another client (aud) of the same provider is refused:
// a token the user gave some other application cannot log in here.
func TestIDTokenForAnotherClientRefused(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	_, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes(), aud: []string{"some-other-app"}}, Flow{})
	wantCode(t, err, CodeToken)
	// Issued to another client, for us too: no azp naming us.
	_, _, err = f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes(), aud: []string{"some-other-app", f.op.ClientID}}, Flow{})
	wantCode(t, err, CodeToken)
}

// An expired ID token is refused.
func TestExpiredIDTokenRefused(t *testing.T) {
	f := newFixture(t, Provider{}, func(op *mockoidc.MockOIDC) { op.AccessTTL = -time.Minute })
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	_, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{})
	wantCode(t, err, CodeToken)
}

// Account takeover by an unverified email: a provider account claiming
// someone's email without having verified it neither logs in to the
// existing password account nor gets linked to it.
func TestUnverifiedEmailCannotTakeOverAccount(t *testing.T) {
	f := newFixture(t, Provider{AutoCreate: true}, nil)
	testkit.AddUser(t, f.store, "boss@example.com", "correct horse battery", "admin")
	_, _, err := f.login(t, &idUser{sub: "s-mallory", email: "boss@example.com", verified: no()}, Flow{})
	wantCode(t, err, CodeUnverified)
	if _, err := f.store.OIDCIdentityOf(context.Background(), "corp", "s-mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the unverified subject was linked: %v", err)
	}
}

// An account disabled in proxyos stays locked out through the provider,
// whether linked already or not.
func TestDisabledAccountRefused(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	u := testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	if _, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{}); err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := f.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{})
	wantCode(t, err, CodeDisabled)
}

// With auto_create off an unknown email is refused and no account is
// made; with it on, the account is made without a password, with the
// default role, and only within allowed_domains.
func TestUnknownEmailAndAutoCreate(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	ctx := context.Background()
	_, _, err := f.login(t, &idUser{sub: "s-new", email: "new@example.com", verified: yes()}, Flow{})
	wantCode(t, err, CodeUnknownUser)
	if n, _ := f.store.CountUsers(ctx); n != 0 {
		t.Fatalf("%d users after a refused login", n)
	}

	p := f.svc.providers[0].Provider
	p.AutoCreate, p.AllowedDomains, p.DefaultRole = true, []string{"example.com"}, "operator"
	f.build(t, p)
	_, _, err = f.login(t, &idUser{sub: "s-out", email: "someone@elsewhere.test", verified: yes()}, Flow{})
	wantCode(t, err, CodeDomain)
	u, _, err := f.login(t, &idUser{sub: "s-new", email: "new@example.com", verified: yes()}, Flow{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.store.UserByID(ctx, u.ID)
	if err != nil || stored.Email != "new@example.com" || stored.Role != "operator" || stored.PasswordHash != "" {
		t.Fatalf("created %+v, %v; want new@example.com, operator, no password", stored, err)
	}
}

// Groups map to roles at each login; a user removed from the admins'
// group is demoted at the next login, and their other sessions end.
func TestGroupsMapRolesAndDemote(t *testing.T) {
	f := newFixture(t, Provider{AutoCreate: true, Roles: map[string][]string{
		"admin": {"ops-admins"}, "operator": {"ops"}, "viewer": {"staff"},
	}, DefaultRole: RoleNone}, nil)
	ctx := context.Background()
	testkit.AddUser(t, f.store, "root@example.com", "correct horse battery", "admin") // so a demotion is allowed
	u, _, err := f.login(t, &idUser{sub: "s-kim", email: "kim@example.com", verified: yes(), groups: []string{"staff", "ops-admins"}}, Flow{})
	if err != nil || u.Role != "admin" {
		t.Fatalf("first login: %+v, %v; want admin", u, err)
	}
	cookie, _, err := f.sessions.Create(ctx, f.keys, u, time.Hour, "192.0.2.7", "test")
	if err != nil {
		t.Fatal(err)
	}
	u, _, err = f.login(t, &idUser{sub: "s-kim", email: "kim@example.com", verified: yes(), groups: []string{"staff"}}, Flow{})
	if err != nil || u.Role != "viewer" {
		t.Fatalf("after leaving ops-admins: %+v, %v; want viewer", u, err)
	}
	if stored, _ := f.store.UserByID(ctx, u.ID); stored.Role != "viewer" {
		t.Errorf("stored role %q, want viewer", stored.Role)
	}
	if _, reason, err := f.sessions.Verify(ctx, f.keys, cookie, time.Hour); err != nil || reason != session.ReasonRevoked {
		t.Errorf("the admin session after the demotion: reason %q, %v; want revoked", reason, err)
	}
	_, _, err = f.login(t, &idUser{sub: "s-kim", email: "kim@example.com", verified: yes(), groups: []string{"contractors"}}, Flow{})
	wantCode(t, err, CodeNoRole)
}

// The provider is discovered when a login starts, not before: one that is
// down does not stop a config from loading, the login says it is
// unreachable (naming it, without the network's words), and once it is
// back logins work; when it goes down again, the next login says so
// before sending the browser to it.
func TestProviderDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	f := newFixture(t, Provider{}, nil)
	if n := f.discovers.Load(); n != 0 {
		t.Fatalf("%d discovery requests before any login", n)
	}
	p := f.svc.providers[0].Provider
	p.Issuer = "http://" + addr + "/oidc"
	f.build(t, p)
	_, _, err = f.svc.Begin(context.Background(), "corp", "192.0.2.7", Flow{})
	wantCode(t, err, CodeUnreachable)
	for _, bad := range []string{"dial", "refused", addr} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error %q shows the network's words %q", err, bad)
		}
	}

	// The real provider (up) works after its failure was retried.
	p.Issuer = f.op.Issuer()
	f.build(t, p)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	if _, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{}); err != nil {
		t.Fatal(err)
	}
	f.op.Shutdown() //nolint:errcheck // stops it
	// The discovery of the login above serves for rediscoverAfter; the
	// first login after it finds the provider down.
	f.svc.providers[0].now = func() time.Time { return time.Now().Add(rediscoverAfter) }
	_, _, err = f.svc.Begin(context.Background(), "corp", "192.0.2.7", Flow{})
	wantCode(t, err, CodeUnreachable)
}

// A burst of logins costs the provider one discovery, and the keys are
// fetched once for all of them: an anonymous client clicking "Sign in
// with…" cannot make proxyos send the provider a request per click.
// Past rediscoverAfter a login discovers the provider again and keeps
// the keys it has.
func TestDiscoveryReused(t *testing.T) {
	keyFetches := new(atomic.Int32)
	f := newFixture(t, Provider{}, func(op *mockoidc.MockOIDC) {
		op.AddMiddleware(func(next http.Handler) http.Handler { //nolint:errcheck // not started yet
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "jwks") {
					keyFetches.Add(1)
				}
				next.ServeHTTP(w, r)
			})
		})
	})
	// Real time (the provider's tokens carry it), moved on by hand.
	var ahead atomic.Int64
	f.svc.providers[0].now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	u := &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}
	for range 3 {
		if _, _, err := f.login(t, u, Flow{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		if _, _, err := f.svc.Begin(context.Background(), "corp", "192.0.2.8", Flow{}); err != nil {
			t.Fatal(err)
		}
	}
	if d, k := f.discovers.Load(), keyFetches.Load(); d != 1 || k != 1 {
		t.Fatalf("3 logins and 20 starts: %d discoveries and %d key fetches, want 1 and 1", d, k)
	}
	ahead.Store(int64(rediscoverAfter))
	if _, _, err := f.login(t, u, Flow{}); err != nil {
		t.Fatal(err)
	}
	if d, k := f.discovers.Load(), keyFetches.Load(); d != 2 || k != 1 {
		t.Fatalf("a login past rediscoverAfter: %d discoveries and %d key fetches, want 2 and 1", d, k)
	}
}

// The provider's keys rotate: a token signed with a key the verifier has
// not seen makes it fetch the keys again.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	u := &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}
	if _, _, err := f.login(t, u, Flow{}); err != nil {
		t.Fatal(err)
	}
	kp, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	f.op.Keypair = kp
	if _, _, err := f.login(t, u, Flow{}); err != nil {
		t.Fatalf("after the provider rotated its key: %v", err)
	}
}

// The client secret never shows: not in errors, logs or the audit log,
// even when the provider echoes it back (as the test provider does when
// it refuses a wrong one).
func TestClientSecretNeverShown(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	p := f.svc.providers[0].Provider
	p.ClientSecret = "wrong-secret-7f3a9c1d"
	f.build(t, p)
	_, _, err := f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{})
	wantCode(t, err, CodeRefused)
	var all strings.Builder
	all.WriteString(err.Error())
	for _, e := range f.logs.All() {
		all.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			all.WriteString(k + "=" + toString(v))
		}
	}
	for _, e := range f.audit(t) {
		all.Write(e.Details)
	}
	if strings.Contains(all.String(), p.ClientSecret) {
		t.Errorf("the client secret shows in errors, logs or audit: %s", all.String())
	}
	if !strings.Contains(all.String(), "[redacted]") {
		t.Errorf("the provider's answer was not logged (redacted): %s", all.String())
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A wrong state, an unknown provider and a callback for another provider
// are refused; Validate names the field of a bad config.
func TestValidateNamesTheField(t *testing.T) {
	good := Provider{Name: "corp", Issuer: "https://id.example.com", ClientID: "proxyos"}
	for _, c := range []struct {
		name string
		edit func(*Provider)
		want string
	}{
		{"missing client_id", func(p *Provider) { p.ClientID = "" }, "client_id"},
		{"bad issuer", func(p *Provider) { p.Issuer = "id.example.com/realms/x" }, "issuer"},
		{"missing issuer", func(p *Provider) { p.Issuer = "" }, "issuer"},
		{"unknown role", func(p *Provider) { p.Roles = map[string][]string{"superuser": {"g"}} }, "roles"},
		{"bad default_role", func(p *Provider) { p.DefaultRole = "root" }, "default_role"},
		{"bad name", func(p *Provider) { p.Name = "a b" }, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := good
			c.edit(&p)
			err := Validate([]Provider{p})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, c.want)
			}
		})
	}
	if err := Validate([]Provider{good, good}); err == nil {
		t.Error("two providers of one name accepted")
	}
	if err := Validate([]Provider{good}); err != nil {
		t.Error(err)
	}
}

// A forged ID token: signed with a key the provider does not publish
// (here the provider's key set holds another key) is refused.
func TestIDTokenNotSignedByProviderRefused(t *testing.T) {
	other, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Provider{}, func(op *mockoidc.MockOIDC) {
		op.AddMiddleware(func(next http.Handler) http.Handler { //nolint:errcheck // not started yet
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/jwks.json") {
					jwks, _ := other.JWKS()
					w.Header().Set("Content-Type", "application/json")
					w.Write(jwks) //nolint:errcheck // test server
					return
				}
				next.ServeHTTP(w, r)
			})
		})
	})
	testkit.AddUser(t, f.store, "ann@example.com", "correct horse battery", "viewer")
	_, _, err = f.login(t, &idUser{sub: "s-ann", email: "ann@example.com", verified: yes()}, Flow{})
	wantCode(t, err, CodeToken)
}

// The provider's groups never demote the last admin (nobody could
// administer proxyos any more): the login goes on with the role kept.
func TestGroupsDoNotDemoteLastAdmin(t *testing.T) {
	f := newFixture(t, Provider{Roles: map[string][]string{"admin": {"admins"}}}, nil)
	testkit.AddUser(t, f.store, "root@example.com", "correct horse battery", "admin")
	u, _, err := f.login(t, &idUser{sub: "s-root", email: "root@example.com", verified: yes(), groups: []string{"staff"}}, Flow{})
	if err != nil || u.Role != "admin" {
		t.Fatalf("the last admin outside the admins' group: %+v, %v; want a login as admin", u, err)
	}
	if stored, _ := f.store.UserByEmail(context.Background(), "root@example.com"); stored.Role != "admin" {
		t.Errorf("stored role %q, want admin", stored.Role)
	}
}

// Strangers cannot make the server store logins in flight without bound:
// past MaxLoginsPerNetwork from one network, starts are refused (busy)
// and nothing more is stored, while other networks still start.
func TestLoginsInFlightBounded(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	ctx := context.Background()
	for i := 0; i < MaxLoginsPerNetwork; i++ {
		if _, _, err := f.svc.Begin(ctx, "corp", "2001:db8::1", Flow{}); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	_, _, err := f.svc.Begin(ctx, "corp", "2001:db8::2", Flow{}) // the same /64
	wantCode(t, err, CodeBusy)
	if c, _ := f.store.CountOIDCLogins(ctx, clientNetworks("2001:db8::1"), time.Now()); c.Network != MaxLoginsPerNetwork {
		t.Errorf("%d logins in flight from the network, want %d", c.Network, MaxLoginsPerNetwork)
	}
	if _, _, err := f.svc.Begin(ctx, "corp", "198.51.100.4", Flow{}); err != nil {
		t.Errorf("another network: %v", err)
	}
}

// One holder of an IPv6 /48 (65,536 /64s) cannot fill the bound of all
// logins in flight and so lock everyone out of signing in with a
// provider: past MaxLoginsPer48 its starts are refused (past
// MaxLoginsPer56 within one /56), and a stranger elsewhere still starts.
func TestLoginsInFlightBoundedPer48(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	ctx := context.Background()
	refused := 0
	for n := 0; n < MaxLoginsPer48+MaxLoginsPerNetwork; n++ {
		ip := fmt.Sprintf("2001:db8:1:%x::1", n<<8) // a new /56 of the same /48 each time
		if _, _, err := f.svc.Begin(ctx, "corp", ip, Flow{}); err != nil {
			wantCode(t, err, CodeBusy)
			refused++
		}
	}
	if c, _ := f.store.CountOIDCLogins(ctx, clientNetworks("2001:db8:1::1"), time.Now()); c.Net48 != MaxLoginsPer48 || refused != MaxLoginsPerNetwork {
		t.Errorf("%d logins in flight from the /48 and %d refused, want %d and %d", c.Net48, refused, MaxLoginsPer48, MaxLoginsPerNetwork)
	}
	if _, _, err := f.svc.Begin(ctx, "corp", "2001:db8:2::1", Flow{}); err != nil {
		t.Errorf("another /48: %v", err)
	}
}

// In a cluster, a login started on one node finishes on another (the
// state lives in the shared PostgreSQL database), once: replaying the
// callback on the first node finds nothing.
func TestLoginAcrossNodes(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	f := newFixture(t, Provider{}, nil)
	p := f.svc.providers[0].Provider
	node := func() *Service {
		st := testkit.OpenPostgres(t, dsn)
		base, _ := url.Parse("http://dash.test")
		return New([]Provider{p}, base, &http.Client{Timeout: 5 * time.Second}, Service{
			Store: st, Keys: f.keys, Sessions: session.NewCache(st, audit.New(st, time.Now, f.log), time.Now, f.log),
			Audit: audit.New(st, time.Now, f.log), Now: time.Now, Logger: f.log,
		})
	}
	a, b := node(), node()
	testkit.AddUser(t, a.Store, "ann@example.com", "correct horse battery", "viewer")
	f.op.QueueUser(&idUser{sub: "s-ann", email: "ann@example.com", verified: yes()})
	ctx := context.Background()
	authURL, state, err := a.Begin(ctx, "corp", "192.0.2.7", Flow{ReturnTo: "/routes"})
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, authURL)
	cb := Callback{State: q.Get("state"), Code: q.Get("code"), CookieState: state}
	u, flow, err := b.Finish(ctx, "corp", cb)
	if err != nil || u.Email != "ann@example.com" || flow.ReturnTo != "/routes" {
		t.Fatalf("finish on the other node: %+v %+v %v", u, flow, err)
	}
	_, _, err = a.Finish(ctx, "corp", cb)
	wantCode(t, err, CodeState)
}

// A login keeps the groups of the verified ID token (cleaned: sorted,
// without duplicates or control characters), records a change in the
// audit log only when they change, and drops the user's cached sessions
// so they carry the new groups at their next request.
func TestLoginKeepsGroups(t *testing.T) {
	f := newFixture(t, Provider{AutoCreate: true}, nil)
	ctx := context.Background()
	kim := func(groups ...string) mockoidc.User {
		return &idUser{sub: "s-kim", email: "kim@example.com", verified: yes(), groups: groups}
	}
	u, _, err := f.login(t, kim("ops", "dev", "ops", "bad\nname", ""), Flow{})
	if err != nil || !slices.Equal(u.Groups, []string{"dev", "ops"}) {
		t.Fatalf("first login: groups %q, %v; want [dev ops]", u.Groups, err)
	}
	cookie, _, err := f.sessions.Create(ctx, f.keys, u, time.Hour, "192.0.2.7", "test")
	if err != nil {
		t.Fatal(err)
	}
	if e, _, _ := f.sessions.Verify(ctx, f.keys, cookie, time.Hour); !e.InGroup([]string{"ops"}) {
		t.Fatal("the session is not in ops")
	}
	updates := func() int {
		n := 0
		for _, e := range f.audit(t) {
			if e.Action == string(audit.UserUpdate) {
				n++
			}
		}
		return n
	}
	if _, _, err := f.login(t, kim("dev", "ops"), Flow{}); err != nil || updates() != 0 {
		t.Fatalf("same groups again: %v, %d user updates recorded; want none", err, updates())
	}
	u, _, err = f.login(t, kim("dev"), Flow{})
	if err != nil || !slices.Equal(u.Groups, []string{"dev"}) || updates() != 1 {
		t.Fatalf("after leaving ops: groups %q, %v, %d updates; want [dev], 1", u.Groups, err, updates())
	}
	if stored, _ := f.store.UserByID(ctx, u.ID); !slices.Equal(stored.Groups, []string{"dev"}) {
		t.Errorf("stored groups %q", stored.Groups)
	}
	e, reason, err := f.sessions.Verify(ctx, f.keys, cookie, time.Hour)
	if err != nil || reason != "" || e.InGroup([]string{"ops"}) {
		t.Errorf("the earlier session after leaving ops: reason %q, %v, groups %q; want valid, not in ops", reason, err, e.Identity().Groups)
	}
}

// Groups never come from a token proxyos refuses: a login with an
// unverified email (someone else's account at the provider, claiming
// groups) stores none, and neither does a login with another
// provider's subject that is not linked.
func TestRefusedLoginGroupsNeverApply(t *testing.T) {
	f := newFixture(t, Provider{}, nil)
	ctx := context.Background()
	boss := testkit.AddUser(t, f.store, "boss@example.com", "correct horse battery", "viewer")
	_, _, err := f.login(t, &idUser{sub: "s-mallory", email: "boss@example.com", verified: no(), groups: []string{"ops"}}, Flow{})
	wantCode(t, err, CodeUnverified)
	_, _, err = f.login(t, &idUser{sub: "s-eve", email: "eve@example.com", verified: yes(), groups: []string{"ops"}}, Flow{})
	wantCode(t, err, CodeUnknownUser)
	if stored, _ := f.store.UserByID(ctx, boss.ID); len(stored.Groups) != 0 {
		t.Errorf("a refused login gave the account groups %q", stored.Groups)
	}
}
