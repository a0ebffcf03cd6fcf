package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the dashboard in a real headless Chromium
// (Debian's chromium package) with chromedp, against a real Caddy. They
// fail, never skip, when Chromium is missing: CI installs it.

const (
	// browserTestTimeout bounds one whole browser test: a hang ends,
	// while a long test on a busy machine (TestBrowserRoutes took 68 s
	// at a load average of 17) does not.
	browserTestTimeout = 3 * time.Minute
	// browserWaitTimeout bounds one wait for a page or an element, so a
	// missing element fails with the page's state rather than at the
	// end of the test's time.
	browserWaitTimeout = 15 * time.Second
	// browserPassword is the test admin's password.
	browserPassword = "correct horse battery"
)

// browserExecPath returns the Chromium binary: $CHROMIUM_PATH, else
// Debian's /usr/bin/chromium. A missing binary fails the test.
func browserExecPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("CHROMIUM_PATH")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: install it (apt-get install -y chromium) or set CHROMIUM_PATH: %v", p, err)
	}
	return p
}

// browserTab is one Chromium tab with everything the page wrote to its
// console. CSP violations and uncaught exceptions are collected as
// problems, which fail the test.
type browserTab struct {
	ctx  context.Context // the tab, with the test's deadline
	root context.Context // the tab without a deadline, for the failure screenshot
	// shots is $PROXYOS_SCREENSHOTS: when set, each step's page is saved there.
	shots string

	mu       sync.Mutex
	console  []string // every console line, for the failure log
	problems []string // CSP violations and uncaught exceptions
	nshot    int
}

// newBrowserTab starts a fresh headless Chromium with its own profile.
// When the test fails, a screenshot of the page, its state and its
// console are kept for the reader.
func newBrowserTab(t *testing.T) *browserTab {
	t.Helper()
	path := browserExecPath(t)
	chromeOut := new(syncBuffer)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Test hosts on other "domains" (e.g. app.proxyos.test) reach the
		// Caddy under test on loopback.
		chromedp.Flag("host-resolver-rules", "MAP *.proxyos.test 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(chromeOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelRoot)
	b := &browserTab{root: root, shots: os.Getenv("PROXYOS_SCREENSHOTS")}
	// The first run starts the browser, which lives as long as that
	// run's context: so no deadline on it, but a bounded wait here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(root) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium %s: %v\n%s", path, err, chromeOut.String())
		}
	case <-time.After(browserTestTimeout):
		cancelRoot()
		t.Fatalf("chromium %s did not start within %s\n%s", path, browserTestTimeout, chromeOut.String())
	}
	if err := chromedp.Listen(root, b.record); err != nil {
		t.Fatalf("listening to the console: %v", err)
	}
	ctx, cancel := context.WithTimeout(root, browserTestTimeout)
	t.Cleanup(cancel)
	b.ctx = ctx
	// Runs before the tab and the browser close (cleanups run last first).
	t.Cleanup(func() {
		if t.Failed() {
			b.keepEvidence(t)
		}
	})
	return b
}

// record runs for each event of the tab, in the tab's read loop: it only
// stores text.
func (b *browserTab) record(ev any) {
	var line string
	problem := false
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			var str string
			switch {
			case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &str) == nil:
				parts = append(parts, str)
			case a.Description != "":
				parts = append(parts, a.Description)
			default:
				parts = append(parts, string(a.Value))
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		line = fmt.Sprintf("uncaught exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg)
		problem = true
	case *log.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		problem = strings.Contains(e.Text, "Content Security Policy") ||
			(e.Source == log.EntrySourceSecurity && e.Level == log.EntryLevelError)
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = append(b.console, line)
	if problem {
		b.problems = append(b.problems, line)
	}
}

// takeProblems returns and forgets the CSP violations and uncaught
// exceptions seen so far.
func (b *browserTab) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// assertClean fails the test on any CSP violation or uncaught exception
// since the last check.
func (b *browserTab) assertClean(t testing.TB) {
	t.Helper()
	for _, p := range b.takeProblems() {
		t.Errorf("page problem: %s", p)
	}
}

// keepEvidence saves a screenshot of the failed page (in
// $PROXYOS_SCREENSHOTS, else a directory that outlives the test) and logs
// the page's state and console.
func (b *browserTab) keepEvidence(t *testing.T) {
	ctx, cancel := context.WithTimeout(b.root, 10*time.Second)
	defer cancel()
	t.Logf("page at failure: %s", b.stateIn(ctx))
	b.mu.Lock()
	t.Logf("console:\n%s", strings.Join(b.console, "\n"))
	b.mu.Unlock()
	dir := b.shots
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "proxyos-browser-"); err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	name := filepath.Join(dir, browserFileName(t.Name())+"-failure.png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failed page: %s", name)
}

// shot saves a screenshot of the page when $PROXYOS_SCREENSHOTS is set.
func (b *browserTab) shot(t testing.TB, name string) {
	t.Helper()
	if b.shots == "" {
		return
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	png := browserRun(t, b, "screenshot", chromedp.FullScreenshot(100))
	b.mu.Lock()
	b.nshot++
	n := b.nshot
	b.mu.Unlock()
	file := filepath.Join(b.shots, fmt.Sprintf("%s-%02d-%s.png", browserFileName(t.Name()), n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func browserFileName(s string) string {
	return strings.NewReplacer("/", "_", " ", "_", ",", "").Replace(s)
}

// browserPageState is what a failure message shows of the page.
type browserPageState struct {
	URL   string `json:"url"`
	Page  string `json:"page"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// stateIn describes the page: URL, data-page, title and the start of its
// text.
func (b *browserTab) stateIn(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[browserPageState](`({
		url: location.href,
		page: (document.body && document.body.dataset.page) || "",
		title: document.title,
		text: ((document.body && document.body.innerText) || "").slice(0, 400),
	})`))
	if err != nil {
		return fmt.Sprintf("(page state unavailable: %v)", err)
	}
	return fmt.Sprintf("url=%s data-page=%q title=%q text=%q", s.URL, s.Page, s.Title, s.Text)
}

func (b *browserTab) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return b.stateIn(ctx)
}

// browserRun runs one action with its own deadline, failing the test with
// the page's state when it does not succeed.
func browserRun[T any](t testing.TB, b *browserTab, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWaitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, b.state())
	}
	return v
}

// do runs actions that return nothing, like browserRun.
func (b *browserTab) do(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browserRun(t, b, what, chromedp.Steps(steps...))
}

// browserEval evaluates a JavaScript expression in the page.
func browserEval[T any](t testing.TB, b *browserTab, js string) T {
	t.Helper()
	return browserRun(t, b, "evaluating "+js, chromedp.Evaluate[T](js))
}

// navigate loads url and waits for its load event.
func (b *browserTab) navigate(t testing.TB, url string) {
	t.Helper()
	b.do(t, "navigating to "+url, chromedp.Navigate(url))
}

// waitPage waits until the dashboard has rendered page (body[data-page])
// and fails at once if it rendered its error page instead.
func (b *browserTab) waitPage(t testing.TB, page string) {
	t.Helper()
	b.do(t, "waiting for the "+page+" page",
		chromedp.WaitReady(chromedp.CSS(`body[data-page="`+page+`"], body[data-page="error"]`)))
	if got := browserEval[string](t, b, `document.body.dataset.page || ""`); got != page {
		t.Fatalf("waiting for the %s page, the dashboard showed %q\npage: %s", page, got, b.state())
	}
}

// location returns the page's URL.
func (b *browserTab) location(t testing.TB) *url.URL {
	t.Helper()
	raw := browserRun(t, b, "reading the location", chromedp.Location())
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("location %q: %v", raw, err)
	}
	return u
}

// text returns the visible text of the first element matching the CSS
// selector, once it is visible.
func (b *browserTab) text(t testing.TB, sel string) string {
	t.Helper()
	return strings.TrimSpace(browserRun(t, b, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// fill types value into an empty input, as a person would.
func (b *browserTab) fill(t testing.TB, sel, value string) {
	t.Helper()
	b.do(t, "waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	browserEval[bool](t, b, fmt.Sprintf(`(document.querySelector(%q).value = "") === ""`, sel))
	b.do(t, "typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
	if got := browserRun(t, b, "reading "+sel, chromedp.Value(chromedp.CSS(sel))); got != value {
		t.Fatalf("%s holds %q after typing %q", sel, got, value)
	}
}

// click clicks the element once it is visible.
func (b *browserTab) click(t testing.TB, sel string) {
	t.Helper()
	b.do(t, "clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// login fills and submits the login form; the caller waits for where it
// leads.
func (b *browserTab) login(t testing.TB, email, password string) {
	t.Helper()
	b.waitPage(t, "login")
	b.fill(t, "#login-email", email)
	b.fill(t, "#login-password", password)
	b.click(t, "#login-submit")
}

// logout clicks the shell's log-out button and waits for the login page.
func (b *browserTab) logout(t testing.TB) {
	t.Helper()
	b.click(t, "#logout")
	b.waitPage(t, "login")
	if p := b.location(t).Path; p != "/login" {
		t.Fatalf("after logout the browser is at %s, want /login", p)
	}
}

// waitJS polls a JavaScript condition until it is true, across
// navigations (while a page loads, evaluation errors are retried).
func (b *browserTab) waitJS(t testing.TB, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(browserWaitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			t.Fatalf("waiting for %s: not true within %s (last error: %v)\npage: %s", what, browserWaitTimeout, lastErr, b.state())
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
		}
	}
}

// assertVisible fails unless the element exists, is rendered (not hidden)
// and has text; it returns the text.
func (b *browserTab) assertVisible(t testing.TB, sel string) string {
	t.Helper()
	type vis struct {
		Exists  bool   `json:"exists"`
		Hidden  bool   `json:"hidden"`
		Visible bool   `json:"visible"`
		Text    string `json:"text"`
	}
	v := browserEval[vis](t, b, fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) return {exists: false, hidden: false, visible: false, text: ""};
		return {exists: true, hidden: e.hidden, visible: e.checkVisibility(), text: e.innerText.trim()};
	})()`, sel))
	switch {
	case !v.Exists:
		t.Fatalf("%s is missing\npage: %s", sel, b.state())
	case v.Hidden || !v.Visible:
		t.Fatalf("%s is not visible (hidden attribute: %v)\npage: %s", sel, v.Hidden, b.state())
	case v.Text == "":
		t.Fatalf("%s is visible but empty\npage: %s", sel, b.state())
	}
	return v.Text
}

// browserStep is one named step of a scenario that shares one browser.
type browserStep struct {
	name string
	run  func(t *testing.T)
}

// runSteps runs the steps in order as subtests, stopping at the first
// failure (later steps build on earlier ones). After each step the page
// must have had no CSP violation and no uncaught exception.
func (b *browserTab) runSteps(t *testing.T, steps []browserStep) {
	t.Helper()
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			s.run(t)
			b.assertClean(t)
			b.shot(t, "done")
		})
		if !ok {
			return
		}
	}
}

// TestBrowserLoginFlow walks a person through the dashboard in Chromium:
// first-run setup with the setup code, logout, login, a reload (the
// session lives on the server), single sign-on to a site behind
// proxyos_auth including the gate's redirect to the login page and back
// to the original URL, a session revoked behind the page's back (the page
// follows the server, not a flag of its own), diagnostics, and a wrong
// password. Every page runs under the dashboard's strict CSP: a violation
// or an uncaught exception fails the test.
func TestBrowserLoginFlow(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := startDashboard(t, dashNoAdmin())
	inst, dashURL, appURL := e.inst, e.Base, e.AppBase+"/hello?x=1"
	const email = "admin@example.com"
	identity := "email=" + email + " role=admin"

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"setup on a fresh instance", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "setup")
			if p := b.location(t).Path; p != "/setup" {
				t.Fatalf("a fresh instance shows the setup page at %s, want /setup", p)
			}
			b.shot(t, "form")
			b.fill(t, "#setup-email", email)
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
			if got := b.text(t, "#current-user"); !strings.Contains(got, email) {
				t.Fatalf("#current-user = %q, want %s", got, email)
			}
			if got := b.text(t, "#current-role"); got != "admin" {
				t.Errorf("#current-role = %q, want admin", got)
			}
		}},
		{"session cookie is HttpOnly, Lax and not Secure on http", func(t *testing.T) {
			// The seed's 401 loop: a Secure cookie on plain HTTP is
			// dropped by the browser. Here it must be kept, and scripts
			// must not be able to read it.
			res := browserRun(t, b, "reading cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
				return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{dashURL + "/"}})
			})
			var c *network.Cookie
			for _, k := range res.Cookies {
				if k.Name == "proxyos_session" {
					c = k
				}
			}
			if c == nil {
				t.Fatalf("the browser kept no proxyos_session cookie: %+v", res.Cookies)
			}
			if !c.HTTPOnly || c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
				t.Errorf("cookie httpOnly=%v secure=%v sameSite=%q path=%q, want HttpOnly, not Secure on http, Lax, /", c.HTTPOnly, c.Secure, c.SameSite, c.Path)
			}
			if jar := browserEval[string](t, b, `document.cookie`); strings.Contains(jar, "proxyos_session") {
				t.Errorf("document.cookie exposes the session: %q", jar)
			}
		}},
		{"logout shows login with the http warning", func(t *testing.T) {
			b.logout(t)
			if got := b.assertVisible(t, "#http-warning"); !strings.Contains(strings.ToLower(got), "http") {
				t.Errorf("#http-warning = %q, want a warning about plain HTTP", got)
			}
		}},
		{"login and reload keep the server-side session", func(t *testing.T) {
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			if p := b.location(t).Path; p != "/" {
				t.Errorf("after login the browser is at %s, want /", p)
			}
			b.do(t, "reloading", chromedp.Reload())
			b.waitPage(t, "overview")
			if got := b.text(t, "#current-user"); !strings.Contains(got, email) {
				t.Fatalf("after reload #current-user = %q, want %s", got, email)
			}
		}},
		{"protected site sees the identity", func(t *testing.T) {
			b.navigate(t, appURL)
			if got := b.location(t).String(); got != appURL {
				t.Fatalf("a logged-in browser at the protected site ended at %s, want %s", got, appURL)
			}
			if body := browserEval[string](t, b, `document.body.innerText`); !strings.Contains(body, identity) {
				t.Fatalf("protected site answered %q, want it to contain %q", body, identity)
			}
		}},
		{"gate sends a logged-out browser to login and back", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			b.logout(t)
			b.navigate(t, appURL)
			loc := b.location(t)
			if !strings.HasPrefix(loc.String(), dashURL+"/login") {
				t.Fatalf("the gate sent a logged-out browser to %s, want %s/login?return=…", loc, dashURL)
			}
			if got := loc.Query().Get("return"); got != appURL {
				t.Fatalf("login return = %q, want %q (url %s)", got, appURL, loc)
			}
			b.login(t, email, browserPassword)
			b.waitJS(t, "the return to "+appURL,
				fmt.Sprintf(`location.href === %q && document.body && document.body.innerText.includes(%q)`, appURL, identity))
		}},
		{"session revoked elsewhere sends the page to login with the reason", func(t *testing.T) {
			b.navigate(t, dashURL+"/?from=test")
			b.waitPage(t, "overview")
			// Log this session out behind the page's back, as another tab
			// or an admin would: the page must follow the server.
			res := browserRun(t, b, "reading cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
				return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{dashURL + "/"}})
			})
			var cookie string
			for _, k := range res.Cookies {
				if k.Name == "proxyos_session" {
					cookie = k.Value
				}
			}
			if cookie == "" {
				t.Fatal("no session cookie to revoke")
			}
			resp, raw := do(t, http.DefaultClient, http.MethodPost, dashURL+"/api/auth/logout", strings.NewReader("{}"), http.Header{
				"Content-Type": {"application/json"},
				"Origin":       {dashURL},
				"Cookie":       {"proxyos_session=" + cookie},
			})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout from outside the browser: %d %s", resp.StatusCode, raw)
			}
			b.do(t, "reloading", chromedp.Reload())
			b.waitPage(t, "login")
			loc := b.location(t)
			if loc.Path != "/login" || loc.Query().Get("reason") != "revoked" || loc.Query().Get("return") != "/?from=test" {
				t.Fatalf("a revoked session sent the page to %s, want /login?reason=revoked&return=/?from=test", loc)
			}
			b.assertVisible(t, "#login-reason")
			b.login(t, email, browserPassword)
			b.waitPage(t, "overview")
			if got := b.location(t).RequestURI(); got != "/?from=test" {
				t.Errorf("after login the browser is at %s, want /?from=test", got)
			}
		}},
		{"diagnostics", func(t *testing.T) {
			b.navigate(t, dashURL+"/diagnostics")
			b.waitPage(t, "diagnostics")
			if got := b.text(t, `table#diagnose-report tr[data-key="scheme"] td`); got != "http" {
				t.Errorf("diagnose scheme = %q, want http", got)
			}
			if got := b.text(t, `table#diagnose-report tr[data-key="session_valid"] td`); got != "Yes" {
				t.Errorf("diagnose session_valid = %q, want Yes for a logged-in browser", got)
			}
			b.assertVisible(t, "#diagnose-fix")
		}},
		{"wrong password is refused on the page", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			b.logout(t)
			b.login(t, email, "not the password")
			b.do(t, "waiting for #login-error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
			b.assertVisible(t, "#login-error")
			if p := b.location(t).Path; p != "/login" {
				t.Errorf("after a wrong password the browser is at %s, want /login", p)
			}
			if page := browserEval[string](t, b, `document.body.dataset.page`); page != "login" {
				t.Errorf("after a wrong password data-page = %q, want login", page)
			}
		}},
		{"CSP blocks inline scripts and the test sees it", func(t *testing.T) {
			// Proves the CSP detector of these tests works (and that the
			// dashboard's CSP refuses inline scripts, the XSS guard).
			browserEval[bool](t, b, `(() => {
				const s = document.createElement("script");
				s.textContent = "window.proxyosInlineRan = true";
				document.body.append(s);
				return true;
			})()`)
			if ran := browserEval[bool](t, b, `window.proxyosInlineRan === true`); ran {
				t.Error("an inline script ran under the dashboard's CSP")
			}
			// Listen runs in the tab's read loop, so each round trip to
			// the tab delivers the events that arrived before its reply.
			deadline := time.Now().Add(browserWaitTimeout)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for found := false; !found; {
				for _, p := range b.takeProblems() {
					if strings.Contains(p, "Content Security Policy") {
						found = true
					} else {
						t.Errorf("page problem: %s", p)
					}
				}
				if !found && time.Now().After(deadline) {
					t.Fatal("the inline script's CSP violation never reached the test's console listener")
				}
				<-tick.C
				browserEval[bool](t, b, `true`)
			}
		}},
	})
	b.assertClean(t)
}

// TestBrowserMobileWidth checks that every dashboard page fits a 375 px
// wide phone screen without horizontal scrolling.
func TestBrowserMobileWidth(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := startDashboard(t, dashNoAdmin())
	inst, dashURL := e.inst, e.Base
	const email = "phone-admin-with-a-long-address@example.com"

	b := newBrowserTab(t)
	b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))

	b.runSteps(t, []browserStep{
		{"setup", func(t *testing.T) {
			b.navigate(t, dashURL+"/setup")
			b.waitPage(t, "setup")
			browserFits(t, b)
			b.fill(t, "#setup-email", email)
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
		}},
		{"overview", func(t *testing.T) {
			if got := b.text(t, "#current-user"); !strings.Contains(got, email) {
				t.Errorf("#current-user = %q, want %s", got, email)
			}
			browserFits(t, b)
		}},
		{"diagnostics", func(t *testing.T) {
			b.navigate(t, dashURL+"/diagnostics")
			b.waitPage(t, "diagnostics")
			browserFits(t, b)
		}},
		{"login", func(t *testing.T) {
			b.navigate(t, dashURL+"/")
			b.waitPage(t, "overview")
			b.logout(t)
			b.assertVisible(t, "#http-warning")
			browserFits(t, b)
			b.login(t, email, "not the password")
			b.do(t, "waiting for #login-error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
			browserFits(t, b)
		}},
	})
	b.assertClean(t)
}

// browserFits fails when the page scrolls horizontally at 375 px.
func browserFits(t testing.TB, b *browserTab) {
	t.Helper()
	type width struct {
		Scroll    int      `json:"scroll"`
		Inner     int      `json:"inner"`
		Offenders []string `json:"offenders"`
	}
	w := browserEval[width](t, b, `(() => {
		const inner = window.innerWidth;
		const offenders = [];
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect();
			if (r.width > 0 && r.right > inner + 1 && offenders.length < 5) {
				offenders.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
					(e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") +
					" right=" + Math.round(r.right));
			}
		}
		return {scroll: document.documentElement.scrollWidth, inner: inner, offenders: offenders};
	})()`)
	if w.Inner != 375 {
		t.Fatalf("viewport is %d px wide, want 375", w.Inner)
	}
	if w.Scroll > 375 {
		t.Errorf("page scrolls horizontally at 375 px: scrollWidth %d; wide elements: %v", w.Scroll, w.Offenders)
	}
}
