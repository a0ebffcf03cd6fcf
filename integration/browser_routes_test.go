package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The route pages of the dashboard, driven in headless Chromium against a
// real Caddy whose http:// site serves the managed routes.

// brtCaddyfile is a dashboard on dashPort and a catch-all http:// site on
// routesPort (Caddy's http_port) that serves the managed routes.
func brtCaddyfile(admin string, routesPort, dashPort int) string {
	return fmt.Sprintf(`{
	admin %[1]s
	default_bind 127.0.0.1
	http_port %[2]d
	skip_install_trust
	persist_config off
	proxyos {
		url http://localhost:%[3]d
	}
}

http://localhost:%[3]d {
	proxyos_dashboard
}

http:// {
	proxyos_routes
	respond "no route" 404
}
`, admin, routesPort, dashPort)
}

// brtUpstream starts an HTTP server that answers every request with body.
func brtUpstream(t testing.TB, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, body) //nolint:errcheck // test upstream
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// brtHTTP asks the routes site, never reusing a connection, so every
// request sees the routes as they are now.
var brtHTTP = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: noRedirects,
	Transport:     &http.Transport{DisableKeepAlives: true},
}

// brtGet sends GET / for host to the routes site on port.
func brtGet(t testing.TB, port int, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := brtHTTP.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s/ (127.0.0.1:%d): %v", host, port, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET http://%s/: reading body: %v", host, err)
	}
	return resp.StatusCode, string(raw)
}

// brtServes fails unless host answers status with exactly body. A change
// is live when the API call returns, and the page reports a change only
// after that: so the first request must already get the new answer. It
// keeps polling (with a deadline) only to say in the failure whether the
// change was late or never came.
func brtServes(t testing.TB, port int, host string, status int, body string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n := 1; ; n++ {
		gotStatus, gotBody := brtGet(t, port, host)
		if gotStatus == status && gotBody == body {
			if n > 1 {
				t.Errorf("http://%s/ answered %d %q only after %d requests: the change was not live when the page reported it", host, status, body, n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("http://%s/ answers %d %q, want %d %q", host, gotStatus, gotBody, status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// brtAdminAPI is the admin API's /proxyos/routes, to check what is stored
// independently of the page.
func brtAdminAPI(t testing.TB, inst *instance) rtAPI {
	return rtAPI{t: t, base: "http://" + inst.Admin + "/proxyos/routes", hc: http.DefaultClient, admin: true}
}

// brtSelect chooses value in a <select> as a person would: the page gets
// the input and change events.
func brtSelect(t testing.TB, b *browserTab, sel, value string) {
	t.Helper()
	b.do(t, "waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	ok := browserEval[bool](t, b, fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (![...s.options].some((o) => o.value === %q)) return false;
		s.focus();
		s.value = %q;
		s.dispatchEvent(new Event("input", {bubbles: true}));
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, sel, value, value))
	if !ok {
		t.Fatalf("%s has no option %q\npage: %s", sel, value, b.state())
	}
}

// brtRowID returns the data-route-id of the routes table row listing
// host, failing when there is none.
func brtRowID(t testing.TB, b *browserTab, host string) string {
	t.Helper()
	id := browserEval[string](t, b, fmt.Sprintf(`(() => {
		const tr = [...document.querySelectorAll("tr[data-route-id]")]
			.find((r) => [...r.querySelectorAll(".host-list li")].some((li) => li.textContent === %q));
		return tr ? tr.dataset.routeId : "";
	})()`, host))
	if id == "" {
		t.Fatalf("no row tr[data-route-id] lists %s\npage: %s", host, b.state())
	}
	return id
}

// brtVisibleRows returns the hosts of the rows the routes table shows.
func brtVisibleRows(t testing.TB, b *browserTab) []string {
	t.Helper()
	return browserEval[[]string](t, b, `[...document.querySelectorAll("#routes-table tbody tr[data-route-id]")]
		.filter((r) => r.checkVisibility())
		.map((r) => [...r.querySelectorAll(".host-list li")].map((li) => li.textContent).join(","))`)
}

// brtIdle waits until the route form is not busy with a request.
func brtIdle(t testing.TB, b *browserTab) {
	t.Helper()
	b.waitJS(t, "the route form to finish its request",
		`document.querySelector("#route-form").getAttribute("aria-busy") === "false"`)
}

// TestBrowserRoutes walks an admin through the route pages in Chromium:
// the empty list, creating a proxy route in the form and seeing it served
// at once, editing it, the server's validation messages next to the
// fields (with nothing stored or changed live), rolling back from the
// history, a static maintenance page created and deleted through the
// confirmation dialog (whose Cancel does not close the next question),
// the search box, and the pages at phone width. Every
// page runs under the dashboard's CSP: a violation or an uncaught
// exception fails the test. None of it reloads Caddy's config.
func TestBrowserRoutes(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	inst := newInstance(t)
	inst.Configure(func() string { return brtCaddyfile(inst.Admin, inst.Port("routes"), inst.Port("dash")) })
	inst.Start()
	routesPort, dash := inst.Port("routes"), inst.Port("dash")
	dashURL := fmt.Sprintf("http://localhost:%d", dash)
	upA, upB := brtUpstream(t, "upstream A"), brtUpstream(t, "upstream B")
	const (
		email     = "routes-admin@example.com"
		appHost   = "app.proxyos.test"
		maintHost = "maint.proxyos.test"
		docsHost  = "docs.proxyos.test"
		maintBody = "<h1>Down</h1>"
	)
	var appID string // the route created in the form

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"set up the admin", func(t *testing.T) {
			b.navigate(t, dashURL+"/setup")
			b.waitPage(t, "setup")
			b.fill(t, "#setup-email", email)
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
		}},
		{"create a proxy route in the form and see it served at once", func(t *testing.T) {
			brtServes(t, routesPort, appHost, http.StatusNotFound, "no route")
			b.navigate(t, dashURL+"/routes")
			b.waitPage(t, "routes")
			b.assertVisible(t, "#routes-empty")
			if n := browserEval[int](t, b, `document.querySelectorAll("tr[data-route-id]").length`); n != 0 {
				t.Fatalf("a fresh instance lists %d routes", n)
			}
			if browserEval[bool](t, b, `document.querySelector("#routes-list").checkVisibility()`) {
				t.Error("the routes table is shown with no routes")
			}
			b.click(t, "#route-new")
			b.waitPage(t, "route-edit")
			if p := b.location(t).Path; p != "/routes/new" {
				t.Fatalf("#route-new led to %s, want /routes/new", p)
			}
			b.fill(t, "#route-name", "App")
			b.fill(t, "#route-hosts", appHost)
			brtSelect(t, b, "#route-kind", "proxy")
			b.fill(t, "#route-upstreams", upA)
			brtSelect(t, b, "#route-tls", "off")
			b.shot(t, "form")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			b.do(t, "waiting for the new row", chromedp.WaitVisible(chromedp.CSS(`tr[data-route-id]`)))
			// Served at once: the page shows the row only after the API
			// answered, and the change is live when it answers.
			brtServes(t, routesPort, appHost, http.StatusOK, "upstream A")
			appID = brtRowID(t, b, appHost)
			if got := b.assertVisible(t, "#routes-notice"); !strings.Contains(got, "App") {
				t.Errorf("#routes-notice = %q, want it to name the saved route", got)
			}
			if browserEval[bool](t, b, `document.querySelector("#routes-empty").checkVisibility()`) {
				t.Error("the empty state is still shown with a route")
			}
			r := brtAdminAPI(t, inst).get(appID)
			if r.Version != 1 || r.Kind != "proxy" || r.TLS != "off" || !r.Enabled || r.Name != "App" ||
				len(r.Upstreams) != 1 || r.Upstreams[0] != upA || len(r.Hosts) != 1 || r.Hosts[0] != appHost {
				t.Errorf("stored route = %+v, want App v1 proxy %s → %s, tls off, enabled", r, appHost, upA)
			}
		}},
		{"edit the upstream", func(t *testing.T) {
			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, appID))
			b.waitPage(t, "route-edit")
			if got := b.location(t); got.Path != "/routes/edit" || got.Query().Get("id") != appID {
				t.Fatalf("a.route-edit led to %s, want /routes/edit?id=%s", got, appID)
			}
			if got := browserRun(t, b, "reading #route-upstreams", chromedp.Value(chromedp.CSS("#route-upstreams"))); got != upA {
				t.Fatalf("the form shows upstreams %q, want %q", got, upA)
			}
			b.fill(t, "#route-upstreams", upB)
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			b.do(t, "waiting for the row", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-route-id=%q]`, appID))))
			brtServes(t, routesPort, appHost, http.StatusOK, "upstream B")
			if r := brtAdminAPI(t, inst).get(appID); r.Version != 2 {
				t.Errorf("after the edit the route is version %d, want 2", r.Version)
			}
		}},
		{"validation errors stay on the form and change nothing", func(t *testing.T) {
			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, appID))
			b.waitPage(t, "route-edit")

			// Caught in the page: nothing is sent.
			b.fill(t, "#route-upstreams", "ftp://nope")
			b.click(t, "#route-save")
			b.waitJS(t, "the page's error summary", `!document.querySelector("#route-error").hidden`)
			if got := b.assertVisible(t, "#route-upstreams-error"); !strings.Contains(got, "ftp://nope") {
				t.Errorf("#route-upstreams-error = %q, want it to name ftp://nope", got)
			}
			if got := b.assertVisible(t, "#route-error"); !strings.Contains(got, "Upstream servers") {
				t.Errorf("#route-error = %q, want it to name the field", got)
			}

			// Only the server knows: its 400 message appears next to the field.
			bad := "http://127.0.0.1:99999"
			b.fill(t, "#route-upstreams", bad)
			b.waitJS(t, "the page's own error to clear", `document.querySelector("#route-upstreams-error").hidden`)
			b.click(t, "#route-save")
			b.waitJS(t, "the server's upstream error", `document.querySelector("#route-upstreams-error").textContent.includes("out of range")`)
			brtIdle(t, b)
			if got := b.assertVisible(t, "#route-upstreams-error"); !strings.Contains(got, `port "99999" out of range`) {
				t.Errorf("#route-upstreams-error = %q, want the server's message about port 99999", got)
			}
			if got := b.assertVisible(t, "#route-error"); !strings.Contains(got, `port "99999" out of range`) || !strings.HasPrefix(got, "Upstream servers") {
				t.Errorf("#route-error = %q, want the field's label and the server's message", got)
			}
			if got := browserEval[string](t, b, `document.querySelector("#route-upstreams").getAttribute("aria-invalid") || ""`); got != "true" {
				t.Errorf("#route-upstreams aria-invalid = %q, want true", got)
			}

			// A bad host, also refused only by the server.
			b.fill(t, "#route-upstreams", upB)
			b.fill(t, "#route-hosts", "exa!mple.test")
			b.click(t, "#route-save")
			b.waitJS(t, "the server's host error", `document.querySelector("#route-hosts-error").textContent.includes("exa!mple.test")`)
			brtIdle(t, b)
			if got := b.assertVisible(t, "#route-hosts-error"); !strings.Contains(got, "invalid character") {
				t.Errorf("#route-hosts-error = %q, want the server's message about the invalid character", got)
			}
			if got := b.assertVisible(t, "#route-error"); !strings.HasPrefix(got, "Hosts") || !strings.Contains(got, "exa!mple.test") {
				t.Errorf("#route-error = %q, want the field's label and the server's message", got)
			}
			b.shot(t, "errors")

			if got := b.location(t); got.Path != "/routes/edit" || got.Query().Get("id") != appID {
				t.Errorf("after refused saves the browser is at %s, want the edit page", got)
			}
			if page := browserEval[string](t, b, `document.body.dataset.page`); page != "route-edit" {
				t.Errorf("after refused saves data-page = %q, want route-edit", page)
			}
			r := brtAdminAPI(t, inst).get(appID)
			if r.Version != 2 || len(r.Upstreams) != 1 || r.Upstreams[0] != upB || len(r.Hosts) != 1 || r.Hosts[0] != appHost {
				t.Errorf("after refused saves the stored route is %+v, want version 2 %s → %s", r, appHost, upB)
			}
			brtServes(t, routesPort, appHost, http.StatusOK, "upstream B")
		}},
		{"roll back to version 1 from the history", func(t *testing.T) {
			// The same edit page, still holding the refused input.
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`section#route-history li[data-version="2"]`)))
			versions := browserEval[[]string](t, b, `[...document.querySelectorAll("section#route-history li[data-version]")].map((li) => li.dataset.version)`)
			if strings.Join(versions, ",") != "2,1" {
				t.Errorf("history lists versions %v, want [2 1] (refused saves are not versions)", versions)
			}
			if browserEval[bool](t, b, `!!document.querySelector('button.route-rollback[data-version="2"]')`) {
				t.Error("the current version 2 offers a rollback")
			}
			b.click(t, `button.route-rollback[data-version="1"]`)
			b.do(t, "waiting for version 3 in the history", chromedp.WaitVisible(chromedp.CSS(`section#route-history li[data-version="3"]`)))
			brtServes(t, routesPort, appHost, http.StatusOK, "upstream A")
			if got := b.text(t, `section#route-history li[data-version="3"]`); !strings.Contains(got, "rollback to 1") || !strings.Contains(got, "current") {
				t.Errorf("history entry 3 = %q, want a current \"rollback to 1\"", got)
			}
			if got := b.assertVisible(t, "#route-notice"); !strings.Contains(got, "version 1") || !strings.Contains(got, "version 3") {
				t.Errorf("#route-notice = %q, want it to say version 1 became version 3", got)
			}
			b.assertVisible(t, `button.route-rollback[data-version="2"]`)
			// The form now shows the restored route, errors cleared.
			if got := browserRun(t, b, "reading #route-upstreams", chromedp.Value(chromedp.CSS("#route-upstreams"))); got != upA {
				t.Errorf("after the rollback the form shows upstreams %q, want %q", got, upA)
			}
			if got := browserRun(t, b, "reading #route-hosts", chromedp.Value(chromedp.CSS("#route-hosts"))); got != appHost {
				t.Errorf("after the rollback the form shows hosts %q, want %q", got, appHost)
			}
			if browserEval[bool](t, b, `!document.querySelector("#route-upstreams-error").hidden || !document.querySelector("#route-hosts-error").hidden`) {
				t.Error("the refused input's errors are still shown after the rollback")
			}
			vs := brtAdminAPI(t, inst).versions(appID)
			if len(vs) != 3 || vs[0].Version != 3 || vs[0].Action != "rollback to 1" || vs[0].Actor != email {
				t.Errorf("history = %+v, want version 3, \"rollback to 1\" by %s, first", vs, email)
			}
			b.shot(t, "rolled-back")
		}},
		{"a static maintenance page, then deleted", func(t *testing.T) {
			brtServes(t, routesPort, maintHost, http.StatusNotFound, "no route")
			b.navigate(t, dashURL+"/routes")
			b.waitPage(t, "routes")
			b.click(t, "#route-new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-name", "Maintenance")
			b.fill(t, "#route-hosts", maintHost)
			brtSelect(t, b, "#route-kind", "static")
			if browserEval[bool](t, b, `document.querySelector("#route-upstreams").checkVisibility()`) {
				t.Error("a static route's form still shows the upstreams")
			}
			brtSelect(t, b, "#route-tls", "off")
			b.fill(t, "#route-static-status", "503")
			b.fill(t, "#route-static-body", maintBody)
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			b.do(t, "waiting for two rows", chromedp.WaitVisible(chromedp.CSS(`tr[data-route-id]:nth-child(2)`)))
			brtServes(t, routesPort, maintHost, http.StatusServiceUnavailable, maintBody)
			maintID := brtRowID(t, b, maintHost)
			row := fmt.Sprintf(`tr[data-route-id=%q]`, maintID)
			if got := b.text(t, row+" .route-kind"); !strings.Contains(got, "Static") || !strings.Contains(got, "503") {
				t.Errorf("the row's kind column = %q, want Static and 503", got)
			}

			// Cancelling the dialog keeps the route.
			b.click(t, row+" button.route-delete")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			if got := b.text(t, "#confirm-text"); !strings.Contains(got, maintHost) {
				t.Errorf("#confirm-text = %q, want it to name %s", got, maintHost)
			}
			b.click(t, "#confirm-no")
			b.do(t, "waiting for the dialog to close", chromedp.WaitNotVisible(chromedp.CSS("#confirm-dialog")))
			brtServes(t, routesPort, maintHost, http.StatusServiceUnavailable, maintBody)

			// The close event of an answer comes after the answer: it must
			// not close the next question. Cancel and Delete again in one
			// go, as a quick double click would, and look at the dialog
			// once that close event has been handled.
			b.click(t, row+" button.route-delete")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			open := browserRun(t, b, "cancelling and asking again", chromedp.Evaluate[bool](fmt.Sprintf(`new Promise((resolve) => {
				const dialog = document.querySelector("#confirm-dialog");
				dialog.addEventListener("close", () => setTimeout(() => resolve(dialog.open), 0), {once: true});
				document.querySelector("#confirm-no").click();
				document.querySelector(%q).click();
			})`, row+" button.route-delete"), chromedp.EvalAwaitPromise))
			if !open {
				t.Fatal("the close event of the Cancel closed the next question")
			}
			b.shot(t, "confirm")
			b.click(t, "#confirm-yes")
			b.do(t, "waiting for the row to go", chromedp.WaitNotPresent(chromedp.CSS(row)))
			brtServes(t, routesPort, maintHost, http.StatusNotFound, "no route")
			if got := b.assertVisible(t, "#routes-notice"); !strings.Contains(got, "Deleted") {
				t.Errorf("#routes-notice = %q, want Deleted …", got)
			}
			for _, r := range brtAdminAPI(t, inst).list() {
				if r.ID == maintID {
					t.Errorf("the deleted route is still stored: %+v", r)
				}
			}
			brtServes(t, routesPort, appHost, http.StatusOK, "upstream A")
		}},
		{"search filters the rows", func(t *testing.T) {
			brtAdminAPI(t, inst).create(rtProxy(docsHost, "off", upB))
			b.navigate(t, dashURL+"/routes")
			b.waitPage(t, "routes")
			if got := brtVisibleRows(t, b); len(got) != 2 {
				t.Fatalf("the list shows rows %v, want two", got)
			}
			tests := []struct {
				query string
				want  string // hosts of the rows shown, in order
				count string
			}{
				{"DOCS", docsHost, "1 of 2 routes"},
				{"App", appHost, "1 of 2 routes"},
			}
			// By upstream address (unless one port happens to be a
			// prefix of the other).
			if byUpstream := strings.TrimPrefix(upB, "http://"); !strings.Contains(upA, byUpstream) {
				tests = append(tests, struct{ query, want, count string }{byUpstream, docsHost, "1 of 2 routes"})
			}
			tests = append(tests, []struct{ query, want, count string }{
				{"nothing-like-this", "", "0 of 2 routes"},
				{"", "", "2 routes"},
			}...)
			for _, tc := range tests {
				if tc.query == "" {
					// Clear the box as a person would: select all, delete.
					b.do(t, "clearing the search", chromedp.Focus(chromedp.CSS("#routes-search")))
					browserEval[bool](t, b, `document.querySelector("#routes-search").select() === undefined`)
					b.do(t, "clearing the search", chromedp.KeyEvent(kb.Delete))
				} else {
					b.fill(t, "#routes-search", tc.query)
				}
				b.waitJS(t, "the count for "+tc.query, fmt.Sprintf(`document.querySelector("#routes-count").textContent === %q`, tc.count))
				got := strings.Join(brtVisibleRows(t, b), " ")
				switch {
				case tc.query == "":
					if !strings.Contains(got, appHost) || !strings.Contains(got, docsHost) {
						t.Errorf("an empty search shows %q, want both routes", got)
					}
				case got != tc.want:
					t.Errorf("search %q shows rows %q, want %q", tc.query, got, tc.want)
				}
				if noMatch := browserEval[bool](t, b, `document.querySelector("#routes-no-match").checkVisibility()`); noMatch != (tc.count == "0 of 2 routes") {
					t.Errorf("search %q: #routes-no-match visible = %v", tc.query, noMatch)
				}
			}
		}},
		{"a login route on another domain hands the login off", func(t *testing.T) {
			// The dashboard's cookie is host-only for localhost and never
			// reaches this host: the gate sends the browser to the login
			// page, which (logged in already) hands the login off with a
			// one-time code to the host's callback, and the browser lands
			// on the page it asked for with a session of that host.
			const privateHost = "private.proxyos.test"
			b.navigate(t, dashURL+"/routes")
			b.waitPage(t, "routes")
			b.click(t, "#route-new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-hosts", privateHost)
			brtSelect(t, b, "#route-kind", "static")
			brtSelect(t, b, "#route-tls", "off")
			b.fill(t, "#route-static-body", "private page")
			b.click(t, "#route-auth-login")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			id := brtRowID(t, b, privateHost)
			if n := browserEval[int](t, b, `document.querySelectorAll(".route-warning").length`); n != 0 {
				t.Errorf("%d route warnings, want none (the app has a url)", n)
			}

			want := fmt.Sprintf("http://%s:%d/docs?page=2", privateHost, routesPort)
			b.navigate(t, want)
			b.waitJS(t, "the private page after the handoff", `document.body && document.body.innerText.includes("private page")`)
			if got := b.location(t).String(); got != want {
				t.Errorf("landed on %s, want %s", got, want)
			}
			res := browserRun(t, b, "reading cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
				return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{want}})
			})
			var host string
			for _, c := range res.Cookies {
				if c.Name == sessionCookieName {
					host = c.Domain
				}
			}
			if host != privateHost {
				t.Errorf("session cookie of the private page has domain %q, want the host-only %q", host, privateHost)
			}
			brtAdminAPI(t, inst).delete(id)
		}},
		{"route pages fit a 375 px screen", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, dashURL+"/routes")
			b.waitPage(t, "routes")
			browserFits(t, b)
			b.shot(t, "list")
			b.navigate(t, dashURL+"/routes/edit?id="+appID)
			b.waitPage(t, "route-edit")
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`section#route-history li[data-version="3"]`)))
			browserFits(t, b)
			b.shot(t, "editor")
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			browserFits(t, b)
			b.do(t, "back to a desktop", chromedp.EmulateViewport(1280, 900))
		}},
		{"a request header's value is never shown again, and kept when saving", func(t *testing.T) {
			const host, token = "secret.proxyos.test", "browser-upstream-token-5d2e"
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "auth="+r.Header.Get("X-Upstream-Auth")+" host="+r.Host) //nolint:errcheck // test upstream
			}))
			t.Cleanup(echo.Close)
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-name", "Secret")
			b.fill(t, "#route-hosts", host)
			b.fill(t, "#route-upstreams", echo.URL)
			brtSelect(t, b, "#route-tls", "off")
			b.fill(t, "#route-upstream-host", "nas.lan")
			b.fill(t, "#route-req-headers", "X-Upstream-Auth: "+token)
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			brtServes(t, routesPort, host, http.StatusOK, "auth="+token+" host=nas.lan")
			id := brtRowID(t, b, host)

			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, id))
			b.waitPage(t, "route-edit")
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`section#route-history li[data-version="1"]`)))
			if got := browserRun(t, b, "reading #route-req-headers", chromedp.Value(chromedp.CSS("#route-req-headers"))); got != "X-Upstream-Auth: (unchanged)" {
				t.Errorf("the form shows request headers %q, want the name with (unchanged)", got)
			}
			if browserEval[bool](t, b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, token)) {
				t.Fatal("the edit page holds the header's value")
			}
			b.fill(t, "#route-name", "Secret, renamed")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			brtServes(t, routesPort, host, http.StatusOK, "auth="+token+" host=nas.lan")
			if r := brtAdminAPI(t, inst).get(id); r.Version != 2 || r.Name != "Secret, renamed" {
				t.Errorf("after saving the stored route is %+v, want version 2 renamed", r)
			}

			// Host and hop-by-hop headers are refused in the page.
			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, id))
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-req-headers", "Host: 127.0.0.1:2019")
			b.click(t, "#route-save")
			b.waitJS(t, "the page's header error", `!document.querySelector("#route-req-headers-error").hidden`)
			if got := b.assertVisible(t, "#route-req-headers-error"); !strings.Contains(got, "Host header to the upstream") {
				t.Errorf("#route-req-headers-error = %q, want it to point at the upstream_host field", got)
			}
		}},
	})
	b.assertClean(t)

	// Every change above went live without reloading Caddy's config.
	log := inst.Log()
	if n := strings.Count(log, "serving initial configuration"); n != 1 {
		t.Errorf("log has %d \"serving initial configuration\" lines, want 1", n)
	}
	if n := strings.Count(log, `"load complete"`); n != 0 {
		t.Errorf("log has %d \"load complete\" lines: route changes must not reload the config", n)
	}
}
