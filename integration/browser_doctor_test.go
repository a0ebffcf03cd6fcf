package integration

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserDoctor drives the Diagnostics page in headless Chromium: an
// admin sees the doctor's server-side findings (here the warning about a
// secret written in the config, with why and the fix, and never the
// secret), at 375 px too; a viewer does not see them.
func TestBrowserDoctor(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	const secret = "browser-doctor-secret-in-config-77"
	e := startDashboard(t, dashProxyos("secret "+secret), dashAdmin("doctor-admin@example.com", browserPassword))
	e.inst.CreateUser("doctor-viewer@example.com", browserPassword, "viewer")

	b := newBrowserTab(t)
	b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
	b.runSteps(t, []browserStep{
		{"an admin opens Diagnostics and sees the warning", func(t *testing.T) {
			b.navigate(t, e.Base+"/login")
			b.login(t, "doctor-admin@example.com", browserPassword)
			b.waitPage(t, "overview")
			b.click(t, `#nav a[href="/diagnostics"]`)
			b.waitPage(t, "diagnostics")
			b.waitJS(t, "the secret_source warning listed", `!document.querySelector("#doctor").hidden &&
				!!document.querySelector('#doctor-findings li.finding-warning[data-id="secret_source"]')`)
			item := b.assertVisible(t, `#doctor-findings li[data-id="secret_source"]`)
			for _, want := range []string{"Warning", "secret_source", "written in the config", "Why:", "Fix:", "{env.PROXYOS_SECRET}"} {
				if !strings.Contains(item, want) {
					t.Errorf("the finding reads %q, want it to contain %q", item, want)
				}
			}
			summary := b.text(t, "#doctor-summary")
			if !strings.Contains(summary, "warnings") {
				t.Errorf("summary %q", summary)
			}
			passed := b.text(t, "#doctor-passed summary")
			if !strings.HasSuffix(passed, "checks passed") {
				t.Errorf("passed checks summary %q", passed)
			}
			if html := browserEval[string](t, b, `document.body.innerHTML`); strings.Contains(html, secret) {
				t.Error("the page shows the secret")
			}
			browserFits(t, b)
		}},
		{"a viewer does not see the server checks", func(t *testing.T) {
			b.logout(t)
			b.login(t, "doctor-viewer@example.com", browserPassword)
			b.waitPage(t, "overview")
			b.navigate(t, e.Base+"/diagnostics")
			b.waitPage(t, "diagnostics")
			if !browserEval[bool](t, b, `document.querySelector("#doctor").hidden && document.querySelectorAll("#doctor .finding").length === 0`) {
				t.Error("a viewer sees the doctor's findings")
			}
		}},
	})
	b.assertClean(t)
}
