package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserRouteAccess walks an operator through access rules and
// route tokens in Chromium: rules typed in the route form are live when
// saved, the "test a request" box explains which rule decides (path
// tricks included), a token is shown once, works, and stops working when
// revoked from its row.
func TestBrowserRouteAccess(t *testing.T) {
	browserExecPath(t)
	inst := newInstance(t)
	inst.Configure(func() string { return brtCaddyfile(inst.Admin, inst.Port("routes"), inst.Port("dash")) })
	inst.Start()
	routesPort, dash := inst.Port("routes"), inst.Port("dash")
	dashURL := fmt.Sprintf("http://localhost:%d", dash)
	up := brtUpstream(t, "upstream A")
	const host = "rules.proxyos.test"
	get := func(path, authorization string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", routesPort, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Accept", "application/json")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := brtHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode
	}
	var token string

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"set up the admin", func(t *testing.T) {
			b.navigate(t, dashURL+"/setup")
			b.waitPage(t, "setup")
			b.fill(t, "#setup-email", "access-admin@example.com")
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
		}},
		{"create a route with rules in the form", func(t *testing.T) {
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-name", "Rules")
			b.fill(t, "#route-hosts", host)
			brtSelect(t, b, "#route-kind", "proxy")
			b.fill(t, "#route-upstreams", up)
			brtSelect(t, b, "#route-tls", "off")
			b.click(t, "#route-auth-login")
			b.fill(t, "#route-auth-rules", "allow /open/*\ndeny /admin/* \nallow 10.0.0.0/8")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			b.do(t, "waiting for the new row", chromedp.WaitVisible(chromedp.CSS(`tr[data-route-id]`)))
			for path, want := range map[string]int{"/open/x": 200, "/admin/x": 403, "/x": 401, "/open/../admin/x": 403} {
				if got := get(path, ""); got != want {
					t.Errorf("GET %s: %d, want %d", path, got, want)
				}
			}
		}},
		{"test a request in the box", func(t *testing.T) {
			id := brtRowID(t, b, host)
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			if got := browserEval[string](t, b, `document.querySelector("#route-auth-rules").value`); got != "allow /open/*\ndeny /admin/*\nallow 10.0.0.0/8" {
				t.Fatalf("the rules read back as %q", got)
			}
			b.fill(t, "#access-test-path", "/open/%2e%2e/admin/x")
			b.click(t, "#access-test-run")
			b.waitJS(t, "the verdict", `!document.querySelector("#access-test-result").hidden`)
			if got := b.text(t, "#access-test-result"); !strings.Contains(got, "Denied (403) by rule 2") || !strings.Contains(got, `"/admin/x"`) {
				t.Fatalf("verdict %q, want denied by rule 2 on /admin/x", got)
			}
			b.fill(t, "#access-test-path", "/x")
			b.fill(t, "#access-test-ip", "10.1.2.3")
			b.click(t, "#access-test-run")
			b.waitJS(t, "the second verdict", `document.querySelector("#access-test-result").textContent.includes("rule 3")`)
		}},
		{"create a token, shown once, and use it", func(t *testing.T) {
			b.fill(t, "#token-name", "ci")
			b.click(t, "#token-create")
			b.waitJS(t, "the token", `document.querySelector("#token-secret").value.startsWith("prt_")`)
			token = browserEval[string](t, b, `document.querySelector("#token-secret").value`)
			if got := get("/x", "Bearer "+token); got != 200 {
				t.Fatalf("GET /x with the token: %d, want 200", got)
			}
			b.waitJS(t, "the token's row", `document.querySelector("#token-list").textContent.includes("ci")`)
			// The form's default: the token expires in 90 days.
			days := browserEval[float64](t, b, `(new Date(document.querySelector("#token-list li time:last-of-type").dateTime) - Date.now()) / 86400000`)
			if days < 89.9 || days > 90.1 {
				t.Fatalf("the new token expires in %.2f days, want 90", days)
			}
			b.navigate(t, b.location(t).String())
			b.waitPage(t, "route-edit")
			b.waitJS(t, "the token's row after a reload", `document.querySelector("#token-list").textContent.includes("ci")`)
			if browserEval[bool](t, b, `document.documentElement.innerHTML.includes(`+fmt.Sprintf("%q", token)+`)`) {
				t.Fatal("the token is in the page after a reload")
			}
		}},
		{"revoke the token from its row", func(t *testing.T) {
			b.click(t, `#token-list button`)
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the row marked revoked", `document.querySelector("#token-list li[data-status=revoked]") !== null`)
			if got := get("/x", "Bearer "+token); got != 401 {
				t.Fatalf("GET /x with the revoked token: %d, want 401", got)
			}
		}},
	})
}
