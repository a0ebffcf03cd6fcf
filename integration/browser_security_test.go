package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The dashboard's security pages, driven in headless Chromium against a
// real Caddy: two-factor authentication (enrolment on the account page,
// the login page's code step), sessions and API keys.

const (
	// bsecUserAgent is the User-Agent of the admin's second session, made
	// outside the browser, so its row on the account page can be found.
	bsecUserAgent = "proxyos-test-totp-session/1.0"
	// bsecScenarioTimeout bounds the tab of TestBrowserSecurity: besides
	// the usual steps it waits for a fresh TOTP time step (up to 30 s).
	bsecScenarioTimeout = 3 * time.Minute
)

// bsecStepAfter waits until the TOTP time step is past used and returns
// it: the server accepts each step's code once, and no earlier one after
// it.
func bsecStepAfter(t testing.TB, used int64) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * totpPeriod * time.Second)
	for totpNow() <= used {
		if time.Now().After(deadline) {
			t.Fatalf("the TOTP step did not move past %d", used)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return totpNow()
}

// bsecWrongCode returns a well-formed code that no step near now
// accepts: the code of a long past step, unless it happens to match one.
func bsecWrongCode(t testing.TB, secret string) string {
	t.Helper()
	cur := totpNow()
	near := map[string]bool{}
	for s := cur - 2; s <= cur+3; s++ {
		near[totpAt(t, secret, s)] = true
	}
	for s := cur - 100; ; s-- {
		if c := totpAt(t, secret, s); !near[c] {
			return c
		}
	}
}

// bsecLongTab gives the tab's whole scenario d instead of
// browserTestTimeout.
func bsecLongTab(t *testing.T, b *browserTab, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.root, d)
	t.Cleanup(cancel)
	b.ctx = ctx
}

// bsecBrowserCookie returns the browser's session cookie for base.
func bsecBrowserCookie(t testing.TB, b *browserTab, base string) string {
	t.Helper()
	res := browserRun(t, b, "reading cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	})
	for _, c := range res.Cookies {
		if c.Name == sessionCookieName && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("the browser holds no %s cookie for %s", sessionCookieName, base)
	return ""
}

// bsecLogin posts to /api/auth/login outside the browser, with a second
// factor when totp is not empty, and returns the status, the 401 reason
// and the session cookie set ("" for none).
func bsecLogin(t testing.TB, base, email, password, totp string) (status int, reason, cookie string) {
	t.Helper()
	body := map[string]string{"email": email, "password": password}
	if totp != "" {
		body["totp"] = totp
	}
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, out := do(t, plainHTTP, http.MethodPost, base+"/api/auth/login", strings.NewReader(string(raw)), http.Header{
		"Content-Type": {"application/json"},
		"Origin":       {base},
		"User-Agent":   {bsecUserAgent},
	})
	if resp.StatusCode != http.StatusOK {
		reason, _ = decode(t, out)["reason"].(string)
	}
	if c := sessionCookieOf(resp); c != nil {
		cookie = c.Value
	}
	return resp.StatusCode, reason, cookie
}

// bsecAccount is GET /api/account.
type bsecAccount struct {
	User struct {
		Email string `json:"email"`
	} `json:"user"`
	TOTPEnabled       bool `json:"totp_enabled"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func bsecGetAccount(t testing.TB, base, cookie string) bsecAccount {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/account", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/account: %d %s", resp.StatusCode, raw)
	}
	var a bsecAccount
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("GET /api/account: %v: %s", err, raw)
	}
	return a
}

// bsecKey is one entry of GET /api/keys.
type bsecKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// bsecKeys lists the keys through GET /api/keys with a session cookie and
// returns them with the raw answer.
func bsecKeys(t testing.TB, base, cookie string) ([]bsecKey, []byte) {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/keys", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/keys: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Keys []bsecKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("GET /api/keys: %v: %s", err, raw)
	}
	return out.Keys, raw
}

// bsecBearer calls the API with an API key, as a script would; a body is
// sent as JSON from the dashboard's origin.
func bsecBearer(t testing.TB, base, method, path, key string, body any) (int, []byte) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + key}, "Accept": {"application/json"}}
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
		h.Set("Content-Type", "application/json")
		h.Set("Origin", base)
	}
	resp, raw := do(t, plainHTTP, method, base+path, r, h)
	return resp.StatusCode, raw
}

// bsecAuditRow is one row of the audit page's table.
type bsecAuditRow struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target"`
	Out    string `json:"out"`
}

// TestBrowserSecurity walks an admin through two-factor authentication,
// sessions and API keys in Chromium: enrolling TOTP on the account page
// (QR code and key, a wrong code refused, the ten recovery codes shown
// once), logging in again with the code step of the login page (a code
// of an already used time step refused: replay protection), a second
// session logged in outside the browser with a recovery code (which then
// works no more) and revoked from the account page's list, an API key
// with routes:read created on the keys page and shown once (it reads
// routes, is refused writing them, and gets 401 once revoked on the
// page), the audit log listing these actions, and the pages at phone
// width; then logging in on the page with a recovery code, turning
// two-factor authentication off on the account page (a wrong password
// refused first), and an admin resetting another user's two-factor
// authentication and revoking their API key on the users and keys pages.
// Every page runs under the dashboard's CSP: a violation or an uncaught
// exception fails the test.
func TestBrowserSecurity(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := startDashboard(t, dashNoAdmin())
	inst, base := e.inst, e.Base
	const (
		email   = "security-admin@example.com"
		keyName = "ci read-only"

		viewerEmail    = "viewer-with-2fa@example.com"
		viewerPassword = "viewer password 1"
	)
	var (
		secret    string   // the TOTP key read from the page
		usedStep  int64    // the last TOTP time step spent
		recovery  []string // the recovery codes read from the page
		apiKey    string   // the API key read from the page
		apiKeyID  string
		viewerID  string  // a second user, with two-factor and a key of their own
		viewer    *client // the viewer's session, outside the browser
		routeSpec = map[string]any{
			"name": "written with a key", "enabled": true, "hosts": []string{"bsec-static.proxyos.test"},
			"kind": "static", "tls": "off", "static": map[string]any{"body": "hello"},
		}
	)

	b := newBrowserTab(t)
	bsecLongTab(t, b, bsecScenarioTimeout)
	b.runSteps(t, []browserStep{
		{"set up the admin and log in on the page", func(t *testing.T) {
			newClient(t, base).Setup(inst, email, browserPassword)
			b.navigate(t, base+"/login")
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			if n := browserEval[int](t, b, `document.querySelectorAll('#nav a[href="/keys"]').length`); n != 1 {
				t.Errorf("the menu has %d links to /keys, want 1", n)
			}
		}},
		{"enrol two-factor authentication on the account page", func(t *testing.T) {
			b.navigate(t, base+"/account")
			b.waitPage(t, "account")
			if got := b.assertVisible(t, "#totp-status"); got != "Off" {
				t.Errorf("#totp-status = %q before set-up, want Off", got)
			}
			// Set-up needs the password (a stolen session alone cannot tie
			// the account to someone else's authenticator).
			b.click(t, "#totp-setup")
			b.do(t, "waiting for the password error", chromedp.WaitVisible(chromedp.CSS("#totp-setup-password-error")))
			b.fill(t, "#totp-setup-password", "not the password")
			b.click(t, "#totp-setup")
			b.waitJS(t, "the wrong password to be refused", `document.querySelector("#totp-setup-password").getAttribute("aria-invalid") === "true" && document.querySelector("#totp-enrol").hidden`)
			b.fill(t, "#totp-setup-password", browserPassword)
			b.click(t, "#totp-setup")
			b.do(t, "waiting for the enrolment", chromedp.WaitVisible(chromedp.CSS("#totp-enrol")))
			// The QR code is the server's data: URL, and it renders under
			// the CSP (img-src 'self' data:).
			b.waitJS(t, "the QR code to render", `(() => {
				const img = document.querySelector("#totp-qr");
				return img.src.startsWith("data:image/png;base64,") && img.complete && img.naturalWidth > 0 && img.checkVisibility();
			})()`)
			if href := browserEval[string](t, b, `document.querySelector("#totp-uri").getAttribute("href")`); !strings.HasPrefix(href, "otpauth://totp/") {
				t.Errorf("#totp-uri links to %q, want the otpauth://totp/ URI", href)
			}
			secret = strings.ReplaceAll(b.assertVisible(t, "#totp-secret"), " ", "")
			b.shot(t, "enrol")
			if focused := browserEval[string](t, b, `document.activeElement.id`); focused != "totp-code" {
				t.Errorf("after Set up the focus is on %q, want #totp-code", focused)
			}

			// A wrong code is refused next to the field.
			wrong := bsecWrongCode(t, secret)
			b.fill(t, "#totp-code", wrong)
			b.click(t, "#totp-confirm")
			b.do(t, "waiting for the code's error", chromedp.WaitVisible(chromedp.CSS("#totp-code-error")))
			if inv := browserEval[string](t, b, `document.querySelector("#totp-code").getAttribute("aria-invalid")`); inv != "true" {
				t.Errorf("#totp-code aria-invalid = %q after a wrong code, want true", inv)
			}
			if hidden := browserEval[bool](t, b, `document.querySelector("#totp-codes").hidden`); !hidden {
				t.Fatal("a wrong code showed recovery codes")
			}

			usedStep = totpNow()
			b.fill(t, "#totp-code", totpAt(t, secret, usedStep))
			b.click(t, "#totp-confirm")
			b.do(t, "waiting for the recovery codes", chromedp.WaitVisible(chromedp.CSS("#totp-codes")))
			recovery = browserEval[[]string](t, b, `[...document.querySelectorAll("#totp-recovery-list li")].map((li) => li.innerText.trim())`)
			seen := map[string]bool{}
			for _, c := range recovery {
				if c == "" || seen[c] {
					t.Errorf("recovery codes %q: empty or repeated %q", recovery, c)
				}
				seen[c] = true
			}
			if len(recovery) != 10 {
				t.Fatalf("the page shows %d recovery codes, want 10: %q", len(recovery), recovery)
			}
			if got := b.assertVisible(t, "#totp-codes .notice-warning"); !strings.Contains(got, "only once") {
				t.Errorf("the recovery codes' note = %q, want it to say they are shown only once", got)
			}
			b.assertVisible(t, "#totp-codes-copy")
			b.shot(t, "recovery-codes")
			if got := b.text(t, "#totp-status"); got != "On" {
				t.Errorf("#totp-status = %q after confirming, want On", got)
			}
			// The key and QR code leave the page once enrolled.
			if left := browserEval[bool](t, b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || !!document.querySelector("#totp-qr").getAttribute("src")`, secret)); left {
				t.Error("the TOTP key or its QR code stays in the page after enrolment")
			}
			acct := bsecGetAccount(t, base, bsecBrowserCookie(t, b, base))
			if !acct.TOTPEnabled || acct.RecoveryCodesLeft != 10 {
				t.Errorf("GET /api/account = %+v after enrolment, want totp_enabled with 10 recovery codes left", acct)
			}

			b.click(t, "#totp-codes-done")
			b.do(t, "waiting for the enabled state", chromedp.WaitVisible(chromedp.CSS("#totp-on")))
			if got := b.text(t, "#totp-left"); !strings.HasPrefix(got, "10 recovery codes left") {
				t.Errorf("#totp-left = %q, want 10 recovery codes left", got)
			}
			if n := browserEval[int](t, b, `document.querySelectorAll("#totp-recovery-list li").length`); n != 0 {
				t.Errorf("%d recovery codes stay in the page after Done", n)
			}
		}},
		{"login asks for the code after the password and refuses a spent one", func(t *testing.T) {
			b.logout(t)
			b.login(t, email, browserPassword)
			b.do(t, "waiting for the code field", chromedp.WaitVisible(chromedp.CSS("#login-totp")))
			b.waitJS(t, "the focus on the code field", `document.activeElement && document.activeElement.id === "login-totp"`)
			if label := b.text(t, `label[for="login-totp"]`); label != "Code from your authenticator app or a recovery code" {
				t.Errorf("the code field's label = %q", label)
			}
			type form struct {
				Email    string `json:"email"`
				Password string `json:"password"`
			}
			f := browserEval[form](t, b, `({email: document.querySelector("#login-email").value, password: document.querySelector("#login-password").value})`)
			if f.Email != email || f.Password != browserPassword {
				t.Errorf("the code step emptied the form: email %q, password kept %v", f.Email, f.Password == browserPassword)
			}
			if p := b.location(t).Path; p != "/login" {
				t.Fatalf("after the password the browser is at %s, want /login", p)
			}

			// The code the enrolment spent is refused (replay).
			b.fill(t, "#login-totp", totpAt(t, secret, usedStep))
			b.click(t, "#login-submit")
			b.do(t, "waiting for the refusal", chromedp.WaitVisible(chromedp.CSS("#login-error")))
			if got := b.assertVisible(t, "#login-error"); !strings.Contains(got, "already used") {
				t.Errorf("#login-error = %q after a spent code, want it to say the code was wrong or already used", got)
			}
			if page := browserEval[string](t, b, `document.body.dataset.page`); page != "login" {
				t.Fatalf("a spent code led to the %s page", page)
			}
			b.waitJS(t, "the focus back on the code field", `document.activeElement && document.activeElement.id === "login-totp"`)
			b.shot(t, "spent-code")
		}},
		{"a fresh code logs in", func(t *testing.T) {
			usedStep = bsecStepAfter(t, usedStep)
			b.fill(t, "#login-totp", totpAt(t, secret, usedStep))
			b.click(t, "#login-submit")
			b.waitPage(t, "overview")
			if p := b.location(t).Path; p != "/" {
				t.Errorf("after the code the browser is at %s, want /", p)
			}
			if got := b.text(t, "#current-user"); !strings.Contains(got, email) {
				t.Errorf("#current-user = %q, want %s", got, email)
			}
		}},
		{"a second session with a recovery code, revoked on the account page", func(t *testing.T) {
			if status, reason, cookie := bsecLogin(t, base, email, browserPassword, ""); status != http.StatusUnauthorized || reason != "totp_required" || cookie != "" {
				t.Errorf("login without a code: %d reason %q cookie set %v, want 401 totp_required and no cookie", status, reason, cookie != "")
			}
			status, reason, second := bsecLogin(t, base, email, browserPassword, recovery[0])
			if status != http.StatusOK || second == "" {
				t.Fatalf("login with a recovery code: %d reason %q, want 200 with a session", status, reason)
			}
			wantSession(t, base, second, "")
			if status, reason, cookie := bsecLogin(t, base, email, browserPassword, recovery[0]); status != http.StatusUnauthorized || reason != "totp_invalid" || cookie != "" {
				t.Errorf("the same recovery code again: %d reason %q cookie set %v, want 401 totp_invalid", status, reason, cookie != "")
			}

			b.navigate(t, base+"/account")
			b.waitPage(t, "account")
			b.do(t, "waiting for the two-factor status", chromedp.WaitVisible(chromedp.CSS("#totp-on")))
			if got := b.text(t, "#totp-left"); !strings.HasPrefix(got, "9 recovery codes left") {
				t.Errorf("#totp-left = %q after using one, want 9 recovery codes left", got)
			}
			id := browserEval[string](t, b, fmt.Sprintf(`(() => {
				const li = [...document.querySelectorAll("#sessions-list li[data-session-id]")].find((l) => l.firstChild.title === %q);
				return li ? li.dataset.sessionId : "";
			})()`, bsecUserAgent))
			if id == "" {
				t.Fatalf("the sessions list has no row for the second session (%s)\npage: %s", bsecUserAgent, b.state())
			}
			b.click(t, fmt.Sprintf(`#sessions-list li[data-session-id=%q] button.session-revoke`, id))
			b.waitJS(t, "the revoked session to leave the list", fmt.Sprintf(
				`!document.querySelector('#sessions-list li[data-session-id=%q]') && !document.querySelector("#sessions-notice").hidden`, id))
			wantSession(t, base, second, "revoked")
			wantSession(t, base, bsecBrowserCookie(t, b, base), "")
		}},
		{"create an API key with routes:read, shown once", func(t *testing.T) {
			b.navigate(t, base+"/keys")
			b.waitPage(t, "keys")
			offered := browserEval[[]string](t, b, `[...document.querySelectorAll("#key-scope-list input[type=checkbox]")].map((i) => i.value)`)
			for _, want := range []string{"routes:read", "routes:write", "users:read", "users:write", "audit:read", "admin"} {
				if !strings.Contains(" "+strings.Join(offered, " ")+" ", " "+want+" ") {
					t.Errorf("an admin is not offered scope %s: %q", want, offered)
				}
			}
			b.fill(t, "#key-name", keyName)
			b.click(t, `#key-scope-list input[value="routes:read"]`)
			brtSelect(t, b, "#key-expiry", "720h")
			b.fill(t, "#key-password", browserPassword)
			b.click(t, "#key-create")
			b.do(t, "waiting for the new key", chromedp.WaitVisible(chromedp.CSS("#key-created")))
			apiKey = browserRun(t, b, "reading the new key", chromedp.Value(chromedp.CSS("#key-secret")))
			if !strings.HasPrefix(apiKey, "pxos_") || len(apiKey) < 20 {
				t.Fatalf("the page shows the key %q, want pxos_…", apiKey)
			}
			if got := b.assertVisible(t, "#key-created .notice-warning"); !strings.Contains(got, "only time") {
				t.Errorf("the new key's warning = %q, want it to say the key is shown only this time", got)
			}
			b.assertVisible(t, "#key-copy")
			b.shot(t, "new-key")
			if ro := browserEval[bool](t, b, `document.querySelector("#key-secret").readOnly`); !ro {
				t.Error("the new key's field is not read-only")
			}
			type row struct {
				ID     string   `json:"id"`
				Status string   `json:"status"`
				Scopes []string `json:"scopes"`
				Text   string   `json:"text"`
			}
			r := browserEval[row](t, b, fmt.Sprintf(`(() => {
				const li = [...document.querySelectorAll("#keys-list li[data-key-id]")].find((l) => l.querySelector(".key-name").textContent === %q);
				if (!li) return {id: "", status: "", scopes: [], text: ""};
				return {id: li.dataset.keyId, status: li.dataset.status,
					scopes: [...li.querySelectorAll(".scope-badges li")].map((e) => e.textContent), text: li.innerText};
			})()`, keyName))
			if r.ID == "" {
				t.Fatalf("the keys list has no row named %q\npage: %s", keyName, b.state())
			}
			apiKeyID = r.ID
			if r.Status != "active" || len(r.Scopes) != 1 || r.Scopes[0] != "routes:read" || !strings.Contains(r.Text, "last used never") {
				t.Errorf("the new key's row: status %q scopes %q text %q, want active, routes:read, last used never", r.Status, r.Scopes, r.Text)
			}

			// Stored as asked, and the secret is never listed again.
			keys, raw := bsecKeys(t, base, bsecBrowserCookie(t, b, base))
			if strings.Contains(string(raw), apiKey) || strings.Contains(string(raw), strings.TrimPrefix(apiKey, "pxos_")) {
				t.Error("GET /api/keys contains the key's secret")
			}
			var stored *bsecKey
			for i := range keys {
				if keys[i].ID == apiKeyID {
					stored = &keys[i]
				}
			}
			switch {
			case stored == nil:
				t.Fatalf("GET /api/keys does not list key %s: %s", apiKeyID, raw)
			case stored.Name != keyName || len(stored.Scopes) != 1 || stored.Scopes[0] != "routes:read" || stored.RevokedAt != nil:
				t.Errorf("stored key = %+v, want %q with routes:read, not revoked", *stored, keyName)
			case stored.ExpiresAt == nil || stored.ExpiresAt.Sub(time.Now().Add(720*time.Hour)).Abs() > 5*time.Minute:
				t.Errorf("stored key expires at %v, want in 30 days (720h)", stored.ExpiresAt)
			}

			b.click(t, "#key-created-done")
			b.waitJS(t, "the new key to leave the page", `document.querySelector("#key-created").hidden && document.querySelector("#key-secret").value === ""`)
			if left := browserEval[bool](t, b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, apiKey)); left {
				t.Error("the key's secret stays in the page after Done")
			}
		}},
		{"the key reads routes and may not write them", func(t *testing.T) {
			if status, raw := bsecBearer(t, base, http.MethodGet, "/api/routes", apiKey, nil); status != http.StatusOK {
				t.Errorf("GET /api/routes with the routes:read key: %d %s, want 200", status, raw)
			}
			if status, raw := bsecBearer(t, base, http.MethodPost, "/api/routes", apiKey, routeSpec); status != http.StatusForbidden {
				t.Errorf("POST /api/routes with the routes:read key: %d %s, want 403", status, raw)
			}
			// The same request with a routes:write key passes: the 403
			// above came from the scope.
			resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/keys",
				strings.NewReader(`{"name":"ci writer","scopes":["routes:write"],"expires_in":"720h","password":`+strconv.Quote(browserPassword)+`}`),
				withSession(bsecBrowserCookie(t, b, base), "Content-Type", "application/json", "Origin", base))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST /api/keys routes:write: %d %s", resp.StatusCode, raw)
			}
			writer, _ := decode(t, raw)["key"].(string)
			if status, raw := bsecBearer(t, base, http.MethodPost, "/api/routes", writer, routeSpec); status != http.StatusCreated {
				t.Errorf("POST /api/routes with a routes:write key: %d %s, want 201", status, raw)
			}
		}},
		{"revoke the key on the page", func(t *testing.T) {
			b.navigate(t, base+"/keys")
			b.waitPage(t, "keys")
			row := fmt.Sprintf(`#keys-list li[data-key-id=%q]`, apiKeyID)
			if got := b.text(t, row+" .key-facts"); strings.Contains(got, "last used never") {
				t.Errorf("after its use the key's row says %q, want a last-used time", got)
			}
			b.click(t, row+" button.key-revoke")
			b.do(t, "waiting for the confirm dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			if got := b.text(t, "#confirm-text"); !strings.Contains(got, keyName) {
				t.Errorf("the confirm dialog says %q, want it to name %q", got, keyName)
			}
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the key shown as revoked", fmt.Sprintf(`(() => {
				const li = document.querySelector('%s');
				return li && li.dataset.status === "revoked" && !li.querySelector(".key-revoke");
			})()`, row))
			if got := b.assertVisible(t, "#keys-notice"); !strings.Contains(got, "Revoked") {
				t.Errorf("#keys-notice = %q, want Revoked …", got)
			}
			if status, raw := bsecBearer(t, base, http.MethodGet, "/api/routes", apiKey, nil); status != http.StatusUnauthorized {
				t.Errorf("GET /api/routes with the revoked key: %d %s, want 401", status, raw)
			}
		}},
		{"audit log lists two-factor, session and key changes", func(t *testing.T) {
			b.navigate(t, base+"/audit")
			b.waitPage(t, "audit")
			b.do(t, "waiting for the audit table", chromedp.WaitVisible(chromedp.CSS("#audit-list")))
			rows := browserEval[[]bsecAuditRow](t, b, `[...document.querySelectorAll("#audit-table tbody tr")].map((tr) => {
				const td = tr.querySelectorAll("td");
				return {actor: td[1].innerText.trim(), action: td[2].innerText.trim(), target: td[3].innerText.trim(), out: td[5].innerText.trim()};
			})`)
			for _, action := range []string{"totp.enable", "session.revoke", "key.create", "key.revoke"} {
				found := false
				for _, r := range rows {
					found = found || (r.Actor == email && r.Action == action && r.Out == "OK")
				}
				if !found {
					t.Errorf("the audit log has no successful %s by %s: %+v", action, email, rows)
				}
			}
		}},
		{"phone width", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, base+"/keys")
			b.waitPage(t, "keys")
			browserFits(t, b)
			b.fill(t, "#key-name", "phone")
			b.click(t, `#key-scope-list input[value="routes:read"]`)
			b.fill(t, "#key-password", browserPassword)
			b.click(t, "#key-create")
			b.do(t, "waiting for the new key", chromedp.WaitVisible(chromedp.CSS("#key-created")))
			browserFits(t, b)
			b.shot(t, "keys-375")
			b.navigate(t, base+"/account")
			b.waitPage(t, "account")
			browserFits(t, b)
			b.shot(t, "account-375")
			b.logout(t)
			b.login(t, email, browserPassword)
			b.do(t, "waiting for the code field", chromedp.WaitVisible(chromedp.CSS("#login-totp")))
			browserFits(t, b)
			b.shot(t, "login-totp-375")
		}},
		{"log in on the page with a recovery code", func(t *testing.T) {
			b.fill(t, "#login-totp", recovery[1])
			b.click(t, "#login-submit")
			b.waitPage(t, "overview")
			if acct := bsecGetAccount(t, base, bsecBrowserCookie(t, b, base)); acct.RecoveryCodesLeft != 8 {
				t.Errorf("after two recovery codes GET /api/account says %d left, want 8", acct.RecoveryCodesLeft)
			}
		}},
		{"turn two-factor off on the account page", func(t *testing.T) {
			b.navigate(t, base+"/account")
			b.waitPage(t, "account")
			b.click(t, "#totp-disable-open")
			b.fill(t, "#totp-disable-password", "not the password")
			b.fill(t, "#totp-disable-code", recovery[2])
			b.click(t, "#totp-disable")
			b.do(t, "waiting for the password's error", chromedp.WaitVisible(chromedp.CSS("#totp-disable-password-error")))
			if on := bsecGetAccount(t, base, bsecBrowserCookie(t, b, base)); !on.TOTPEnabled {
				t.Fatal("a wrong password turned two-factor authentication off")
			}
			b.fill(t, "#totp-disable-password", browserPassword)
			b.fill(t, "#totp-disable-code", recovery[2])
			b.click(t, "#totp-disable")
			b.do(t, "waiting for the disabled state", chromedp.WaitVisible(chromedp.CSS("#totp-off")))
			if got := b.text(t, "#totp-status"); got != "Off" {
				t.Errorf("#totp-status = %q after turning it off, want Off", got)
			}
			b.assertVisible(t, "#totp-notice")
			if acct := bsecGetAccount(t, base, bsecBrowserCookie(t, b, base)); acct.TOTPEnabled {
				t.Error("GET /api/account still says totp_enabled after Turn off")
			}
			if status, reason, _ := bsecLogin(t, base, email, browserPassword, ""); status != http.StatusOK {
				t.Errorf("login without a code after Turn off: %d reason %q, want 200", status, reason)
			}
		}},
		{"reset another user's two-factor on the users page", func(t *testing.T) {
			viewerID = inst.CreateUser(viewerEmail, viewerPassword, "viewer")
			viewer = newClient(t, base)
			viewer.Login(viewerEmail, viewerPassword)
			resp, raw := viewer.PostJSON("/api/account/totp", map[string]any{"password": viewerPassword})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /api/account/totp as the viewer: %d %s", resp.StatusCode, raw)
			}
			vsecret, _ := decode(t, raw)["secret"].(string)
			resp, raw = viewer.PostJSON("/api/account/totp/confirm", map[string]string{"code": totpAt(t, vsecret, totpNow())})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /api/account/totp/confirm as the viewer: %d %s", resp.StatusCode, raw)
			}
			if status, reason, _ := bsecLogin(t, base, viewerEmail, viewerPassword, ""); status != http.StatusUnauthorized || reason != "totp_required" {
				t.Fatalf("the viewer's login without a code: %d reason %q, want 401 totp_required", status, reason)
			}

			b.navigate(t, base+"/users")
			b.waitPage(t, "users")
			row := fmt.Sprintf(`#users-list li[data-user-id=%q]`, viewerID)
			b.assertVisible(t, row+" .user-totp")
			if n := browserEval[int](t, b, fmt.Sprintf(`document.querySelectorAll('#users-list li:not([data-user-id=%q]) .user-reset-totp').length`, viewerID)); n != 0 {
				t.Errorf("%d users without two-factor have a Reset two-factor button", n)
			}
			browserFits(t, b)
			b.click(t, row+" button.user-reset-totp")
			b.do(t, "waiting for the confirm dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			if got := b.text(t, "#confirm-text"); !strings.Contains(got, viewerEmail) {
				t.Errorf("the confirm dialog says %q, want it to name %s", got, viewerEmail)
			}
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the 2FA badge to go", fmt.Sprintf(`(() => {
				const li = document.querySelector('%s');
				return li && !li.querySelector(".user-totp") && !li.querySelector(".user-reset-totp");
			})()`, row))
			if got := b.assertVisible(t, "#users-notice"); !strings.Contains(got, viewerEmail) {
				t.Errorf("#users-notice = %q, want it to name %s", got, viewerEmail)
			}
			if status, reason, _ := bsecLogin(t, base, viewerEmail, viewerPassword, ""); status != http.StatusOK {
				t.Errorf("the viewer's login without a code after the reset: %d reason %q, want 200", status, reason)
			}
		}},
		{"an admin revokes another user's key", func(t *testing.T) {
			const name = "viewer's script"
			resp, raw := viewer.PostJSON("/api/keys", map[string]any{"name": name, "scopes": []string{"routes:read"}, "password": viewerPassword})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST /api/keys as the viewer: %d %s", resp.StatusCode, raw)
			}
			key, _ := decode(t, raw)["key"].(string)
			if status, raw := bsecBearer(t, base, http.MethodGet, "/api/routes", key, nil); status != http.StatusOK {
				t.Fatalf("GET /api/routes with the viewer's key: %d %s, want 200", status, raw)
			}

			b.navigate(t, base+"/users")
			b.waitPage(t, "users")
			b.click(t, fmt.Sprintf(`#users-list li[data-user-id=%q] a.user-keys`, viewerID))
			b.waitPage(t, "keys")
			if loc := b.location(t); loc.Query().Get("user_id") != viewerID {
				t.Fatalf("the users page's API keys link led to %s, want /keys?user_id=%s", loc, viewerID)
			}
			if got := b.text(t, "#keys-title"); !strings.Contains(got, viewerEmail) {
				t.Errorf("#keys-title = %q, want it to name %s", got, viewerEmail)
			}
			if visible := browserEval[bool](t, b, `document.querySelector("#key-create-card").checkVisibility()`); visible {
				t.Error("the create form is shown on another user's keys")
			}
			names := browserEval[[]string](t, b, `[...document.querySelectorAll("#keys-list .key-name")].map((e) => e.textContent)`)
			if len(names) != 1 || names[0] != name {
				t.Fatalf("another user's keys page lists %q, want only %q", names, name)
			}
			browserFits(t, b)
			b.click(t, "#keys-list li[data-key-id] button.key-revoke")
			b.do(t, "waiting for the confirm dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the key shown as revoked", `(() => {
				const li = document.querySelector("#keys-list li[data-key-id]");
				return li && li.dataset.status === "revoked";
			})()`)
			if status, raw := bsecBearer(t, base, http.MethodGet, "/api/routes", key, nil); status != http.StatusUnauthorized {
				t.Errorf("GET /api/routes with the viewer's key revoked by the admin: %d %s, want 401", status, raw)
			}
		}},
	})
	b.assertClean(t)
}
