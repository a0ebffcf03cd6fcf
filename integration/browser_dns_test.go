package integration

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDNS walks an admin through DNS-01 in Chromium: a DNS
// provider credential is added on the DNS providers page (its config is
// never shown back), a *.example.test route with tls auto, challenge dns
// and that credential is created in the route form and served by ONE
// wildcard certificate (one Pebble order), a route whose credential's
// provider fails shows the provider's error on its page, and both pages
// fit a 375 px phone. The issuer has no provider of its own, so the
// certificate can only come through the credential stored in the page.
func TestBrowserDNS(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	d := rtStartDNS(t, false, "example.test", "broken.test")
	dashURL := fmt.Sprintf("http://localhost:%d", d.DashPort)
	up := rtNewUpstream(t, "browser-dns", false)
	closed := "http://127.0.0.1:" + strconv.Itoa(freePort(t))

	b := newBrowserTab(t)
	addCredential := func(t *testing.T, name, url string) {
		t.Helper()
		b.navigate(t, dashURL+"/dns")
		b.waitPage(t, "dns")
		brtSelect(t, b, "#dns-provider", "challtestsrv")
		b.fill(t, "#dns-name", name)
		b.fill(t, "#dns-config", `{"url": "`+url+`"}`)
		b.click(t, "#dns-create")
		b.waitJS(t, "the stored credential in the list", `document.querySelector('#dns-list li[data-dns-name="`+name+`"]')`)
		if v := browserEval[string](t, b, `document.querySelector('#dns-config').value`); v != "" {
			t.Errorf("the config field still holds %q after saving", v)
		}
		if page := browserEval[string](t, b, `document.body.innerText`); strings.Contains(page, url) {
			t.Errorf("the page shows the credential's config (%s) after saving", url)
		}
	}
	newRoute := func(t *testing.T, host, credential string) string {
		t.Helper()
		b.navigate(t, dashURL+"/routes/new")
		b.waitPage(t, "route-edit")
		b.fill(t, "#route-hosts", host)
		brtSelect(t, b, "#route-kind", "proxy")
		b.fill(t, "#route-upstreams", up.URL)
		brtSelect(t, b, "#route-tls", "auto")
		brtSelect(t, b, "#route-challenge", "dns")
		brtSelect(t, b, "#route-dns-credential", credential)
		b.click(t, "#route-save")
		b.waitPage(t, "routes")
		b.do(t, "waiting for the new row", chromedp.WaitVisible(chromedp.CSS(`tr[data-route-id]`)))
		id := brtRowID(t, b, host)
		if r := d.dash.get(id); r.Challenge != "dns" || r.DNSCred != credential || r.TLS != "auto" {
			t.Fatalf("stored route %+v, want tls auto, challenge dns, dns_credential %s", r, credential)
		}
		return id
	}

	b.runSteps(t, []browserStep{
		{"log in and add a credential on the DNS providers page", func(t *testing.T) {
			b.navigate(t, dashURL+"/login")
			b.login(t, d.adminEmail, rtAdminPassword)
			b.waitPage(t, "overview")
			addCredential(t, "pebble", d.p.ChallMgmt)
		}},
		{"a wildcard route with the credential is served by one wildcard certificate", func(t *testing.T) {
			newRoute(t, "*.example.test", "pebble")
			for _, name := range []string{"a.example.test", "b.example.test"} {
				var st tls.ConnectionState
				rtPoll(t, 90*time.Second, func() string {
					var err error
					if st, err = rtHandshake(d.rtEnv, name, &tls.Config{RootCAs: d.roots}); err != nil {
						return name + ": " + err.Error() + "\npebble:\n" + d.p.Log.String()
					}
					return ""
				})
				if leaf := st.PeerCertificates[0]; !slices.Equal(leaf.DNSNames, []string{"*.example.test"}) {
					t.Fatalf("%s: certificate for %v, want the wildcard", name, leaf.DNSNames)
				}
			}
			if n := rtCount(d.p.Log.String(), "Added order"); n != 1 {
				t.Errorf("pebble got %d orders for the wildcard route, want 1", n)
			}
			resp, _ := d.getTLS("a.example.test", "/")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != up.Name {
				t.Errorf("GET https://a.example.test/: %d from %q", resp.StatusCode, resp.Header.Get("X-Upstream"))
			}
		}},
		{"a failing credential's error shows on its route's page", func(t *testing.T) {
			addCredential(t, "broken", closed)
			id := newRoute(t, "*.broken.test", "broken")
			rtPoll(t, 60*time.Second, func() string {
				if st := d.dash.get(id).TLSStatus; st == nil || st.State != "failed" {
					return fmt.Sprintf("tls_status %+v, want failed", st)
				}
				return ""
			})
			b.navigate(t, dashURL+"/routes/edit?id="+id)
			b.waitPage(t, "route-edit")
			got := b.assertVisible(t, "#route-tls-status")
			if !strings.Contains(got, "*.broken.test") || !strings.Contains(got, "challtestsrv: ") || !strings.Contains(got, "connection refused") {
				t.Errorf("#route-tls-status says %q, want the provider's error for *.broken.test", got)
			}
		}},
		{"the pages fit a phone", func(t *testing.T) {
			b.do(t, "emulating a phone", chromedp.EmulateViewport(375, 800))
			for _, page := range []string{"dns", "certificates"} {
				b.navigate(t, dashURL+"/"+page)
				b.waitPage(t, page)
				browserFits(t, b)
			}
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			brtSelect(t, b, "#route-tls", "auto")
			brtSelect(t, b, "#route-challenge", "dns")
			b.assertVisible(t, "#route-dns-credential")
			browserFits(t, b)
		}},
	})
	b.assertClean(t)
}
