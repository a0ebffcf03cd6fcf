package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// brpGet sends GET path for host to the routes site on port and returns
// the status, the X-Upstream header of rtNewUpstream's upstreams and the
// body.
func brpGet(t testing.TB, port int, host, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := brtHTTP.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET http://%s%s: reading body: %v", host, path, err)
	}
	return resp.StatusCode, resp.Header.Get("X-Upstream"), string(raw)
}

// brpLocation is the CSS selector of an input of the i-th (from 1)
// location of the route form.
func brpLocation(i int, field string) string {
	return fmt.Sprintf(`#route-locations li.location:nth-child(%d) [data-field=%q]`, i, field)
}

// brpErrorOf returns the text of the error box of the input sel, "" when
// hidden.
func brpErrorOf(t testing.TB, b *browserTab, sel string) string {
	t.Helper()
	return browserEval[string](t, b, fmt.Sprintf(`(() => {
		const box = document.getElementById(document.querySelector(%q).id + "-error");
		return box && !box.hidden ? box.textContent : "";
	})()`, sel))
}

// brpFrameText returns the text of the first element matching sel in the
// preview frame (about:srcdoc) that has one. Chrome runs a sandboxed
// frame in a process of its own, a target the page's queries do not
// reach: the test attaches to each such target in turn.
func brpFrameText(t testing.TB, b *browserTab, sel string) string {
	t.Helper()
	deadline := time.Now().Add(browserWaitTimeout)
	for {
		infos, err := chromedp.Targets(b.ctx)
		if err != nil {
			t.Fatalf("listing targets: %v", err)
		}
		for _, info := range infos {
			if info.Type != "iframe" || info.URL != "about:srcdoc" {
				continue
			}
			fctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
			qctx, qcancel := context.WithTimeout(fctx, 2*time.Second)
			text, err := chromedp.Run(qctx, chromedp.TextContent(chromedp.CSS(sel)))
			qcancel()
			cancel()
			if err == nil {
				return strings.TrimSpace(text)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no preview frame has %s (targets: %d)\npage: %s", sel, len(infos), b.state())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// brpMaintenance returns the stored maintenance of route id, by the admin
// API.
func brpMaintenance(t testing.TB, inst *instance, id string) map[string]any {
	t.Helper()
	status, raw := brtAdminAPI(t, inst).call(http.MethodGet, "/"+id, nil)
	if status != http.StatusOK {
		t.Fatalf("GET route %s: %d %s", id, status, raw)
	}
	var r struct {
		Maintenance map[string]any `json:"maintenance"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r.Maintenance
}

// TestBrowserRoutePaths drives the route form's paths (locations) and
// error pages and the route page's maintenance switch in Chromium against
// a real Caddy with real upstreams: two paths created in the form served
// by their upstreams, a bad path's error next to its input, an error page
// previewed with the route's host and served for a dead upstream, a
// script in the preview that never runs, maintenance on and off (and a
// stale version reloaded), and the page at 375 px.
func TestBrowserRoutePaths(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	inst := newInstance(t)
	inst.Configure(func() string { return brtCaddyfile(inst.Admin, inst.Port("routes"), inst.Port("dash")) })
	inst.Start()
	routesPort, dash := inst.Port("routes"), inst.Port("dash")
	dashURL := fmt.Sprintf("http://localhost:%d", dash)
	web, api, docs := rtNewUpstream(t, "web", false), rtNewUpstream(t, "api", false), rtNewUpstream(t, "docs", false)
	const (
		host     = "paths.proxyos.test"
		downHost = "down.proxyos.test"
	)
	var id string

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"set up the admin", func(t *testing.T) {
			b.navigate(t, dashURL+"/setup")
			b.waitPage(t, "setup")
			b.fill(t, "#setup-email", "paths-admin@example.com")
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
		}},
		{"a route with two paths made in the form serves each from its upstream", func(t *testing.T) {
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-name", "Paths")
			b.fill(t, "#route-hosts", host)
			b.fill(t, "#route-upstreams", web.URL)
			brtSelect(t, b, "#route-tls", "off")
			b.click(t, "#route-location-add")
			b.click(t, "#route-location-add")
			// Filled in the wrong order, then moved: the list keeps the
			// order the user gives it.
			b.fill(t, brpLocation(1, "path"), "/docs/*")
			b.fill(t, brpLocation(1, "upstreams"), docs.URL)
			b.fill(t, brpLocation(1, "strip_prefix"), "/docs")
			b.fill(t, brpLocation(2, "path"), "/api/*")
			b.fill(t, brpLocation(2, "upstreams"), api.URL)
			b.click(t, `#route-locations li.location:nth-child(2) button[data-move="up"]`)
			if got := browserRun(t, b, "reading the first path", chromedp.Value(chromedp.CSS(brpLocation(1, "path")))); got != "/api/*" {
				t.Fatalf("after moving path 2 up, path 1 is %q, want /api/*", got)
			}
			if got := b.text(t, "#route-locations li.location:nth-child(1) .location-title"); got != "Path 1" {
				t.Errorf("the first location is titled %q, want Path 1", got)
			}
			b.shot(t, "locations")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			id = brtRowID(t, b, host)
			for path, want := range map[string][2]string{
				"/":           {"web", "/"},
				"/api/users":  {"api", "/api/users"},
				"/docs/intro": {"docs", "/intro"},
			} {
				status, from, body := brpGet(t, routesPort, host, path)
				if status != http.StatusOK || from != want[0] || rtSeenOf(t, []byte(body)).Path != want[1] {
					t.Errorf("GET %s: %d from %q %s, want %s seeing %s", path, status, from, body, want[0], want[1])
				}
			}
			// The edit page shows them back, in the stored order.
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			paths := browserEval[[]string](t, b, `[...document.querySelectorAll('#route-locations [data-field="path"]')].map((i) => i.value)`)
			if strings.Join(paths, " ") != "/api/* /docs/*" {
				t.Errorf("the edit page shows paths %v, want [/api/* /docs/*]", paths)
			}
			if got := browserRun(t, b, "reading the strip prefix", chromedp.Value(chromedp.CSS(brpLocation(2, "strip_prefix")))); got != "/docs" {
				t.Errorf("path 2 strips %q, want /docs", got)
			}
		}},
		{"a bad path's error is shown next to its input, nothing stored", func(t *testing.T) {
			// Caught in the page.
			b.fill(t, brpLocation(2, "path"), "docs/*")
			b.click(t, "#route-save")
			b.waitJS(t, "the page's path error", `!document.querySelector("#route-error").hidden`)
			if got := brpErrorOf(t, b, brpLocation(2, "path")); !strings.Contains(got, "Start the path with /") {
				t.Errorf("path 2's error = %q, want it to ask for a leading /", got)
			}
			// Only the server knows: a .. segment.
			b.fill(t, brpLocation(2, "path"), "/docs/../admin/*")
			b.click(t, "#route-save")
			b.waitJS(t, "the server's path error", fmt.Sprintf(`(() => {
				const box = document.getElementById(document.querySelector(%q).id + "-error");
				return !box.hidden && box.textContent.includes("..");
			})()`, brpLocation(2, "path")))
			brtIdle(t, b)
			if got := brpErrorOf(t, b, brpLocation(1, "path")); got != "" {
				t.Errorf("path 1 shows the error %q too", got)
			}
			if got := browserEval[string](t, b, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-invalid") || ""`, brpLocation(2, "path"))); got != "true" {
				t.Errorf("path 2's input aria-invalid = %q, want true", got)
			}
			if got := b.assertVisible(t, "#route-error"); !strings.HasPrefix(got, "Path 2, Path:") || !strings.Contains(got, ". or .. segment") {
				t.Errorf("#route-error = %q, want it to name path 2 with the server's message", got)
			}
			if r := brtAdminAPI(t, inst).get(id); r.Version != 1 {
				t.Errorf("after a refused save the route is version %d, want 1", r.Version)
			}
			if status, from, _ := brpGet(t, routesPort, host, "/docs/x"); status != http.StatusOK || from != "docs" {
				t.Errorf("after a refused save /docs/x answers %d from %q, want docs", status, from)
			}
		}},
		{"an error page previewed with the route's host, served for a dead upstream", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := "http://" + ln.Addr().String()
			ln.Close()
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-hosts", downHost)
			b.fill(t, "#route-upstreams", dead)
			brtSelect(t, b, "#route-tls", "off")
			if browserEval[bool](t, b, `document.querySelector("#route-error-page-502 ~ iframe.error-preview").checkVisibility()`) {
				t.Error("an empty error page has a preview")
			}
			b.fill(t, "#route-error-page-502", "<h1>{http.request.host} is down ({http.error.status_code} {http.error.status_text})</h1><p>{env.HOME}</p>")
			b.waitJS(t, "the preview", `document.querySelector("#route-error-page-502 ~ iframe.error-preview").checkVisibility()`)
			want := downHost + " is down (502 Bad Gateway)"
			if got := brpFrameText(t, b, "h1"); got != want {
				t.Errorf("the preview's h1 = %q, want %q", got, want)
			}
			if got := brpFrameText(t, b, "p"); got != "{env.HOME}" {
				t.Errorf("the preview's p = %q, want {env.HOME} as written", got)
			}
			b.shot(t, "error-page")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			status, _, body := brpGet(t, routesPort, downHost, "/")
			if status != http.StatusBadGateway || !strings.HasPrefix(body, "<h1>"+want+"</h1>") {
				t.Errorf("GET with the upstream down: %d %q, want 502 with the page", status, body)
			}
		}},
		{"a script in the preview never runs (a page cannot act in the dashboard)", func(t *testing.T) {
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			b.takeProblems()
			// Each handler first marks the frame's own page, which no
			// origin rule would stop, then reaches for the dashboard.
			attack := `<img id="probe" src="/nothing-here" onerror="document.getElementById('after').textContent = 'ran'; window.top.pwned = 1; parent.document.title = 'pwned'">` +
				`<p id="after">rendered</p><script>document.getElementById("after").textContent = "ran"; window.top.pwned = 2; parent.document.body.dataset.pwned = "yes";</script>`
			browserEval[bool](t, b, fmt.Sprintf(`(() => {
				const t = document.querySelector("#route-error-page-404");
				t.value = %q;
				t.dispatchEvent(new Event("input", {bubbles: true}));
				return true;
			})()`, attack))
			b.waitJS(t, "the preview", `document.querySelector("#route-error-page-404 ~ iframe.error-preview").checkVisibility()`)
			if got := brpFrameText(t, b, "#probe + #after"); got == "" {
				t.Fatal("the preview does not show the page")
			}
			time.Sleep(500 * time.Millisecond) // the image has failed to load by now
			if got := brpFrameText(t, b, "#after"); got != "rendered" {
				t.Errorf("the preview's #after = %q, want rendered: a script ran in the preview", got)
			}
			got := browserEval[string](t, b, `String(window.pwned) + "|" + document.title + "|" + (document.body.dataset.pwned || "")`)
			if strings.Contains(got, "pwned") || strings.Contains(got, "yes") || !strings.HasPrefix(got, "undefined|") {
				t.Errorf("after the preview: window.pwned|title|body[data-pwned] = %q: the page's script reached the dashboard", got)
			}
			sandbox := browserEval[string](t, b, `document.querySelector("#route-error-page-404 ~ iframe.error-preview").getAttribute("sandbox")`)
			if sandbox != "" {
				t.Errorf("the preview's sandbox = %q, want \"\" (no scripts, no same origin)", sandbox)
			}
			// The browser reports the blocked script; nothing else.
			for _, p := range b.takeProblems() {
				if !strings.Contains(p, "sandboxed") && !strings.Contains(p, "Content Security Policy") {
					t.Errorf("page problem: %s", p)
				}
			}
		}},
		{"maintenance switched on and off from the route page", func(t *testing.T) {
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			if got := b.assertVisible(t, "#maintenance-state"); !strings.Contains(got, "Maintenance off") {
				t.Errorf("#maintenance-state = %q, want off", got)
			}
			b.fill(t, "#maintenance-page", "<h1>Back soon</h1>")
			b.click(t, "#maintenance-toggle")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			if got := b.text(t, "#confirm-text"); !strings.Contains(got, "503") {
				t.Errorf("#confirm-text = %q, want it to say what happens", got)
			}
			b.click(t, "#confirm-yes")
			b.waitJS(t, "maintenance on", `document.querySelector("#maintenance-state").textContent.includes("Maintenance on")`)
			for _, p := range []string{"/", "/api/x"} {
				if status, _, body := brpGet(t, routesPort, host, p); status != http.StatusServiceUnavailable || body != "<h1>Back soon</h1>" {
					t.Errorf("GET %s in maintenance: %d %q, want 503 with the page", p, status, body)
				}
			}
			if got := b.assertVisible(t, "#route-live .route-maintenance"); got != "Maintenance" {
				t.Errorf("the route's status shows %q, want a Maintenance badge", got)
			}
			if got := b.text(t, "#maintenance-toggle"); got != "Switch maintenance off" {
				t.Errorf("#maintenance-toggle = %q", got)
			}
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`section#route-history li[data-version="2"]`)))
			if got := b.text(t, `section#route-history li[data-version="2"]`); !strings.Contains(got, "maintenance on") {
				t.Errorf("history entry 2 = %q, want maintenance on", got)
			}
			b.shot(t, "maintenance-on")

			// A change made elsewhere meanwhile: the switch reloads.
			brtAdminAPI(t, inst).update(id, 2, rtWith(rtProxy(host, "off", web.URL), "name", "Paths, renamed",
				"locations", []map[string]any{{"path": "/api/*", "upstreams": []string{api.URL}}},
				"maintenance", map[string]any{"on": true, "page": "<h1>Back soon</h1>"}))
			b.click(t, "#maintenance-toggle")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			b.click(t, "#confirm-yes")
			b.waitJS(t, "the stale error", `!document.querySelector("#maintenance-error").hidden`)
			if got := b.text(t, "#maintenance-error"); !strings.Contains(got, "version 3") {
				t.Errorf("#maintenance-error = %q, want it to say it reloaded version 3", got)
			}
			if status, _, _ := brpGet(t, routesPort, host, "/"); status != http.StatusServiceUnavailable {
				t.Errorf("after a stale switch GET / answers %d, want still 503", status)
			}

			b.click(t, "#maintenance-toggle")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			b.click(t, "#confirm-yes")
			b.waitJS(t, "maintenance off", `document.querySelector("#maintenance-state").textContent.includes("Maintenance off")`)
			if status, from, _ := brpGet(t, routesPort, host, "/"); status != http.StatusOK || from != "web" {
				t.Errorf("GET / after maintenance: %d from %q, want web", status, from)
			}
			if status, from, _ := brpGet(t, routesPort, host, "/api/x"); status != http.StatusOK || from != "api" {
				t.Errorf("GET /api/x after maintenance: %d from %q, want api", status, from)
			}
		}},
		{"a maintenance schedule is stored as RFC 3339", func(t *testing.T) {
			from := time.Now().Add(2 * time.Hour).Truncate(time.Minute)
			until := from.Add(time.Hour)
			local := func(tm time.Time) string { return tm.Local().Format("2006-01-02T15:04") }
			browserEval[bool](t, b, fmt.Sprintf(`(() => {
				for (const [sel, v] of [["#maintenance-from", %q], ["#maintenance-until", %q]]) {
					const i = document.querySelector(sel);
					i.value = v;
					i.dispatchEvent(new Event("input", {bubbles: true}));
				}
				return true;
			})()`, local(from), local(until)))
			b.click(t, "#maintenance-schedule")
			b.waitJS(t, "the schedule", `document.querySelector("#maintenance-state").textContent.includes("Scheduled: on at")`)
			m := brpMaintenance(t, inst, id)
			gotFrom, _ := time.Parse(time.RFC3339, fmt.Sprint(m["from"]))
			gotUntil, _ := time.Parse(time.RFC3339, fmt.Sprint(m["until"]))
			if m["on"] != false || !gotFrom.Equal(from) || !gotUntil.Equal(until) {
				t.Errorf("stored maintenance = %v, want off, from %s until %s", m, from.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
			}
			if status, from, _ := brpGet(t, routesPort, host, "/"); status != http.StatusOK || from != "web" {
				t.Errorf("GET / with maintenance only scheduled: %d from %q, want web", status, from)
			}
		}},
		{"the route page with paths, error pages and maintenance fits 375 px", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-error-page-503", "<h1>No healthy upstream for {http.request.host}</h1>")
			b.waitJS(t, "the preview", `document.querySelector("#route-error-page-503 ~ iframe.error-preview").checkVisibility()`)
			browserFits(t, b)
			b.shot(t, "phone")
			b.do(t, "back to a desktop", chromedp.EmulateViewport(1280, 900))
		}},
		{"a path's request header value is sent on that path only and kept as (unchanged), never shown", func(t *testing.T) {
			const key = "brp-loc-key-71c3e9a0"
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			b.fill(t, brpLocation(1, "headers.request"), "X-Api-Key: "+key)
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			wantSent := func(what string) {
				t.Helper()
				status, from, body := brpGet(t, routesPort, host, "/api/x")
				if got := rtSeenOf(t, []byte(body)).Header.Get("X-Api-Key"); status != http.StatusOK || from != "api" || got != key {
					t.Errorf("%s: GET /api/x: %d from %q with X-Api-Key %q, want api with the path's value", what, status, from, got)
				}
				status, from, body = brpGet(t, routesPort, host, "/")
				if got := rtSeenOf(t, []byte(body)).Header.Get("X-Api-Key"); status != http.StatusOK || from != "web" || got != "" {
					t.Errorf("%s: GET /: %d from %q with X-Api-Key %q, want web without it", what, status, from, got)
				}
			}
			wantSent("after saving the form")

			// Reloaded, the form shows the header kept, not its value.
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			b.waitJS(t, "the form filled", fmt.Sprintf(`document.querySelector(%q).value !== ""`, brpLocation(1, "headers.request")))
			if got := browserRun(t, b, "reading the path's request headers", chromedp.Value(chromedp.CSS(brpLocation(1, "headers.request")))); got != "X-Api-Key: (unchanged)" {
				t.Errorf("after reload path 1's request headers read %q, want X-Api-Key: (unchanged)", got)
			}
			if browserEval[bool](t, b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || [...document.querySelectorAll("input, textarea")].some((i) => i.value.includes(%q))`, key, key)) {
				t.Error("the edit page holds the path's request header value")
			}
			// Saving it unchanged keeps the stored value.
			b.fill(t, "#route-name", "Paths with a key")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			wantSent("after saving (unchanged) back")
			if _, raw := brtAdminAPI(t, inst).call(http.MethodGet, "/"+id, nil); strings.Contains(string(raw), key) || !strings.Contains(string(raw), `"X-Api-Key":null`) {
				t.Errorf("the API shows the path's header %s, want it null", raw)
			}
		}},
	})
	b.assertClean(t)
}
