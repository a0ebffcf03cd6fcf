package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The account pages of the dashboard (users, account, audit log), driven
// in headless Chromium against a real Caddy.

// bacUserAgent is the User-Agent of the admin's second session, made
// outside the browser, so its row on the account page can be found.
const bacUserAgent = "proxyos-test-second-session/1.0"

// bacLogin logs in through POST /api/auth/login with a chosen User-Agent
// and returns the session cookie's value.
func bacLogin(t testing.TB, base, email, password, userAgent string) string {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/auth/login", strings.NewReader(body), http.Header{
		"Content-Type": {"application/json"},
		"Origin":       {base},
		"User-Agent":   {userAgent},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/auth/login %s: %d %s", email, resp.StatusCode, raw)
	}
	return mustSessionCookie(t, resp).Value
}

// bacUser is one entry of GET /api/users.
type bacUser struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

// bacUsers lists the users through GET /api/users with the admin's cookie.
func bacUsers(t testing.TB, base, cookie string) []bacUser {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/users", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/users: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Users []bacUser `json:"users"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("GET /api/users: %v: %s", err, raw)
	}
	return out.Users
}

// bacUserRow returns the data-user-id of the users list entry showing
// email, or "" when there is none.
func bacUserRow(t testing.TB, b *browserTab, email string) string {
	t.Helper()
	return browserEval[string](t, b, fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll("#users-list li[data-user-id]")]
			.find((l) => { const e = l.querySelector(".user-row-email"); return e && e.textContent === %q; });
		return li ? li.dataset.userId : "";
	})()`, email))
}

// TestBrowserAccounts walks an admin through the account pages in
// Chromium: creating an operator in the users page's form, resetting its
// password in the dialog (a refused password keeps the dialog open with
// the server's message; a good one ends the operator's sessions),
// disabling it (its session ends with reason user_disabled), making it an
// admin with the admin's own password, the account page's
// sessions list with this browser's session marked current and another
// session revoked with its button, the audit log listing the login and
// the user creation, and the three pages at phone width. Every page runs
// under the dashboard's CSP: a violation or an uncaught exception fails
// the test.
func TestBrowserAccounts(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := startDashboard(t, dashNoAdmin())
	inst, base := e.inst, e.Base
	const (
		email      = "accounts-admin@example.com"
		opEmail    = "operator-one@example.com"
		opPassword = "operator password 1"
	)
	api := newClient(t, base)
	var (
		adminCookie string // the admin's session from setup, outside the browser
		opID        string
		opCookie    string // the operator's session, outside the browser
	)

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"set up the admin and log in on the page", func(t *testing.T) {
			adminCookie = api.Setup(inst, email, browserPassword)
			wantSession(t, base, adminCookie, "")
			b.navigate(t, base+"/login")
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			if got := b.text(t, "#current-user"); !strings.Contains(got, email) {
				t.Fatalf("after login #current-user = %q, want %s", got, email)
			}
		}},
		{"create an operator in the users page's form", func(t *testing.T) {
			b.navigate(t, base+"/users")
			b.waitPage(t, "users")
			if id := bacUserRow(t, b, email); id == "" {
				t.Fatalf("the users list does not show the admin %s\npage: %s", email, b.state())
			}
			if id := bacUserRow(t, b, opEmail); id != "" {
				t.Fatalf("the users list shows %s before it was created", opEmail)
			}
			b.fill(t, "#user-email", opEmail)
			b.fill(t, "#user-password", opPassword)
			brtSelect(t, b, "#user-role", "operator")
			b.click(t, "#user-create")
			b.waitJS(t, "the new user in the list", fmt.Sprintf(
				`[...document.querySelectorAll("#users-list .user-row-email")].some((e) => e.textContent === %q)`, opEmail))
			if got := b.assertVisible(t, "#users-notice"); !strings.Contains(got, opEmail) || !strings.Contains(got, "operator") {
				t.Errorf("#users-notice = %q, want it to name %s as operator", got, opEmail)
			}
			if got := b.text(t, "#users-count"); got != "2 users" {
				t.Errorf("#users-count = %q, want 2 users", got)
			}
			opID = bacUserRow(t, b, opEmail)
			var found *bacUser
			for _, u := range bacUsers(t, base, adminCookie) {
				if u.Email == opEmail {
					found = &u
				}
			}
			if found == nil {
				t.Fatalf("GET /api/users does not list %s", opEmail)
			}
			if found.ID != opID || found.Role != "operator" || found.Disabled {
				t.Errorf("stored user = %+v, want id %s, operator, enabled", *found, opID)
			}
			gotID, cookie := newClient(t, base).Login(opEmail, opPassword)
			if gotID != opID {
				t.Errorf("the operator logged in as user %s, want %s", gotID, opID)
			}
			wantSession(t, base, cookie, "")
			opCookie = cookie
		}},
		{"reset the operator's password in the dialog", func(t *testing.T) {
			const newPassword = "operator password 2"
			row := fmt.Sprintf(`#users-list li[data-user-id=%q]`, opID)
			b.click(t, row+" button.user-reset")
			b.do(t, "waiting for the password field", chromedp.WaitVisible(chromedp.CSS("#confirm-password")))
			if got := b.text(t, "#confirm-title"); !strings.Contains(got, opEmail) {
				t.Errorf("#confirm-title = %q, want it to name %s", got, opEmail)
			}
			if got := browserEval[string](t, b, `document.querySelector("#confirm-password").autocomplete`); got != "new-password" {
				t.Errorf("the dialog's password field has autocomplete %q, want new-password", got)
			}
			b.fill(t, "#confirm-password", "short")
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the password error", `!document.querySelector("#confirm-password-error").hidden`)
			if got := b.assertVisible(t, "#confirm-password-error"); !strings.Contains(got, "8") {
				t.Errorf("#confirm-password-error = %q, want it to ask for at least 8 characters", got)
			}
			if open := browserEval[bool](t, b, `document.querySelector("#confirm-dialog").open`); !open {
				t.Fatal("the dialog closed after the server refused the password")
			}
			wantSession(t, base, opCookie, "")
			b.fill(t, "#confirm-password", newPassword)
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the dialog to close with a notice", `!document.querySelector("#confirm-dialog").open && !document.querySelector("#users-notice").hidden`)
			if got := b.assertVisible(t, "#users-notice"); !strings.Contains(got, "new password for "+opEmail) {
				t.Errorf("#users-notice = %q, want it to name %s", got, opEmail)
			}
			wantSession(t, base, opCookie, "revoked")
			if status, _, _ := bsecLogin(t, base, opEmail, opPassword, ""); status != http.StatusUnauthorized {
				t.Errorf("login with the old password after the reset: %d, want 401", status)
			}
			_, opCookie = newClient(t, base).Login(opEmail, newPassword)
			wantSession(t, base, opCookie, "")
		}},
		{"disable the operator with the toggle", func(t *testing.T) {
			row := fmt.Sprintf(`#users-list li[data-user-id=%q]`, opID)
			if got := b.text(t, row+" button.user-toggle"); got != "Disable" {
				t.Fatalf("the operator's toggle says %q, want Disable", got)
			}
			b.click(t, row+" button.user-toggle")
			b.waitJS(t, "the operator shown as disabled", fmt.Sprintf(`(() => {
				const li = document.querySelector(%q);
				return li && li.querySelector(".badge-bad") && li.querySelector("button.user-toggle").textContent === "Enable";
			})()`, row))
			if got := b.assertVisible(t, "#users-notice"); !strings.Contains(got, "Disabled "+opEmail) {
				t.Errorf("#users-notice = %q, want Disabled %s.", got, opEmail)
			}
			// The page shows the change only after the API answered.
			wantSession(t, base, opCookie, "user_disabled")
			for _, u := range bacUsers(t, base, adminCookie) {
				if u.Email == opEmail && !u.Disabled {
					t.Errorf("GET /api/users shows %s enabled after the toggle", opEmail)
				}
			}
		}},
		{"make the operator an admin: the page asks for the admin's password", func(t *testing.T) {
			row := fmt.Sprintf(`#users-list li[data-user-id=%q]`, opID)
			role := func() string {
				for _, u := range bacUsers(t, base, adminCookie) {
					if u.ID == opID {
						return u.Role
					}
				}
				return ""
			}
			brtSelect(t, b, row+" select.user-role-select", "admin")
			b.assertVisible(t, "#confirm-dialog")
			b.click(t, "#confirm-no")
			b.waitJS(t, "the role select back at operator", fmt.Sprintf(`document.querySelector(%q).value === "operator" && !document.querySelector("#confirm-dialog").open`,
				row+" select.user-role-select"))
			if got := role(); got != "operator" {
				t.Fatalf("role after Cancel: %q, want operator", got)
			}
			brtSelect(t, b, row+" select.user-role-select", "admin")
			b.fill(t, "#confirm-password", "not my password")
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the password error", `!document.querySelector("#confirm-password-error").hidden`)
			if got := b.assertVisible(t, "#confirm-password-error"); !strings.Contains(got, "password") {
				t.Errorf("#confirm-password-error = %q, want it to say the password is wrong", got)
			}
			if got := role(); got != "operator" {
				t.Fatalf("role after a wrong password: %q, want operator", got)
			}
			b.fill(t, "#confirm-password", browserPassword)
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the operator shown as admin", fmt.Sprintf(`(() => {
				const li = document.querySelector(%q);
				return li && li.querySelector(".role-admin") && !document.querySelector("#confirm-dialog").open;
			})()`, row))
			if got := role(); got != "admin" {
				t.Fatalf("role after the right password: %q, want admin", got)
			}
		}},
		{"sessions on the account page, revoke one", func(t *testing.T) {
			second := bacLogin(t, base, email, browserPassword, bacUserAgent)
			wantSession(t, base, second, "")
			b.navigate(t, base+"/account")
			b.waitPage(t, "account")
			if got := b.text(t, "#account .acct-email"); got != email {
				t.Errorf(".acct-email = %q, want %s", got, email)
			}
			type sess struct {
				Current int  `json:"current"`
				Mine    bool `json:"mine"`
				Revoke  bool `json:"revoke"`
				Second  int  `json:"second"`
				Total   int  `json:"total"`
			}
			s := browserEval[sess](t, b, fmt.Sprintf(`(() => {
				const lis = [...document.querySelectorAll("#sessions-list li[data-session-id]")];
				const cur = lis.filter((l) => l.querySelector(".session-current"));
				return {
					current: cur.length,
					mine: cur.length === 1 && cur[0].firstChild.title === navigator.userAgent,
					revoke: cur.length === 1 && !!cur[0].querySelector(".session-revoke"),
					second: lis.filter((l) => l.firstChild.title === %q).length,
					total: lis.length,
				};
			})()`, bacUserAgent))
			switch {
			case s.Current != 1 || !s.Mine:
				t.Fatalf("sessions list: %d marked current (this browser's: %v), want exactly this browser's\npage: %s", s.Current, s.Mine, b.state())
			case s.Revoke:
				t.Error("the current session has a Revoke button")
			case s.Second != 1:
				t.Fatalf("sessions list shows %d rows of the second session (%s), want 1\npage: %s", s.Second, bacUserAgent, b.state())
			case s.Total != 3:
				t.Errorf("sessions list shows %d sessions, want 3 (setup, browser, second)", s.Total)
			}
			id := browserEval[string](t, b, fmt.Sprintf(`[...document.querySelectorAll("#sessions-list li[data-session-id]")]
				.find((l) => l.firstChild.title === %q).dataset.sessionId`, bacUserAgent))
			b.click(t, fmt.Sprintf(`#sessions-list li[data-session-id=%q] button.session-revoke`, id))
			b.waitJS(t, "the revoked session to leave the list", fmt.Sprintf(
				`!document.querySelector(%q) && !document.querySelector("#sessions-notice").hidden`,
				fmt.Sprintf(`#sessions-list li[data-session-id=%q]`, id)))
			if got := b.assertVisible(t, "#sessions-notice"); !strings.Contains(got, "Signed out") {
				t.Errorf("#sessions-notice = %q, want Signed out …", got)
			}
			wantSession(t, base, second, "revoked")
			wantSession(t, base, adminCookie, "")
			if n := browserEval[int](t, b, `document.querySelectorAll("#sessions-list li .session-current").length`); n != 1 {
				t.Errorf("after the revoke %d sessions are marked current, want 1", n)
			}
		}},
		{"audit log lists the login and the user creation", func(t *testing.T) {
			b.navigate(t, base+"/audit")
			b.waitPage(t, "audit")
			b.do(t, "waiting for the audit table", chromedp.WaitVisible(chromedp.CSS("#audit-list")))
			type entry struct {
				Actor  string `json:"actor"`
				Action string `json:"action"`
				Target string `json:"target"`
				Out    string `json:"out"`
			}
			rows := browserEval[[]entry](t, b, `[...document.querySelectorAll("#audit-table tbody tr")].map((tr) => {
				const td = tr.querySelectorAll("td");
				return {actor: td[1].innerText.trim(), action: td[2].innerText.trim(), target: td[3].innerText.trim(), out: td[5].innerText.trim()};
			})`)
			has := func(actor, action, target string) bool {
				for _, r := range rows {
					if r.Actor == actor && r.Action == action && r.Target == target && r.Out == "OK" {
						return true
					}
				}
				return false
			}
			if !has(email, "login", email) {
				t.Errorf("the audit log has no successful login by %s: %+v", email, rows)
			}
			if !has(email, "user.create", opEmail) {
				t.Errorf("the audit log has no user.create of %s by %s: %+v", opEmail, email, rows)
			}
			if !has(email, "user.update", opEmail) {
				t.Errorf("the audit log has no user.update of %s by %s: %+v", opEmail, email, rows)
			}
		}},
		{"phone width", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			for _, p := range []struct{ path, page string }{
				{"/users", "users"}, {"/account", "account"}, {"/audit", "audit"},
			} {
				b.navigate(t, base+p.path)
				b.waitPage(t, p.page)
				browserFits(t, b)
				b.shot(t, p.page+"-375")
			}
		}},
	})
	b.assertClean(t)
}
