package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// brtHeaderGet sends GET / for host with header name: value to the
// routes site on port and returns the status.
func brtHeaderGet(t testing.TB, port int, host, name, value string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set(name, value)
	resp, err := brtHTTP.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s/: %v", host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBrowserRouteRateLimit sets a route's rate limit in the form in
// Chromium: the fields are stored as rate_limit and limit at once, the
// edit page shows them again, the page's own check (count per user
// without a login) and the server's (a period under 1s) appear next to
// the fields with nothing stored.
func TestBrowserRouteRateLimit(t *testing.T) {
	browserExecPath(t) // fail before starting Caddy
	inst := newInstance(t)
	inst.Configure(func() string { return brtCaddyfile(inst.Admin, inst.Port("routes"), inst.Port("dash")) })
	inst.Start()
	routesPort, dashURL := inst.Port("routes"), fmt.Sprintf("http://localhost:%d", inst.Port("dash"))
	up := brtUpstream(t, "limited upstream")
	const host = "limited.proxyos.test"
	var id string
	stored := func(t *testing.T) (int, map[string]any) {
		t.Helper()
		status, raw := brtAdminAPI(t, inst).call(http.MethodGet, "/"+id, nil)
		var r struct {
			Version   int            `json:"version"`
			RateLimit map[string]any `json:"rate_limit"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &r) != nil {
			t.Fatalf("GET route: %d %s", status, raw)
		}
		return r.Version, r.RateLimit
	}

	b := newBrowserTab(t)
	b.runSteps(t, []browserStep{
		{"set up the admin", func(t *testing.T) {
			b.navigate(t, dashURL+"/setup")
			b.waitPage(t, "setup")
			b.fill(t, "#setup-email", "limits-admin@example.com")
			b.fill(t, "#setup-password", browserPassword)
			b.fill(t, "#setup-code", inst.SetupCode())
			b.click(t, "#setup-submit")
			b.waitPage(t, "overview")
		}},
		{"create a route limited per header in the form", func(t *testing.T) {
			b.navigate(t, dashURL+"/routes/new")
			b.waitPage(t, "route-edit")
			if browserEval[bool](t, b, `document.querySelector("#route-rate-header").checkVisibility()`) {
				t.Error("the header name is shown while counting per client IP")
			}
			b.fill(t, "#route-hosts", host)
			brtSelect(t, b, "#route-kind", "proxy")
			b.fill(t, "#route-upstreams", up)
			brtSelect(t, b, "#route-tls", "off")
			b.fill(t, "#route-rate-requests", "2")
			b.fill(t, "#route-rate-per", "1m")
			brtSelect(t, b, "#route-rate-key", "header")
			if !browserEval[bool](t, b, `document.querySelector("#route-rate-header").checkVisibility()`) {
				t.Fatal("the header name is hidden while counting per header")
			}
			b.fill(t, "#route-rate-header", "X-Api-Key")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			b.do(t, "waiting for the new row", chromedp.WaitVisible(chromedp.CSS(`tr[data-route-id]`)))
			id = brtRowID(t, b, host)
			_, rl := stored(t)
			if want := map[string]any{"requests": 2.0, "per": "1m", "key": "header:X-Api-Key"}; !reflect.DeepEqual(rl, want) {
				t.Fatalf("stored rate_limit = %v, want %v", rl, want)
			}
			for i, want := range []int{200, 200, 429} {
				if got := brtHeaderGet(t, routesPort, host, "X-Api-Key", "k1"); got != want {
					t.Fatalf("request %d with key k1: %d, want %d", i+1, got, want)
				}
			}
			if got := brtHeaderGet(t, routesPort, host, "X-Api-Key", "k2"); got != http.StatusOK {
				t.Fatalf("another key: %d, want 200", got)
			}
		}},
		{"the edit page shows the limit; errors stay on the form", func(t *testing.T) {
			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, id))
			b.waitPage(t, "route-edit")
			got := browserEval[[]string](t, b, `["requests", "per", "key", "header", "burst"].map((n) => document.querySelector("#route-rate-" + n).value)`)
			if want := []string{"2", "1m", "header", "X-Api-Key", ""}; !reflect.DeepEqual(got, want) {
				t.Fatalf("the form shows %q, want %q", got, want)
			}

			// Caught in the page: per user needs a login.
			brtSelect(t, b, "#route-rate-key", "user")
			b.click(t, "#route-save")
			b.waitJS(t, "the page's error summary", `!document.querySelector("#route-error").hidden`)
			if got := b.assertVisible(t, "#route-rate-key-error"); !strings.Contains(got, "login") {
				t.Errorf("#route-rate-key-error = %q, want it to ask for a login", got)
			}

			// Only the server knows: a period under a second.
			brtSelect(t, b, "#route-rate-key", "client_ip")
			b.fill(t, "#route-rate-per", "10ms")
			b.click(t, "#route-save")
			b.waitJS(t, "the server's period error", `document.querySelector("#route-rate-per-error").textContent.includes("10ms")`)
			brtIdle(t, b)
			if got := b.assertVisible(t, "#route-error"); !strings.HasPrefix(got, "Per") {
				t.Errorf("#route-error = %q, want the field's label first", got)
			}
			if v, rl := stored(t); v != 1 || rl["per"] != "1m" {
				t.Errorf("after refused saves the stored route is version %d with %v, want version 1 per 1m", v, rl)
			}
		}},
		{"raise the limit with a burst, then remove it", func(t *testing.T) {
			b.fill(t, "#route-rate-per", "1m")
			b.fill(t, "#route-rate-requests", "100")
			b.fill(t, "#route-rate-burst", "5")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			if _, rl := stored(t); rl["requests"] != 100.0 || rl["burst"] != 5.0 || rl["key"] != "client_ip" {
				t.Fatalf("stored rate_limit = %v, want 100 per 1m, burst 5, per client IP", rl)
			}
			b.click(t, fmt.Sprintf(`tr[data-route-id=%q] a.route-edit`, id))
			b.waitPage(t, "route-edit")
			b.fill(t, "#route-rate-requests", "")
			b.fill(t, "#route-rate-per", "")
			b.fill(t, "#route-rate-burst", "")
			b.click(t, "#route-save")
			b.waitPage(t, "routes")
			if v, rl := stored(t); v != 3 || rl != nil {
				t.Fatalf("after clearing the fields: version %d rate_limit %v, want version 3 without one", v, rl)
			}
		}},
	})
}
