package passkey_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

const (
	rpID     = "dash.example.com"
	origin   = "https://dash.example.com"
	password = "correct horse battery"
)

type env struct {
	st    *store.Store
	path  string
	acc   *account.Service
	clock *testkit.Clock
	logs  *observer.ObservedLogs
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, path := testkit.OpenStore(t)
	keys, err := keyring.New(testkit.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, path: path, clock: testkit.NewClock()}
	e.acc = e.service(t, keys)
	return e
}

// service is an account service with passkeys on the env's store, with
// the key ring keys.
func (e *env) service(t *testing.T, keys *keyring.Keyring) *account.Service {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	logger := zap.New(core)
	lf := func() *zap.Logger { return logger }
	canonical, _ := url.Parse(origin)
	al := audit.New(e.st, e.clock.Now, lf)
	return &account.Service{
		Store: e.st, Keys: keys, Sessions: session.NewCache(e.st, al, e.clock.Now, lf), Audit: al,
		Limits: account.NewLimits(), Setup: &account.SetupCodes{}, SessionTTL: time.Hour, SessionIdle: time.Hour,
		Now: e.clock.Now, Logger: lf, Passkeys: passkey.New(e.st, keys, canonical, e.clock.Now, lf),
	}
}

func (e *env) user(t *testing.T, email string) store.User {
	t.Helper()
	return testkit.AddUser(t, e.st, email, password, "viewer")
}

func callerOf(u store.User, sessionID string) account.Caller {
	return account.Caller{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: "192.0.2.1"},
		UserID: u.ID, Email: u.Email, Role: authz.Viewer, SessionID: sessionID}
}

// register registers a passkey of a new authenticator for u.
func (e *env) register(t *testing.T, u store.User) (*authenticator, passkey.View) {
	t.Helper()
	a := newAuthenticator(t, rpID, origin)
	ctx := context.Background()
	c, err := e.acc.BeginPasskeyRegistration(ctx, callerOf(u, "s1"), "Laptop", password)
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	v, err := e.acc.FinishPasskeyRegistration(ctx, callerOf(u, "s1"), c.ID, a.register(t, c))
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return a, v
}

// login logs in with a of a passkey alone.
func (e *env) login(t *testing.T, a *authenticator) (store.User, error) {
	t.Helper()
	c, err := e.acc.BeginPasskeyLogin(context.Background(), account.Attempt{ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	return e.acc.PasskeyLogin(context.Background(), c.ID, a.assert(t, c), "198.51.100.7")
}

func reasonOf(err error) string {
	var ue *fail.UnauthenticatedError
	if errors.As(err, &ue) {
		return ue.Reason
	}
	return ""
}

// lastAudit returns the newest audit entry of action.
func (e *env) lastAudit(t *testing.T, action string) store.AuditEntry {
	t.Helper()
	list, err := e.st.ListAudit(context.Background(), store.AuditFilter{}, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Action == action {
			return a
		}
	}
	t.Fatalf("no audit entry %s", action)
	return store.AuditEntry{}
}

func TestPasskeyRegisterListLoginAlone(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, v := e.register(t, u)
	if v.Name != "Laptop" || v.ID == "" {
		t.Fatalf("view %+v", v)
	}
	got, err := e.login(t, a)
	if err != nil || got.ID != u.ID {
		t.Fatalf("login with the passkey alone: %v, user %q, want %q", err, got.ID, u.ID)
	}
	entry := e.lastAudit(t, "login")
	if entry.Outcome != "success" || entry.Actor != u.Email || !strings.Contains(string(entry.Details), `"method":"passkey"`) {
		t.Fatalf("login audit entry %+v %s", entry, entry.Details)
	}
	if reg := e.lastAudit(t, string(audit.PasskeyAdd)); reg.Target != u.Email {
		t.Fatalf("register audit entry %+v", reg)
	}
	list, err := e.acc.ListPasskeys(context.Background(), callerOf(u, "s1"))
	if err != nil || len(list) != 1 || list[0].LastUsedAt == nil {
		t.Fatalf("list %+v %v, want one passkey, used", list, err)
	}
	me, _, err := e.acc.Me(context.Background(), callerOf(u, "s1"))
	if err != nil || !me.Passkeys {
		t.Fatalf("account view %+v %v: passkeys not shown", me, err)
	}
}

// TestPasskeyChallengeReplay: attack: replaying a captured assertion,
// on its own ceremony or on a new one.
func TestPasskeyChallengeReplay(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	ctx := context.Background()
	c, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	resp := a.assert(t, c)
	if _, err := e.acc.PasskeyLogin(ctx, c.ID, resp, "198.51.100.7"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	var conflict *fail.ConflictError
	if _, err := e.acc.PasskeyLogin(ctx, c.ID, resp, "198.51.100.7"); !errors.As(err, &conflict) {
		t.Fatalf("the same ceremony answered twice: %v, want a conflict (used)", err)
	}
	c2, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.PasskeyLogin(ctx, c2.ID, resp, "198.51.100.7"); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("an old assertion on a new ceremony: %v, want passkey_invalid", err)
	}
}

// TestPasskeyOfAnotherAccount: attack: a passkey registered for A used
// to log in as B, alone (naming B's user handle) or after B's password.
func TestPasskeyOfAnotherAccount(t *testing.T) {
	e := newEnv(t)
	ua, ub := e.user(t, "a@example.com"), e.user(t, "b@example.com")
	a, _ := e.register(t, ua)
	e.register(t, ub)
	ctx := context.Background()

	forged := a.clone()
	forged.userHandle = []byte(ub.ID)
	if u, err := e.login(t, forged); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("A's passkey naming B: user %q, %v; want passkey_invalid", u.Email, err)
	}
	c, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{Email: ub.Email, Password: password, ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatalf("B's password before a passkey: %v", err)
	}
	ca := c.Options.(*protocol.CredentialAssertion)
	if u, err := e.acc.PasskeyLogin(ctx, c.ID, a.assertChallenge(t, ca.Response.Challenge), "198.51.100.7"); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("B's password then A's passkey: user %q, %v; want passkey_invalid", u.Email, err)
	}
}

// TestPasskeyOtherOriginOrRPID: attack: an assertion made for another
// site (a phishing page relaying the challenge) or RP ID.
func TestPasskeyOtherOriginOrRPID(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	otherOrigin := a.clone()
	otherOrigin.origin = "https://dash.example.com.evil.example"
	if _, err := e.login(t, otherOrigin); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("assertion for another origin: %v, want passkey_invalid", err)
	}
	otherRP := a.clone()
	otherRP.rpID = "evil.example"
	if _, err := e.login(t, otherRP); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("assertion for another RP ID: %v, want passkey_invalid", err)
	}
	// Registration answered for another origin is refused too.
	ctx := context.Background()
	c, err := e.acc.BeginPasskeyRegistration(ctx, callerOf(u, "s1"), "Phone", password)
	if err != nil {
		t.Fatal(err)
	}
	evil := newAuthenticator(t, rpID, "https://evil.example")
	if _, err := e.acc.FinishPasskeyRegistration(ctx, callerOf(u, "s1"), c.ID, evil.register(t, c)); err == nil {
		t.Fatal("a registration for another origin was stored")
	}
}

// TestPasskeyRegistrationNeedsPasswordAndSession: attacks: a stolen
// session registering a passkey without the password; an API key
// registering one; a ceremony finished from another session.
func TestPasskeyRegistrationNeedsPasswordAndSession(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	ctx := context.Background()
	var fe *fail.FieldError
	for _, pw := range []string{"", "wrong password"} {
		if _, err := e.acc.BeginPasskeyRegistration(ctx, callerOf(u, "s1"), "Laptop", pw); !errors.As(err, &fe) || fe.Field != "password" {
			t.Fatalf("registration with password %q: %v, want a password error", pw, err)
		}
	}
	viaKey := callerOf(u, "")
	viaKey.KeyID = "key-1"
	var fb *fail.ForbiddenError
	if _, err := e.acc.BeginPasskeyRegistration(ctx, viaKey, "Laptop", password); !errors.As(err, &fb) {
		t.Fatalf("registration with an API key: %v, want forbidden", err)
	}
	if _, err := e.acc.ListPasskeys(ctx, viaKey); !errors.As(err, &fb) {
		t.Fatalf("listing with an API key: %v, want forbidden", err)
	}
	c, err := e.acc.BeginPasskeyRegistration(ctx, callerOf(u, "s1"), "Laptop", password)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(t, rpID, origin)
	if _, err := e.acc.FinishPasskeyRegistration(ctx, callerOf(u, "s2"), c.ID, a.register(t, c)); !errors.As(err, &fb) {
		t.Fatalf("finishing from another session: %v, want forbidden", err)
	}
	if n, _ := e.st.CountPasskeys(ctx, u.ID); n != 0 {
		t.Fatalf("%d passkeys stored, want 0", n)
	}
}

// TestPasskeyCounterRegression: attack: a cloned credential (a copy of
// the key with an older sign counter) logging in.
func TestPasskeyCounterRegression(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, v := e.register(t, u)
	copied := a.clone()
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := e.login(t, copied); reasonOf(err) != account.ReasonPasskeyCloned {
		t.Fatalf("the copy with the old counter: %v, want passkey_cloned", err)
	}
	entry := e.lastAudit(t, "login")
	if entry.Outcome != "failure" || entry.Reason != account.ReasonPasskeyCloned || !strings.Contains(string(entry.Details), v.ID) {
		t.Fatalf("audit entry %+v %s, want a failure passkey_cloned naming the passkey", entry, entry.Details)
	}
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("the original, whose counter moves on: %v", err)
	}
}

// TestPasskeyDisabledUser: attack: a disabled user logging in with a
// passkey.
func TestPasskeyDisabledUser(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	testkit.SetUserDisabled(t, e.path, u.ID, true)
	if _, err := e.login(t, a); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("a disabled user's passkey: %v, want passkey_invalid", err)
	}
	if entry := e.lastAudit(t, "login"); entry.Reason != account.ReasonPasskeyDisabled {
		t.Fatalf("audit reason %q, want user_disabled", entry.Reason)
	}
	var ue *fail.UnauthenticatedError
	if _, err := e.acc.BeginPasskeyLogin(context.Background(), account.Attempt{Email: u.Email, Password: password}); !errors.As(err, &ue) {
		t.Fatalf("a disabled user's password before a passkey: %v, want refused", err)
	}
}

func TestPasskeyRemove(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, v := e.register(t, u)
	ctx := context.Background()
	var fe *fail.FieldError
	if err := e.acc.RemovePasskey(ctx, callerOf(u, "s1"), v.ID, ""); !errors.As(err, &fe) {
		t.Fatalf("removal without the password: %v", err)
	}
	other := e.user(t, "eve@example.com")
	var nf *fail.NotFoundError
	if err := e.acc.RemovePasskey(ctx, callerOf(other, "s9"), v.ID, password); !errors.As(err, &nf) {
		t.Fatalf("removing another user's passkey: %v, want not found", err)
	}
	if err := e.acc.RemovePasskey(ctx, callerOf(u, "s1"), v.ID, password); err != nil {
		t.Fatalf("RemovePasskey: %v", err)
	}
	if e.lastAudit(t, string(audit.PasskeyRemove)).Target != u.Email {
		t.Fatal("no audit entry of the removal")
	}
	if _, err := e.login(t, a); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("a removed passkey logging in: %v, want passkey_invalid", err)
	}
}

func TestPasskeySecondFactor(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	ctx := context.Background()
	// The password alone no longer logs in.
	if _, err := e.acc.Login(ctx, account.Attempt{Email: u.Email, Password: password, ClientIP: "198.51.100.7"}); reasonOf(err) != string(account.ReasonPasskeyRequired) {
		t.Fatalf("password alone: %v, want passkey_required", err)
	}
	if _, err := e.acc.Login(ctx, account.Attempt{Email: u.Email, Password: password, TOTP: "123456", ClientIP: "198.51.100.7"}); reasonOf(err) != string(account.ReasonPasskeyRequired) {
		t.Fatalf("password and a code: %v, want passkey_required", err)
	}
	var ue *fail.UnauthenticatedError
	if _, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{Email: u.Email, Password: "wrong", ClientIP: "198.51.100.7"}); !errors.As(err, &ue) {
		t.Fatalf("wrong password before a passkey: %v, want refused", err)
	}
	c, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{Email: u.Email, Password: password, ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	if ca := c.Options.(*protocol.CredentialAssertion); len(ca.Response.AllowedCredentials) != 1 {
		t.Fatalf("allowed credentials %d, want the user's one", len(ca.Response.AllowedCredentials))
	}
	got, err := e.acc.PasskeyLogin(ctx, c.ID, a.assert(t, c), "198.51.100.7")
	if err != nil || got.ID != u.ID {
		t.Fatalf("password then passkey: %v", err)
	}
	if entry := e.lastAudit(t, "login"); !strings.Contains(string(entry.Details), `"method":"password+passkey"`) {
		t.Fatalf("audit details %s", entry.Details)
	}
	// A user without passkeys cannot start the passkey step.
	plain := e.user(t, "bob@example.com")
	var conflict *fail.ConflictError
	if _, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{Email: plain.Email, Password: password}); !errors.As(err, &conflict) {
		t.Fatalf("passkey step without passkeys: %v, want conflict", err)
	}
}

// TestPasskeyResetTwoFactor: the admin's "reset two-factor" removes the
// user's passkeys too.
func TestPasskeyResetTwoFactor(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	admin := testkit.AddUser(t, e.st, "root@example.com", password, "admin")
	c := callerOf(admin, "s0")
	c.Role = authz.Admin
	reset := true
	v, err := e.acc.UpdateUser(context.Background(), c, u.ID, account.UserChange{ResetTOTP: &reset}, "")
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	if v.Passkeys {
		t.Fatal("the view still shows passkeys")
	}
	if _, err := e.login(t, a); reasonOf(err) != account.ReasonPasskeyInvalid {
		t.Fatalf("a passkey after the reset: %v", err)
	}
}

// TestPasskeyResealedOnRotation: a passkey survives a change of secret
// (the old one kept as previous) by the start-up re-seal.
func TestPasskeyResealedOnRotation(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	oldKeys, _ := keyring.New(testkit.Secret, nil)
	secret := testkit.RandomSecret(t)
	newKeys, err := keyring.New(secret, []string{testkit.Secret})
	if err != nil {
		t.Fatal(err)
	}
	e.acc = e.service(t, newKeys)
	e.acc.Reseal(context.Background())
	rows, _ := e.st.UserPasskeys(context.Background(), u.ID)
	if id, _ := keyring.SealedKeyID(rows[0].Credential); id != newKeys.CurrentID() || id == oldKeys.CurrentID() {
		t.Fatalf("passkey sealed with key %s, want the new key %s", id, newKeys.CurrentID())
	}
	// The old secret can go now.
	onlyNew, _ := keyring.New(secret, nil)
	e.acc = e.service(t, onlyNew)
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("login after the re-seal: %v", err)
	}
}

// TestPasskeySecretsNeverShown: the credential record (public key,
// sealed value) is not in views, audit details or logs.
func TestPasskeySecretsNeverShown(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, v := e.register(t, u)
	e.login(t, a)         //nolint:errcheck // checked elsewhere
	e.login(t, a.clone()) //nolint:errcheck // a refusal, logged
	rows, _ := e.st.UserPasskeys(context.Background(), u.ID)
	secrets := []string{rows[0].Credential, b64u.EncodeToString(a.key.X.Bytes()), testkit.Secret}
	list, _ := e.acc.ListPasskeys(context.Background(), callerOf(u, "s1"))
	views, _ := json.Marshal([]any{v, list})
	audits, _ := e.st.ListAudit(context.Background(), store.AuditFilter{}, 100, 0)
	auditJSON, _ := json.Marshal(audits)
	var logText strings.Builder
	for _, l := range e.logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		logText.WriteString(l.Message + string(b))
	}
	for _, s := range secrets {
		for where, text := range map[string]string{"views": string(views), "audit": string(auditJSON), "logs": logText.String()} {
			if strings.Contains(text, s) {
				t.Errorf("%s show a secret %.12q…", where, s)
			}
		}
	}
	if strings.Contains(string(views), "publicKey") || strings.Contains(string(views), "credential") {
		t.Errorf("views show the credential: %s", views)
	}
}

// TestPasskeyCeremonyFlood: attack: a stranger filling the store with
// login ceremonies they never finish. Unfinished ceremonies count against
// the client's network like failed logins; finished ones do not.
func TestPasskeyCeremonyFlood(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	a, _ := e.register(t, u)
	for range 30 {
		if _, err := e.login(t, a); err != nil {
			t.Fatalf("a user logging in again and again: %v", err)
		}
	}
	ctx := context.Background()
	var limited *fail.RateLimitedError
	n := 0
	for ; n < 50; n++ {
		if _, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "203.0.113.9"}); errors.As(err, &limited) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n == 50 {
		t.Fatal("50 unfinished ceremonies from one address were all stored")
	}
	if _, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "198.51.100.20"}); err != nil {
		t.Fatalf("another network after the flood: %v", err)
	}
	if left, _ := e.st.CountPasskeyChallenges(ctx, e.clock.Now()); left > n+1 {
		t.Fatalf("%d ceremonies stored after %d allowed", left, n+1)
	}
}

// TestPasskeyWithTOTP: an account with an authenticator app and a
// passkey is asked for a code after its password, and a passkey does as
// well.
func TestPasskeyWithTOTP(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	ctx := context.Background()
	enr, err := e.acc.BeginTOTP(ctx, callerOf(u, "s1"), password)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enr.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.ConfirmTOTP(ctx, callerOf(u, "s1"), account.TOTPCode(secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	a, _ := e.register(t, u)
	if _, err := e.acc.Login(ctx, account.Attempt{Email: u.Email, Password: password, ClientIP: "198.51.100.7"}); reasonOf(err) != string(account.ReasonTOTPRequired) {
		t.Fatalf("password alone: %v, want totp_required", err)
	}
	c, err := e.acc.BeginPasskeyLogin(ctx, account.Attempt{Email: u.Email, Password: password, ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.acc.PasskeyLogin(ctx, c.ID, a.assert(t, c), "198.51.100.7"); err != nil || got.ID != u.ID {
		t.Fatalf("password then passkey: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.acc.Login(ctx, account.Attempt{Email: u.Email, Password: password, TOTP: account.TOTPCode(secret, e.clock.Now()), ClientIP: "198.51.100.7"}); err != nil {
		t.Fatalf("password then code: %v", err)
	}
}

// TestPasskeysOff: without a url, or with an IP address for host, every
// ceremony answers why, and password logins are unchanged.
func TestPasskeysOff(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, "ada@example.com")
	keys, _ := keyring.New(testkit.Secret, nil)
	ip, _ := url.Parse("http://127.0.0.1:8080")
	for name, svc := range map[string]*passkey.Service{
		"no url": passkey.New(e.st, keys, nil, e.clock.Now, zap.NewNop),
		"ip":     passkey.New(e.st, keys, ip, e.clock.Now, zap.NewNop),
		"nil":    nil,
	} {
		e.acc.Passkeys = svc
		var conflict *fail.ConflictError
		if _, err := e.acc.BeginPasskeyRegistration(context.Background(), callerOf(u, "s1"), "Laptop", password); !errors.As(err, &conflict) {
			t.Errorf("%s: registration %v, want a conflict", name, err)
		}
		if _, err := e.acc.BeginPasskeyLogin(context.Background(), account.Attempt{ClientIP: "198.51.100.7"}); !errors.As(err, &conflict) {
			t.Errorf("%s: login %v, want a conflict", name, err)
		}
		if svc.RPID() != "" {
			t.Errorf("%s: RP ID %q", name, svc.RPID())
		}
		if _, err := e.acc.Login(context.Background(), account.Attempt{Email: u.Email, Password: password, ClientIP: "198.51.100.7"}); err != nil {
			t.Errorf("%s: password login %v", name, err)
		}
	}
}

// Two nodes of a cluster share one PostgreSQL database behind a load
// balancer: a ceremony begun on one node finishes on the other, once
// (a replay on the first node is refused), and a cloned credential is
// caught whichever node sees the regressed counter.
func TestPasskeyAcrossNodes(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	keys, err := keyring.New(testkit.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &env{st: testkit.OpenPostgres(t, dsn), clock: testkit.NewClock()}
	b := &env{st: testkit.OpenPostgres(t, dsn), clock: a.clock}
	nodeA, nodeB := a.service(t, keys), b.service(t, keys)
	u := testkit.AddUser(t, a.st, "ada@example.com", password, "viewer")
	ctx := context.Background()

	auth := newAuthenticator(t, rpID, origin)
	c, err := nodeA.BeginPasskeyRegistration(ctx, callerOf(u, "s1"), "Laptop", password)
	if err != nil {
		t.Fatal(err)
	}
	response := auth.register(t, c)
	if _, err := nodeB.FinishPasskeyRegistration(ctx, callerOf(u, "s1"), c.ID, response); err != nil {
		t.Fatalf("registration begun on A, finished on B: %v", err)
	}
	if _, err := nodeA.FinishPasskeyRegistration(ctx, callerOf(u, "s1"), c.ID, response); err == nil {
		t.Fatal("the same registration finished again on A")
	}

	login, err := nodeB.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	clone := auth.clone()
	assertion := auth.assert(t, login)
	if got, err := nodeA.PasskeyLogin(ctx, login.ID, assertion, "198.51.100.7"); err != nil || got.ID != u.ID {
		t.Fatalf("login begun on B, finished on A: %v", err)
	}
	if _, err := nodeB.PasskeyLogin(ctx, login.ID, assertion, "198.51.100.7"); err == nil {
		t.Fatal("the same assertion logged in again on B")
	}
	// The clone still has the counter before the login on A.
	again, err := nodeB.BeginPasskeyLogin(ctx, account.Attempt{ClientIP: "198.51.100.8"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeB.PasskeyLogin(ctx, again.ID, clone.assert(t, again), "198.51.100.8"); reasonOf(err) != "passkey_cloned" {
		t.Fatalf("a cloned credential on the other node: %v (reason %q), want passkey_cloned", err, reasonOf(err))
	}
}
