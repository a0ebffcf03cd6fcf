package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
)

// boidcUser is a user of the test provider with the claims a test
// chooses.
func boidcUser(sub, email string, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: true, Groups: groups}
}

// TestBrowserOIDCLogin walks a person through "Sign in with <provider>" in
// Chromium against a real Caddy and a real OpenID provider on loopback
// (started by the test): from a site behind proxyos_auth to the login
// page, the provider and back to the page asked for; the dashboard;
// a managed route on another domain (the gate's handoff state survives
// the round trip to the provider); a demotion by the provider's groups at
// the next login; an unknown email with auto_create off; and a provider
// that is down (the login page names it as unreachable, Caddy started
// anyway, the password login still works). The client secret comes from
// the environment and never shows in Caddy's log.
func TestBrowserOIDCLogin(t *testing.T) {
	browserExecPath(t)
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() }) //nolint:errcheck // test end
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/oidc" // nothing listens there
	ln.Close()

	e := rtPrepare(t)
	e.ProxyosExtra = fmt.Sprintf(`oidc corp {
			issuer %[1]s
			client_id %[2]s
			client_secret {env.PROXYOS_TEST_OIDC_SECRET}
			scopes openid email groups
			roles {
				admin admins
				viewer staff
			}
			auto_create on
			allowed_domains proxyos.test
		}
		oidc strict {
			issuer %[1]s
			client_id %[2]s
			client_secret {env.PROXYOS_TEST_OIDC_SECRET}
			scopes openid email
		}
		oidc down {
			issuer %[3]s
			client_id proxyos
			client_secret {env.PROXYOS_TEST_OIDC_SECRET}
		}`, op.Issuer(), op.ClientID, down)
	e.Sites = func() string {
		return fmt.Sprintf("http://localhost:%d {\n\tproxyos_auth\n\trespond \"email={http.auth.user.email} role={http.auth.user.role}\" 200\n}",
			e.inst.Port("app"))
	}
	e.start("", "PROXYOS_TEST_OIDC_SECRET="+op.ClientSecret)
	dashURL := fmt.Sprintf("http://localhost:%d", e.DashPort)
	appURL := fmt.Sprintf("http://localhost:%d/hello?x=1", e.inst.Port("app"))
	const privateHost = "private.proxyos.test"
	e.dash.create(rtWith(map[string]any{"hosts": []string{privateHost}, "kind": "static", "tls": "off",
		"static": map[string]any{"body": "private page"}}, "auth", map[string]any{"require_login": true}))
	privateURL := fmt.Sprintf("http://%s:%d/docs?page=2", privateHost, e.HTTPPort)

	b := newBrowserTab(t)
	signIn := func(t *testing.T, provider string) {
		t.Helper()
		b.waitPage(t, "login")
		if got := b.assertVisible(t, `a[data-provider="`+provider+`"]`); got != "Sign in with "+provider {
			t.Fatalf("the provider's button says %q", got)
		}
		b.click(t, `a[data-provider="`+provider+`"]`)
	}
	role := func(t *testing.T) string {
		t.Helper()
		return browserRun(t, b, "reading the session", chromedp.Evaluate[string](
			`fetch("/api/auth/session").then(r => r.json()).then(j => j.user ? j.user.email + " " + j.user.role : "")`, chromedp.EvalAwaitPromise))
	}
	b.runSteps(t, []browserStep{
		{"a gated site sends the browser through the provider and back", func(t *testing.T) {
			op.QueueUser(boidcUser("s-kim", "kim@proxyos.test", "admins"))
			b.navigate(t, appURL)
			signIn(t, "corp")
			b.waitJS(t, "the return to "+appURL, fmt.Sprintf(`location.href === %q && document.body && document.body.innerText.includes("email=kim@proxyos.test role=admin")`, appURL))
		}},
		{"the dashboard is logged in", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			if got := role(t); got != "kim@proxyos.test admin" {
				t.Fatalf("session of %q, want kim@proxyos.test admin", got)
			}
			// The Users page shows how each account signs in.
			b.navigate(t, dashURL+"/users")
			b.waitPage(t, "users")
			b.waitJS(t, "kim's provider and no password", `[...document.querySelectorAll("li, tr")].some(r => r.textContent.includes("kim@proxyos.test") && r.querySelector(".user-provider") && r.querySelector(".user-provider").textContent === "corp" && r.querySelector(".user-no-password"))`)
		}},
		{"a login route on another domain gets its handoff after the provider", func(t *testing.T) {
			b.logout(t)
			op.QueueUser(boidcUser("s-kim", "kim@proxyos.test", "admins"))
			b.navigate(t, privateURL)
			if q := b.location(t).Query(); q.Get("state") == "" || q.Get("return") != privateURL {
				t.Fatalf("the gate sent the browser to %s, want the login page with return and state", b.location(t))
			}
			signIn(t, "corp")
			b.waitJS(t, "the private page after the handoff", `document.body && document.body.innerText.includes("private page")`)
			if got := b.location(t).String(); got != privateURL {
				t.Errorf("landed on %s, want %s", got, privateURL)
			}
		}},
		{"the provider's groups demote at the next login", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			b.logout(t)
			op.QueueUser(boidcUser("s-kim", "kim@proxyos.test", "staff"))
			signIn(t, "corp")
			b.waitPage(t, "overview")
			if got := role(t); got != "kim@proxyos.test viewer" {
				t.Fatalf("session of %q after leaving the admins' group, want viewer", got)
			}
		}},
		{"an account the provider made has no password: a fresh sign-in confirms setting one", func(t *testing.T) {
			b.navigate(t, dashURL+"/account")
			b.waitPage(t, "account")
			b.waitJS(t, "the sign-in note", `!document.querySelector("#acct-signin-note").hidden && document.querySelector("#acct-providers-row .acct-providers").textContent === "corp"`)
			if !browserEval[bool](t, b, `document.querySelector("#password-current-field").hidden && document.querySelector("#passkey-password-field").hidden`) {
				t.Fatal("the account page asks a passwordless account for its password")
			}
			// Signing in again with the provider comes back here.
			op.QueueUser(boidcUser("s-kim", "kim@proxyos.test", "staff"))
			b.click(t, `#acct-signin-note a[data-provider="corp"]`)
			b.waitPage(t, "account")
			b.waitJS(t, "the page again", `document.querySelector("#password-title").textContent === "Set a password"`)
			b.fill(t, "#password-new", "kim's first password 1")
			b.click(t, "#password-submit")
			b.waitJS(t, "the password set", `document.querySelector("#password-notice").textContent.includes("Password changed")`)
			b.navigate(t, dashURL+"/account")
			b.waitPage(t, "account")
			b.waitJS(t, "the current password asked now", `document.querySelector("#acct-signin-note").hidden && !document.querySelector("#password-current-field").hidden`)
		}},
		{"an unknown email with auto_create off is refused", func(t *testing.T) {
			b.logout(t)
			op.QueueUser(boidcUser("s-zed", "zed@proxyos.test"))
			signIn(t, "strict")
			// The login page comes back: wait for the new one, not the
			// one the click left.
			b.waitJS(t, "the provider's answer", `location.search.includes("oidc_error")`)
			b.waitPage(t, "login")
			b.do(t, "waiting for #login-error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
			if got := b.text(t, "#login-error"); !strings.Contains(got, "Sign-in with strict failed") || !strings.Contains(got, "no account") {
				t.Fatalf("login error %q", got)
			}
		}},
		{"a provider that is down is named as unreachable; passwords still work", func(t *testing.T) {
			b.navigate(t, dashURL+"/login?return=%2Froutes")
			signIn(t, "down")
			b.waitJS(t, "the provider's answer", `location.search.includes("oidc_error")`)
			b.waitPage(t, "login")
			b.do(t, "waiting for #login-error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
			got := b.text(t, "#login-error")
			if !strings.Contains(got, "Sign-in with down failed: the provider is unreachable") {
				t.Fatalf("login error %q, want it to name the provider as unreachable", got)
			}
			for _, bad := range []string{"dial", "refused", "tcp", "127.0.0.1"} {
				if strings.Contains(got, bad) {
					t.Errorf("login error %q shows %q", got, bad)
				}
			}
			b.login(t, e.adminEmail, rtAdminPassword)
			b.waitPage(t, "routes")
		}},
		{"the login page with its providers fits a 375 px screen", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview") // still logged in as the admin: log out first
			b.logout(t)
			b.assertVisible(t, `a[data-provider="down"]`)
			browserFits(t, b)
			b.shot(t, "login")
		}},
		{"the client secret is in no log line", func(t *testing.T) {
			if strings.Contains(e.inst.FullLog(), op.ClientSecret) {
				t.Fatal("Caddy's log shows the client secret")
			}
			resp, raw := do(t, http.DefaultClient, http.MethodGet, dashURL+"/api/auth/methods", nil, nil)
			if resp.StatusCode != http.StatusOK || string(raw) != `{"oidc":["corp","strict","down"],"password":true}`+"\n" {
				t.Fatalf("methods: %d %s", resp.StatusCode, raw)
			}
		}},
	})
}

// TestBrowserOIDCPasswordLoginOff: with password_login off the login page
// shows only the providers, and signing in with one works.
func TestBrowserOIDCPasswordLoginOff(t *testing.T) {
	browserExecPath(t)
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() }) //nolint:errcheck // test end
	e := startDashboard(t, dashProxyos("password_login off", fmt.Sprintf(`oidc corp {
			issuer %s
			client_id %s
			client_secret {env.PROXYOS_TEST_OIDC_SECRET}
			scopes openid email
			auto_create on
		}`, op.Issuer(), op.ClientID)), dashEnvVars("PROXYOS_TEST_OIDC_SECRET="+op.ClientSecret))
	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"only the provider is offered", func(t *testing.T) {
			b.navigate(t, e.Base+"/login")
			b.waitPage(t, "login")
			b.assertVisible(t, `a[data-provider="corp"]`)
			if shown := browserEval[bool](t, b, `document.querySelector("#login-form").checkVisibility() || document.querySelector("#login-oidc-or").checkVisibility()`); shown {
				t.Fatal("the password form (or its 'or') shows with password_login off")
			}
		}},
		{"signing in with it works", func(t *testing.T) {
			op.QueueUser(boidcUser("s-lee", "lee@example.com"))
			b.click(t, `a[data-provider="corp"]`)
			b.waitPage(t, "overview")
		}},
	})
}
