package integration

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserCertificates walks an admin through the Certificates page in
// Chromium: a name the CA refuses shows the CA's error verbatim (also on
// the overview), a custom certificate is uploaded in the form and listed,
// "Renew now" gets a tls internal route a new certificate, the internal
// CA's root is downloaded, and the page fits a 375 px phone.
func TestBrowserCertificates(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	const refused, internal = "refused.browser.proxyos.test", "internal.browser.proxyos.test"
	e := rtPrepare(t)
	pb := rtNewPebble(t, e)
	pb.Blocked = []string{refused}
	e.start("")
	pb.start(t, e.HTTPPort, e.HTTPSPort)
	dashURL := fmt.Sprintf("http://localhost:%d", e.DashPort)
	up := rtNewUpstream(t, "browser-certs", false)
	e.dash.create(rtProxy(refused, "auto", up.URL))
	e.dash.create(rtProxy(internal, "internal", up.URL))
	rtHandshake(e, refused, &tls.Config{InsecureSkipVerify: true}) //nolint:errcheck,gosec // fails: the CA refuses the name
	local := rtLocalRoot(t, e)
	before, err := ctServedSerial(t, e, internal, local)
	if err != nil {
		t.Fatal(err)
	}
	ca := newCTCA(t)
	custom := ca.issue(time.Now().Add(10*24*time.Hour), "uploaded.browser.proxyos.test")

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"log in; the overview shows the failing certificate", func(t *testing.T) {
			b.navigate(t, dashURL+"/login")
			b.login(t, e.adminEmail, rtAdminPassword)
			b.waitPage(t, "overview")
			b.waitJS(t, "the failing certificate on the overview",
				`document.querySelector('#ov-certs li[data-name="`+refused+`"]')`)
			if got := b.assertVisible(t, `#ov-certs li[data-name="`+refused+`"]`); !strings.Contains(got, "forbidden by policy") {
				t.Errorf("overview says %q, want the CA's error", got)
			}
		}},
		{"the certificates page shows the CA's error verbatim", func(t *testing.T) {
			b.navigate(t, dashURL+"/certificates")
			b.waitPage(t, "certificates")
			row := `#certs-served tr[data-name="` + refused + `"]`
			if got := b.assertVisible(t, row+` .cert-error`); !strings.Contains(got, "urn:ietf:params:acme:error:rejectedIdentifier") || !strings.Contains(got, "forbidden by policy") {
				t.Errorf("the failing row says %q, want Pebble's problem verbatim", got)
			}
			b.assertVisible(t, `#certs-served tr[data-name="`+internal+`"] .cert-renew`)
		}},
		{"upload a custom certificate", func(t *testing.T) {
			b.fill(t, "#certs-name", "uploaded in the browser")
			b.fill(t, "#certs-chain", strings.TrimSpace(custom.Chain))
			b.fill(t, "#certs-key", strings.TrimSpace(custom.Key))
			b.click(t, "#certs-upload")
			b.waitJS(t, "the uploaded certificate in the list", `[...document.querySelectorAll('#certs-custom li')].some((li) => li.innerText.includes('uploaded in the browser'))`)
			if v := browserEval[string](t, b, `document.querySelector('#certs-key').value`); v != "" {
				t.Error("the key field still holds the key after the upload")
			}
			if got := b.assertVisible(t, "#certs-custom li"); !strings.Contains(got, "uploaded.browser.proxyos.test") || !strings.Contains(got, "expires soon") {
				t.Errorf("listed as %q, want its name and that it expires soon (10 days)", got)
			}
		}},
		{"renew now", func(t *testing.T) {
			b.click(t, `#certs-served tr[data-name="`+internal+`"] .cert-renew`)
			b.waitJS(t, "the renewal notice", `document.querySelector('#certs-notice').innerText.includes('Renewed')`)
			after, err := ctServedSerial(t, e, internal, local)
			if err != nil || after.Cmp(before) == 0 {
				t.Fatalf("after Renew now the server serves %v (%v), want a new certificate (was %v)", after, err, before)
			}
		}},
		{"download the internal root", func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(e.inst.Home, "data", "caddy", "pki", "authorities", "local", "root.crt"))
			if err != nil {
				t.Fatal(err)
			}
			browserEval[bool](t, b, `fetch(document.querySelector('#certs-root').href).then((r) => r.text()).then((s) => { window.rootPEM = s; }), true`)
			b.waitJS(t, "the root download", `window.rootPEM`)
			if got := browserEval[string](t, b, `window.rootPEM`); strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
				t.Errorf("the download is not the internal CA's root.crt:\n%s", got)
			}
		}},
		{"the page fits a phone", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			b.navigate(t, dashURL+"/certificates")
			b.waitPage(t, "certificates")
			browserFits(t, b)
		}},
	})
	b.assertClean(t)
}
