package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Passkeys in headless Chromium with the DevTools virtual authenticator
// (a CTAP2 platform authenticator with resident keys and user
// verification) against a real Caddy whose url is http://localhost:<port>
// (a secure context, and a host name, as WebAuthn's RP ID must be).

// addAuthenticator adds a virtual authenticator to the tab and returns
// its id.
func (b *browserTab) addAuthenticator(t testing.TB) webauthn.AuthenticatorID {
	t.Helper()
	res := browserRun(t, b, "adding a virtual authenticator", func(ctx context.Context, tg *chromedp.Target) (webauthn.AddVirtualAuthenticatorResult, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return webauthn.AddVirtualAuthenticatorResult{}, err
		}
		return cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			},
		})
	})
	return res.AuthenticatorID
}

// credentials returns the credentials the authenticator holds, private
// keys and sign counters included.
func (b *browserTab) credentials(t testing.TB, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res := browserRun(t, b, "reading the authenticator's credentials", func(ctx context.Context, tg *chromedp.Target) (webauthn.GetCredentialsResult, error) {
		return cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	})
	return res.Credentials
}

// removeAuthenticator removes the authenticator and its credentials.
func (b *browserTab) removeAuthenticator(t testing.TB, id webauthn.AuthenticatorID) {
	t.Helper()
	browserRun(t, b, "removing an authenticator", func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
	})
}

// addCredential puts a copy of a credential into the authenticator.
func (b *browserTab) addCredential(t testing.TB, id webauthn.AuthenticatorID, c *webauthn.Credential) {
	t.Helper()
	// The command's own type always sends the CMTG fields, which an
	// authenticator without that extension refuses: send the rest.
	addCredential := cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}
	browserRun(t, b, "adding a credential", func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, addCredential, map[string]any{"authenticatorId": id, "credential": map[string]any{
			"credentialId": c.CredentialID, "isResidentCredential": c.IsResidentCredential, "rpId": c.RpID,
			"privateKey": c.PrivateKey, "userHandle": c.UserHandle, "signCount": c.SignCount,
		}})
	})
}

// auditOf returns the newest entries of action, through the API with
// the admin's session.
func (e *dashEnv) auditOf(t testing.TB, action string) []auditEntry {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, e.Base+"/api/audit?action="+url.QueryEscape(action), nil,
		withSession(e.adminCk, "Accept", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Entries []auditEntry `json:"entries"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("GET /api/audit: %v: %s", err, raw)
	}
	return out.Entries
}

// TestBrowserPasskeys registers a passkey on the account page, logs in
// with it alone ("Sign in with a passkey"), uses it as the second factor
// after the password (the account's only one: the password alone is
// refused), refuses a cloned copy of it with an older sign counter
// (attack: a copied credential; audited as passkey_cloned), and removes
// it, after which it no longer logs in and the password alone does.
func TestBrowserPasskeys(t *testing.T) {
	env := startDashboard(t)
	b := newBrowserTab(t)
	auth1 := b.addAuthenticator(t)

	// Register, on the account page.
	b.navigate(t, env.Base+"/login")
	b.login(t, env.adminEmail, env.adminPassword)
	b.waitPage(t, "overview")
	b.navigate(t, env.Base+"/account")
	b.waitPage(t, "account")
	b.fill(t, "#passkey-name", "Laptop")
	b.fill(t, "#passkey-password", env.adminPassword)
	b.click(t, "#passkey-add")
	b.waitJS(t, "the passkey in the list", `document.querySelectorAll("#passkeys-list li").length === 1`)
	if got := b.text(t, "#passkeys-list li strong"); got != "Laptop" {
		t.Fatalf("passkey listed as %q", got)
	}
	creds := b.credentials(t, auth1)
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("authenticator holds %+v, want one resident credential for localhost", creds)
	}
	copied := *creds[0] // a copy of the key, with the counter of now
	if e := env.auditOf(t, "passkey.register"); len(e) != 1 || e[0].Actor != env.adminEmail {
		t.Fatalf("register audit entries %+v", e)
	}
	// A passkey is a second factor: the two-factor card says so.
	b.navigate(t, env.Base+"/account")
	b.waitPage(t, "account")
	if got := b.assertVisible(t, "#totp-status"); got != "Passkeys only" {
		t.Errorf("#totp-status = %q with a passkey and no authenticator app, want Passkeys only", got)
	}
	// The card and the login page's passkey buttons fit a phone.
	b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
	browserFits(t, b)
	b.shot(t, "account-passkeys")
	b.assertClean(t)

	// Log in with the passkey alone.
	b.logout(t)
	browserFits(t, b)
	b.shot(t, "login-passkey")
	b.do(t, "back to a desktop", chromedp.EmulateViewport(1280, 900))
	b.click(t, "#login-passkey")
	b.waitPage(t, "overview")
	if e := env.auditOf(t, "login"); len(e) == 0 || e[0].Outcome != "success" || e[0].Details["method"] != "passkey" {
		t.Fatalf("newest login entry %+v, want a passkey login", e)
	}

	// The password alone now asks for the passkey, which completes it.
	b.logout(t)
	b.login(t, env.adminEmail, env.adminPassword)
	b.waitJS(t, "the passkey step", `!document.querySelector("#login-passkey-second").hidden`)
	if loc := b.location(t).Path; loc != "/login" {
		t.Fatalf("the password alone logged in (at %s)", loc)
	}
	b.shot(t, "login-second-factor")
	b.click(t, "#login-passkey-second")
	b.waitPage(t, "overview")
	if e := env.auditOf(t, "login"); e[0].Details["method"] != "password+passkey" {
		t.Fatalf("newest login entry %+v, want password+passkey", e[0])
	}
	b.assertClean(t)

	// A clone: the copied key with its older counter, on another
	// authenticator, is refused and audited.
	current := b.credentials(t, auth1)[0]
	if current.SignCount <= copied.SignCount {
		t.Fatalf("sign counter %v did not move on from %v", current.SignCount, copied.SignCount)
	}
	b.logout(t)
	b.removeAuthenticator(t, auth1)
	clone := b.addAuthenticator(t)
	b.addCredential(t, clone, &copied)
	b.click(t, "#login-passkey")
	b.waitJS(t, "the refusal", `!document.querySelector("#login-error").hidden`)
	if msg := b.text(t, "#login-error"); !strings.Contains(msg, "not accepted") {
		t.Fatalf("login error %q", msg)
	}
	if loc := b.location(t).Path; loc != "/login" {
		t.Fatalf("the clone logged in (at %s)", loc)
	}
	if e := env.auditOf(t, "login"); e[0].Outcome != "failure" || e[0].Reason != "passkey_cloned" {
		t.Fatalf("newest login entry %+v, want a failure passkey_cloned", e[0])
	}

	// The original, with its own counter, still logs in; then it is
	// removed (with the password) on the account page.
	b.removeAuthenticator(t, clone)
	auth2 := b.addAuthenticator(t)
	b.addCredential(t, auth2, current)
	b.navigate(t, env.Base+"/login")
	b.waitPage(t, "login")
	b.click(t, "#login-passkey")
	b.waitPage(t, "overview")
	b.navigate(t, env.Base+"/account")
	b.waitPage(t, "account")
	b.waitJS(t, "the passkey list", `document.querySelectorAll("#passkeys-list li").length === 1`)
	b.click(t, ".passkey-remove")
	b.fill(t, "#confirm-password", env.adminPassword)
	b.click(t, "#confirm-yes")
	b.waitJS(t, "the empty list", `document.querySelectorAll("#passkeys-list li").length === 0`)
	if e := env.auditOf(t, "passkey.remove"); len(e) != 1 {
		t.Fatalf("remove audit entries %+v", e)
	}

	// The removed passkey no longer logs in; the password alone does.
	b.logout(t)
	b.click(t, "#login-passkey")
	b.waitJS(t, "the refusal", `!document.querySelector("#login-error").hidden`)
	if loc := b.location(t).Path; loc != "/login" {
		t.Fatalf("the removed passkey logged in (at %s)", loc)
	}
	b.login(t, env.adminEmail, env.adminPassword)
	b.waitPage(t, "overview")
	b.assertClean(t)
}

// TestPasskeyAPIRefusals calls the passkey endpoints of a real Caddy as
// the attackers of SECURITY.md would: an API key (even an admin-scoped
// one) registering, listing or removing passkeys (403: keys never reach
// them); a stolen session registering without the password (400 on
// password); a finish without the browser's ceremony cookie, or twice
// (409, attack: replaying a ceremony).
func TestPasskeyAPIRefusals(t *testing.T) {
	env := startDashboard(t)
	c := newClient(t, env.Base)
	c.Login(env.adminEmail, env.adminPassword)
	resp, raw := c.PostJSON("/api/keys", map[string]any{"name": "admin key", "scopes": []string{"admin"}, "password": env.adminPassword})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/keys: %d %s", resp.StatusCode, raw)
	}
	key, _ := decode(t, raw)["key"].(string)

	// Attack: a leaked API key adds a way in.
	for _, call := range []struct{ method, path string }{
		{http.MethodGet, "/api/account/passkeys"},
		{http.MethodPost, "/api/account/passkeys"},
		{http.MethodPost, "/api/account/passkeys/finish"},
		{http.MethodDelete, "/api/account/passkeys/x"},
	} {
		resp, raw := acsBearer(t, env.Base, call.method, call.path, key, map[string]any{"name": "k", "password": env.adminPassword})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with an API key: %d %s, want 403", call.method, call.path, resp.StatusCode, raw)
		}
	}

	// Attack: a stolen session registers a passkey without the password.
	for _, pw := range []string{"", "not the password"} {
		resp, raw := c.PostJSON("/api/account/passkeys", map[string]any{"name": "Mine now", "password": pw})
		if resp.StatusCode != http.StatusBadRequest || decode(t, raw)["field"] != "password" {
			t.Errorf("registration with password %q: %d %s, want 400 on password", pw, resp.StatusCode, raw)
		}
	}

	// The options name the RP ID of the url and never a secret; a finish
	// from a client without the ceremony cookie finds no ceremony.
	resp, raw = c.PostJSON("/api/account/passkeys", map[string]any{"name": "Laptop", "password": env.adminPassword})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"rp":{"name":"ProxyOS","id":"localhost"}`) {
		t.Fatalf("registration options: %d %s", resp.StatusCode, raw)
	}
	other := newClient(t, env.Base)
	other.Login(env.adminEmail, env.adminPassword)
	if resp, raw := other.PostJSON("/api/account/passkeys/finish", map[string]any{"credential": map[string]any{}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("finish from another browser: %d %s, want 409", resp.StatusCode, raw)
	}
	// Attack: replaying a login ceremony: the cookie goes with the first
	// answer, and the ceremony with it.
	anon := newClient(t, env.Base)
	if resp, raw := anon.PostJSON("/api/auth/passkey/begin", map[string]any{}); resp.StatusCode != http.StatusOK {
		t.Fatalf("begin: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := anon.PostJSON("/api/auth/passkey/finish", map[string]any{"credential": map[string]any{"id": "x"}}); resp.StatusCode != http.StatusUnauthorized || decode(t, raw)["reason"] != "passkey_invalid" {
		t.Errorf("a bad answer: %d %s, want 401 passkey_invalid", resp.StatusCode, raw)
	}
	if resp, raw := anon.PostJSON("/api/auth/passkey/finish", map[string]any{"credential": map[string]any{"id": "x"}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("the same ceremony again: %d %s, want 409", resp.StatusCode, raw)
	}
}
