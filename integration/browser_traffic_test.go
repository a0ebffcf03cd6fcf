package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserTraffic drives the overview and a route's traffic and
// request log in headless Chromium at 375 px, on traffic the test sends
// through a real Caddy: the overview's numbers and the upstream held
// down, the charts (SVG lines with a point per 10 seconds), the request
// log's rows without the query strings, and a viewer who sees the charts
// but not the log.
func TestBrowserTraffic(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := rtStart(t, "")
	up := rtNewUpstream(t, "browser-traffic", false)
	ok := e.dash.create(rtWith(rtProxy("ok.browser-traffic.test", "off", up.URL), "name", "shop", "request_log", true))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	e.dash.create(rtWith(rtProxy("down.browser-traffic.test", "off", "http://"+dead), "name", "legacy", "load_balancing",
		map[string]any{"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "1s"}}))
	for i := range 6 {
		if resp, _ := e.get("ok.browser-traffic.test", fmt.Sprintf("/item/%d?session=query-secret-9", i)); resp.StatusCode != http.StatusOK {
			t.Fatalf("ok route: %d", resp.StatusCode)
		}
	}
	bad := newClient(t, e.admin.Base)
	if resp, _ := bad.PostJSON("/api/auth/login", map[string]string{"email": e.adminEmail, "password": "wrong"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	e.login("viewer@browser-traffic.test", "viewer")
	// The sampler reads the counters every 10 seconds.
	rtPoll(t, 30*time.Second, func() string {
		status, raw := e.dash.call(http.MethodGet, "/"+ok.ID+"/traffic", nil)
		if status != http.StatusOK || !strings.Contains(string(raw), `"requests":[0,6,0,0,0]`) {
			return fmt.Sprintf("traffic: %d %.200s", status, raw)
		}
		return ""
	})

	b := newBrowserTab(t)
	b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
	b.runSteps(t, []browserStep{
		{"the overview shows what needs attention", func(t *testing.T) {
			b.navigate(t, e.admin.Base+"/login")
			b.login(t, e.adminEmail, rtAdminPassword)
			b.waitPage(t, "overview")
			b.waitJS(t, "the status filled in", `document.querySelector("#ov-routes-live").textContent === "2"`)
			if got := b.text(t, "#ov-routes-maintenance"); got != "0" {
				t.Errorf("routes in maintenance %q, want 0", got)
			}
			if got := b.text(t, "#ov-failed-logins"); got != "1" {
				t.Errorf("failed logins %q, want 1", got)
			}
			if got := b.text(t, "#ov-changes"); got == "0" || got == "…" {
				t.Errorf("changes today %q, want the routes created", got)
			}
			b.waitJS(t, "the dead upstream listed", `!document.querySelector("#ov-unhealthy").hidden`)
			if item := b.assertVisible(t, "#ov-unhealthy-list li"); !strings.Contains(item, dead) || !strings.Contains(item, "legacy") {
				t.Errorf("unhealthy upstream reads %q, want %s of legacy", item, dead)
			}
			b.shot(t, "overview")
			browserFits(t, b)
		}},
		{"the route page charts the traffic and lists the requests", func(t *testing.T) {
			b.navigate(t, e.admin.Base+"/routes/edit?id="+ok.ID)
			b.waitPage(t, "route-edit")
			b.waitJS(t, "the charts drawn", `document.querySelector("#route-traffic").dataset.total === "6"`)
			points := browserEval[int](t, b, `document.querySelector('#route-traffic-requests polyline[data-series="2xx"]').getAttribute("points").trim().split(" ").length`)
			if points != 360 {
				t.Errorf("the 2xx line has %d points, want 360 (an hour of 10 s)", points)
			}
			if !browserEval[bool](t, b, `!!document.querySelector('#route-traffic-latency polyline[data-series="p95"]')`) {
				t.Error("no latency chart")
			}
			if got := b.text(t, "#route-traffic-summary"); !strings.HasPrefix(got, "6 requests") {
				t.Errorf("summary %q", got)
			}
			b.waitJS(t, "the request log filled in", `document.querySelectorAll("#route-requests-table tbody tr").length === 6`)
			first := b.assertVisible(t, "#route-requests-table tbody tr")
			if !strings.Contains(first, "/item/5") || !strings.Contains(first, "200") || !strings.Contains(first, "127.0.0.1") {
				t.Errorf("newest row reads %q", first)
			}
			if html := browserEval[string](t, b, `document.body.innerHTML`); strings.Contains(html, "query-secret-9") {
				t.Error("the page shows a query string")
			}
			if !browserEval[bool](t, b, `document.querySelector("#route-request-log").checked`) {
				t.Error("the form's request log toggle is off for a route that keeps one")
			}
			// One node (SQLite): "this node" without a name or the cluster's note.
			if got := b.assertVisible(t, "#route-requests-list p"); !strings.Contains(got, "served on this node, newest first") || strings.Contains(got, "Each node") {
				t.Errorf("the request log reads %q", got)
			}
			b.do(t, "scrolling to the traffic", chromedp.ScrollIntoView("#route-traffic"))
			b.shot(t, "traffic")
			browserFits(t, b)
		}},
		{"a viewer sees the charts, not the request log", func(t *testing.T) {
			b.logout(t)
			b.login(t, "viewer@browser-traffic.test", rtAdminPassword)
			b.waitPage(t, "overview")
			b.navigate(t, e.admin.Base+"/routes/edit?id="+ok.ID)
			b.waitPage(t, "route-edit")
			b.waitJS(t, "the charts drawn", `document.querySelector("#route-traffic").dataset.total === "6"`)
			if !browserEval[bool](t, b, `document.querySelector("#route-requests").hidden && document.querySelectorAll("#route-requests-table tbody tr").length === 0`) {
				t.Error("a viewer sees the request log")
			}
		}},
	})
	b.assertClean(t)
}
