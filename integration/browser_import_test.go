package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// biWrite writes a file to import into dir and returns its path.
func biWrite(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// biPreview picks file on the import page, checks the format guessed
// from its name, previews it and waits for the plan in state (preview,
// refused).
func biPreview(t *testing.T, b *browserTab, dashURL, file, format, state string) {
	t.Helper()
	b.navigate(t, dashURL+"/import")
	b.waitPage(t, "import")
	b.do(t, "picking "+file, chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}))
	if got := browserEval[string](t, b, `document.querySelector("#import-from").value`); got != format {
		t.Errorf("format guessed from %s: %q, want %q", filepath.Base(file), got, format)
	}
	b.click(t, "#import-preview")
	b.waitJS(t, "the "+state+" plan", `document.querySelector("#import-result").dataset.state === "`+state+`"`)
}

// biPlanned is the text of the plan's entry for host in list (added,
// changed, refused…), "" when there is none.
func biPlanned(t *testing.T, b *browserTab, list, host string) string {
	t.Helper()
	return browserEval[string](t, b, `(() => {
		const li = document.querySelector('[data-plan="`+list+`"] li[data-plan-route="`+host+`"]');
		return li ? li.innerText : "";
	})()`)
}

// TestBrowserImport drives the Import and export page in headless
// Chromium at 375 px against a real Caddy: a Caddyfile with one
// reverse_proxy site is previewed (listed as added, nothing served yet)
// and applied (served by the real upstream); a Caddyfile that changes it
// and aims another site at Caddy's admin API shows the change field by
// field and the refusal, and offers no Apply (nothing changes); a Nginx
// Proxy Manager database shows its hosts and what is not imported; an
// admin's export downloads the document with the users; a viewer gets no
// Import page. The page runs under the strict CSP.
func TestBrowserImport(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	e := rtStart(t, "")
	dashURL := e.admin.Base
	up := rtNewUpstream(t, "browser-import", false)
	other := rtNewUpstream(t, "browser-import-other", false)
	e.login("operator@browser-import.test", "operator")
	e.login("viewer@browser-import.test", "viewer")
	files := t.TempDir()
	const host = "imported.browser-import.test"
	caddyfile := biWrite(t, files, "Caddyfile", "http://"+host+" {\n\treverse_proxy "+strings.TrimPrefix(up.URL, "http://")+"\n}\n")
	refused := biWrite(t, files, "next.caddyfile", "http://"+host+" {\n\treverse_proxy "+strings.TrimPrefix(other.URL, "http://")+"\n}\n\n"+
		"http://admin.browser-import.test {\n\treverse_proxy "+e.inst.Admin+"\n}\n")
	npm := trNPMDatabase(t, up)
	downloads := t.TempDir()

	b := newBrowserTab(t)
	b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
	b.runSteps(t, []browserStep{
		{"an operator previews a Caddyfile: its site is to be added, nothing is served yet", func(t *testing.T) {
			b.navigate(t, dashURL+"/login")
			b.login(t, "operator@browser-import.test", rtAdminPassword)
			b.waitPage(t, "overview")
			if !browserEval[bool](t, b, `!!document.querySelector('#nav a[href="/import"]')`) {
				t.Error("an operator's menu has no Import / export entry")
			}
			biPreview(t, b, dashURL, caddyfile, "caddyfile", "preview")
			if got := biPlanned(t, b, "added", host); !strings.Contains(got, host) {
				t.Errorf("the plan's added list has %q for %s", got, host)
			}
			if got := b.text(t, "#import-summary"); !strings.HasPrefix(got, "1 added, 0 changed, 0 unchanged, 0 removed, 0 refused") {
				t.Errorf("summary %q", got)
			}
			if browserEval[bool](t, b, `document.querySelector("#export-users-field").hidden === false`) {
				t.Error("an operator is offered to export users")
			}
			browserFits(t, b)
			e.noRoute(host)
		}},
		{"applying it serves the site from its upstream", func(t *testing.T) {
			b.click(t, "#import-apply")
			b.waitJS(t, "the applied plan", `document.querySelector("#import-result").dataset.state === "applied"`)
			if got := b.assertVisible(t, "#import-notice"); !strings.Contains(got, "Caddyfile") {
				t.Errorf("notice %q", got)
			}
			if !browserEval[bool](t, b, `document.querySelector("#import-apply").hidden`) {
				t.Error("Apply is still offered after applying")
			}
			e.servedBy(host, "browser-import")
		}},
		{"a route aimed at the admin API is refused with its field and the import cannot be applied", func(t *testing.T) {
			biPreview(t, b, dashURL, refused, "caddyfile", "refused")
			got := biPlanned(t, b, "refused", "admin.browser-import.test")
			if !strings.Contains(got, "upstreams[0]") {
				t.Errorf("refusal reads %q, want the field upstreams[0] and why", got)
			}
			if got := biPlanned(t, b, "changed", host); !strings.Contains(got, "upstreams") ||
				!strings.Contains(got, strings.TrimPrefix(other.URL, "http://")) {
				t.Errorf("the changed route reads %q, want its upstreams before and after", got)
			}
			b.assertVisible(t, "#import-refused-notice")
			b.shot(t, "import-refused")
			if !browserEval[bool](t, b, `document.querySelector("#import-apply").hidden`) {
				t.Error("Apply is offered for a plan with a refused route")
			}
			browserFits(t, b)
			e.servedBy(host, "browser-import")
			e.noRoute("admin.browser-import.test")
		}},
		{"a Nginx Proxy Manager database shows its hosts and what is not imported", func(t *testing.T) {
			biPreview(t, b, dashURL, npm, "npm", "preview")
			for _, h := range []string{"app.example.com", "parked.example.com", "legacy.example.com"} {
				if got := biPlanned(t, b, "added", h); !strings.Contains(got, h) {
					t.Errorf("the plan's added list has %q for %s", got, h)
				}
			}
			notes := b.assertVisible(t, "#import-notes")
			for _, want := range []string{"advanced (nginx) configuration not imported", "stream 1"} {
				if !strings.Contains(notes, want) {
					t.Errorf("the not-imported list lacks %q:\n%s", want, notes)
				}
			}
			b.shot(t, "import-npm")
			browserFits(t, b)
			e.noRoute("app.example.com")
		}},
		// A crafted file must not put markup into the page of the
		// operator who previews it: names reach the page as text.
		{"markup in an imported route's name is shown as text, not run", func(t *testing.T) {
			name := `<img src=x id=bi-injected>`
			doc, _ := json.Marshal(map[string]any{"format": "proxyos-export", "version": 1,
				"routes": []any{rtWith(rtProxy("markup.browser-import.test", "off", up.URL), "name", name)}})
			biPreview(t, b, dashURL, biWrite(t, files, "markup.json", string(doc)), "json", "preview")
			if got := biPlanned(t, b, "added", "markup.browser-import.test"); !strings.Contains(got, name) {
				t.Errorf("the plan shows %q, want the name as text", got)
			}
			if browserEval[bool](t, b, `!!document.querySelector("#bi-injected")`) {
				t.Error("the route's name was inserted as markup")
			}
		}},
		{"a file that cannot be read shows why under the file field", func(t *testing.T) {
			b.navigate(t, dashURL+"/import")
			b.waitPage(t, "import")
			b.do(t, "picking a broken Caddyfile", chromedp.SetUploadFiles(chromedp.CSS("#import-file"),
				[]string{biWrite(t, files, "broken.caddyfile", "http://broken.browser-import.test {\n\tno_such_directive\n}\n")}))
			b.click(t, "#import-preview")
			b.waitJS(t, "the file's error", `!document.querySelector("#import-file-error").hidden`)
			if got := b.assertVisible(t, "#import-file-error"); !strings.Contains(got, "no_such_directive") {
				t.Errorf("the file's error reads %q, want the adapter's error naming the directive", got)
			}
			if !browserEval[bool](t, b, `document.querySelector("#import-result").hidden && document.querySelector("#import-file").getAttribute("aria-invalid") === "true"`) {
				t.Error("a plan is shown, or the file field is not marked invalid")
			}
			brtSelect(t, b, "#import-from", "json")
			b.click(t, "#import-preview")
			b.waitJS(t, "the file's error", `document.querySelector("#import-file-error").textContent.includes("JSON")`)
			if got := b.assertVisible(t, "#import-file-error"); !strings.Contains(got, "not a JSON document") {
				t.Errorf("a Caddyfile read as JSON: %q", got)
			}
		}},
		{"an admin's export downloads the document with the users", func(t *testing.T) {
			b.logout(t)
			b.login(t, e.adminEmail, rtAdminPassword)
			b.waitPage(t, "overview")
			b.navigate(t, dashURL+"/import")
			b.waitPage(t, "import")
			b.do(t, "allowing downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
				return err
			}))
			b.click(t, "#export-users")
			b.click(t, "#export-download")
			var doc struct {
				Format string            `json:"format"`
				Routes []json.RawMessage `json:"routes"`
				Users  []struct {
					Email string `json:"email"`
				} `json:"users"`
			}
			rtPoll(t, 15*time.Second, func() string {
				found, _ := filepath.Glob(filepath.Join(downloads, "proxyos-export-*.json"))
				if len(found) != 1 {
					return "no finished download in " + downloads
				}
				raw, err := os.ReadFile(found[0])
				if err == nil {
					err = json.Unmarshal(raw, &doc)
				}
				if err != nil {
					return err.Error()
				}
				return ""
			})
			if doc.Format != "proxyos-export" || len(doc.Routes) != 1 || !strings.Contains(string(doc.Routes[0]), host) {
				t.Errorf("downloaded %s with %d routes, want the export with %s", doc.Format, len(doc.Routes), host)
			}
			emails := ""
			for _, u := range doc.Users {
				emails += u.Email + " "
			}
			if !strings.Contains(emails, "operator@browser-import.test") {
				t.Errorf("the export's users are %q, want the operator among them", emails)
			}
			if got := b.assertVisible(t, "#import-notice"); !strings.Contains(got, "1 route") {
				t.Errorf("notice %q", got)
			}
		}},
		{"a viewer gets no Import page", func(t *testing.T) {
			b.logout(t)
			b.login(t, "viewer@browser-import.test", rtAdminPassword)
			b.waitPage(t, "overview")
			if browserEval[bool](t, b, `!!document.querySelector('#nav a[href="/import"]')`) {
				t.Error("a viewer's menu offers Import / export")
			}
			b.navigate(t, dashURL+"/import")
			b.waitPage(t, "import")
			if browserEval[bool](t, b, `!!document.querySelector("#import-form") || !!document.querySelector("#export-form")`) {
				t.Error("a viewer is shown the import or export form")
			}
			browserFits(t, b)
		}},
	})
	b.assertClean(t)
}
