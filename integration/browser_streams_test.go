package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// bstStreams returns the streams the admin API stores, by name.
func bstStreams(t testing.TB, api rtAPI) map[string]stStream {
	t.Helper()
	status, raw := api.call(http.MethodGet, "", nil)
	var out struct {
		Streams []stStream `json:"streams"`
	}
	if err := json.Unmarshal(raw, &out); status != http.StatusOK || err != nil {
		t.Fatalf("listing streams: %d %s", status, raw)
	}
	m := make(map[string]stStream, len(out.Streams))
	for _, s := range out.Streams {
		m[s.Name] = s
	}
	return m
}

// bstEchoes fails unless a line sent to addr comes back as want.
func bstEchoes(t testing.TB, addr, line, want string) {
	t.Helper()
	if got, err := tcpVia(addr, line); err != nil || got != want {
		t.Fatalf("through the stream on %s: %q, %v; want %q", addr, got, err, want)
	}
}

// TestBrowserStreams walks an admin through the Streams page in Chromium:
// creating a TCP stream in the form to an echo server on loopback and
// echoing through it at once, the server's errors next to the listen and
// upstreams fields (with nothing stored or changed live), editing and
// rolling back from the history, disabling (the listener closes) and
// deleting through the confirmation dialog, the page at 375 px, and a
// viewer, who sees the streams but no button that changes one. Every page
// runs under the dashboard's CSP: a violation or an uncaught exception
// fails the test.
func TestBrowserStreams(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	inst := newInstance(t)
	inst.Configure(func() string { return brtCaddyfile(inst.Admin, inst.Port("routes"), inst.Port("dash")) })
	inst.Start()
	dashURL := fmt.Sprintf("http://localhost:%d", inst.Port("dash"))
	admin := rtAPI{t: t, base: "http://" + inst.Admin + "/proxyos/streams", hc: http.DefaultClient, admin: true}
	one, two := tcpEcho(t, "one:"), tcpEcho(t, "two:")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	const (
		email       = "streams-admin@example.com"
		viewerEmail = "streams-viewer@example.com"
	)
	var id string
	row := func() string { return fmt.Sprintf(`tr[data-stream-id=%q]`, id) }

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
		{"create a TCP stream in the form and echo through it at once", func(t *testing.T) {
			if _, err := tcpVia(addr, "x"); err == nil {
				t.Fatalf("%s answers before the stream exists", addr)
			}
			b.click(t, `#nav a[href="/streams"]`)
			b.waitPage(t, "streams")
			b.assertVisible(t, "#streams-empty")
			b.click(t, "#stream-new")
			b.fill(t, "#stream-name", "echo")
			b.fill(t, "#stream-listen", "tcp/"+addr)
			b.fill(t, "#stream-upstreams", one)
			// The certificates' issuer is a choice of tls terminate only.
			brtSelect(t, b, "#stream-tls", "terminate")
			b.assertVisible(t, "#stream-issuer")
			brtSelect(t, b, "#stream-tls", "off")
			if browserEval[bool](t, b, `document.querySelector("#stream-issuer").checkVisibility()`) {
				t.Error("the issuer is offered with tls off")
			}
			b.shot(t, "form")
			b.click(t, "#stream-save")
			b.do(t, "waiting for the new row", chromedp.WaitVisible(chromedp.CSS(`tr[data-stream-id]`)))
			// Served when the page shows it: the API answers once it is live.
			bstEchoes(t, addr, "hello", "one:hello")
			id = browserEval[string](t, b, `document.querySelector("tr[data-stream-id]").dataset.streamId`)
			if got := b.text(t, row()); !strings.Contains(got, "tcp/"+addr) || !strings.Contains(got, one) || !strings.Contains(got, "Live") {
				t.Errorf("the row reads %q, want the listen address, the upstream and Live", got)
			}
			if got := b.assertVisible(t, "#streams-notice"); !strings.Contains(got, "echo") {
				t.Errorf("#streams-notice = %q, want it to name the stream", got)
			}
			s := bstStreams(t, admin)["echo"]
			if s.ID != id || s.Version != 1 || !s.Enabled || s.TLS != "off" || len(s.Upstreams) != 1 || s.Upstreams[0] != one {
				t.Errorf("stored stream = %+v, want echo v1 enabled → %s", s, one)
			}
		}},
		{"the server's errors show next to their fields and change nothing", func(t *testing.T) {
			b.click(t, row()+" .stream-edit")
			b.fill(t, "#stream-listen", "tcp/localhost")
			b.click(t, "#stream-save")
			b.waitJS(t, "the listen error", `!document.querySelector("#stream-listen-error").hidden`)
			if got := b.assertVisible(t, "#stream-listen-error"); !strings.Contains(got, "tcp/localhost") {
				t.Errorf("#stream-listen-error = %q, want the server's message about tcp/localhost", got)
			}
			if got := browserEval[string](t, b, `document.querySelector("#stream-listen").getAttribute("aria-invalid") || ""`); got != "true" {
				t.Errorf("#stream-listen aria-invalid = %q, want true", got)
			}
			if focused := browserEval[string](t, b, `document.activeElement.id`); focused != "stream-listen" {
				t.Errorf("focus is on #%s, want #stream-listen", focused)
			}

			// An upstream entry's error (upstreams[0]) shows at the upstreams.
			b.fill(t, "#stream-listen", "tcp/"+addr)
			b.fill(t, "#stream-upstreams", "nohost")
			b.click(t, "#stream-save")
			b.waitJS(t, "the upstreams error", `!document.querySelector("#stream-upstreams-error").hidden`)
			if got := b.assertVisible(t, "#stream-upstreams-error"); !strings.Contains(got, "nohost") {
				t.Errorf("#stream-upstreams-error = %q, want the server's message about nohost", got)
			}
			if !browserEval[bool](t, b, `document.querySelector("#stream-listen-error").hidden`) {
				t.Error("the listen error of the previous try is still shown")
			}
			b.shot(t, "errors")
			if s := bstStreams(t, admin)["echo"]; s.Version != 1 || s.Listen != "tcp/"+addr || s.Upstreams[0] != one {
				t.Errorf("after refused saves the stored stream is %+v, want version 1 unchanged", s)
			}
			bstEchoes(t, addr, "still", "one:still")
		}},
		{"edit the upstream, then roll back from the history", func(t *testing.T) {
			b.fill(t, "#stream-upstreams", two)
			b.click(t, "#stream-save")
			b.waitJS(t, "the editor to close", `document.querySelector("#stream-editor").hidden`)
			bstEchoes(t, addr, "x", "two:x")
			b.click(t, row()+" .stream-edit")
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`#stream-history li[data-version="2"]`)))
			if got := browserRun(t, b, "reading #stream-upstreams", chromedp.Value(chromedp.CSS("#stream-upstreams"))); got != two {
				t.Errorf("the form shows upstreams %q, want %q", got, two)
			}
			b.click(t, `#stream-history li[data-version="1"] .stream-rollback`)
			b.do(t, "waiting for version 3", chromedp.WaitVisible(chromedp.CSS(`#stream-history li[data-version="3"]`)))
			bstEchoes(t, addr, "x", "one:x")
			if got := b.text(t, `#stream-history li[data-version="3"]`); !strings.Contains(got, "rollback to 1") || !strings.Contains(got, "current") {
				t.Errorf("history entry 3 = %q, want a current \"rollback to 1\"", got)
			}
			if got := browserRun(t, b, "reading #stream-upstreams", chromedp.Value(chromedp.CSS("#stream-upstreams"))); got != one {
				t.Errorf("after the rollback the form shows upstreams %q, want %q", got, one)
			}
			b.click(t, "#stream-cancel")
		}},
		{"the page fits 375 px", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, dashURL+"/streams")
			b.waitPage(t, "streams")
			browserFits(t, b)
			b.shot(t, "list")
			b.click(t, row()+" .stream-edit")
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`#stream-history li[data-version="3"]`)))
			browserFits(t, b)
			b.shot(t, "editor")
			b.do(t, "back to a desktop", chromedp.EmulateViewport(1280, 900))
		}},
		{"disable, then delete through the dialog", func(t *testing.T) {
			b.navigate(t, dashURL+"/streams")
			b.waitPage(t, "streams")
			b.click(t, row()+" .stream-toggle")
			b.waitJS(t, "the row to say Disabled", fmt.Sprintf(`document.querySelector(%q).textContent.includes("Disabled")`, row()+" .stream-state"))
			if _, err := tcpVia(addr, "x"); err == nil {
				t.Fatal("a disabled stream still answers")
			}
			if s := bstStreams(t, admin)["echo"]; s.Enabled || s.Version != 4 {
				t.Errorf("after disabling, the stored stream is %+v, want version 4 disabled", s)
			}
			b.click(t, row()+" .stream-delete")
			b.do(t, "waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")))
			if got := b.text(t, "#confirm-text"); !strings.Contains(got, "echo") || !strings.Contains(got, addr) {
				t.Errorf("#confirm-text = %q, want the stream's name and address", got)
			}
			b.click(t, "#confirm-yes")
			b.do(t, "waiting for the row to go", chromedp.WaitNotPresent(chromedp.CSS(row())))
			if _, ok := bstStreams(t, admin)["echo"]; ok {
				t.Error("the deleted stream is still stored")
			}
			b.assertVisible(t, "#streams-empty")
		}},
		{"a viewer sees streams but no button that changes one", func(t *testing.T) {
			port := freePort(t)
			status, raw := admin.call(http.MethodPost, "", map[string]any{"name": "for the viewer", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", port), "upstreams": []string{one}})
			if status != http.StatusCreated {
				t.Fatalf("creating a stream: %d %s", status, raw)
			}
			inst.CreateUser(viewerEmail, browserPassword, "viewer")
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			b.logout(t)
			b.login(t, viewerEmail, browserPassword)
			b.waitPage(t, "overview")
			b.navigate(t, dashURL+"/streams")
			b.waitPage(t, "streams")
			b.do(t, "waiting for the row", chromedp.WaitVisible(chromedp.CSS(`tr[data-stream-id]`)))
			if n := browserEval[int](t, b, `document.querySelectorAll("#stream-new, .stream-toggle, .stream-delete, .stream-rollback, #stream-save").length`); n != 0 {
				t.Errorf("a viewer sees %d buttons that change streams", n)
			}
			b.click(t, "tr[data-stream-id] .stream-edit")
			b.assertVisible(t, "#stream-readonly")
			b.do(t, "waiting for the history", chromedp.WaitVisible(chromedp.CSS(`#stream-history li[data-version="1"]`)))
			if n := browserEval[int](t, b, `[...document.querySelectorAll("#stream-form input, #stream-form textarea, #stream-form select")].filter((c) => !c.disabled).length`); n != 0 {
				t.Errorf("a viewer's stream form has %d enabled inputs", n)
			}
			if n := browserEval[int](t, b, `document.querySelectorAll(".stream-rollback").length`); n != 0 {
				t.Errorf("a viewer's history offers %d rollbacks", n)
			}
		}},
	})
	b.assertClean(t)
}
