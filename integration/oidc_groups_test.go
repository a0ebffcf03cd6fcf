package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

// oidcSignIn signs in at the dashboard on dashPort with the provider corp
// as a browser would, over plain HTTP: the start (which sets the state
// cookie), the provider (which logs user in at once), the callback with
// the state cookie. It returns the session cookie's value.
func oidcSignIn(t *testing.T, op *mockoidc.MockOIDC, dashPort int, user mockoidc.User) string {
	t.Helper()
	op.QueueUser(user)
	dash := "http://localhost:" + strconv.Itoa(dashPort)
	noFollow := &http.Client{CheckRedirect: noRedirects}
	resp, raw := do(t, noFollow, http.MethodGet, dash+"/api/auth/oidc/corp", nil, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	var state *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "proxyos_oidc" {
			state = c
		}
	}
	if state == nil {
		t.Fatal("start: no state cookie")
	}
	resp, raw = do(t, noFollow, http.MethodGet, resp.Header.Get("Location"), nil, nil)
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || cb.Path != "/api/auth/oidc/corp/callback" {
		t.Fatalf("provider: %d %s, sent the browser to %q", resp.StatusCode, raw, resp.Header.Get("Location"))
	}
	resp, raw = do(t, noFollow, http.MethodGet, dash+cb.RequestURI(), nil, http.Header{"Cookie": {state.Name + "=" + state.Value}})
	for _, c := range resp.Cookies() {
		if c.Name == "proxyos_session" && c.MaxAge > 0 {
			return c.Value
		}
	}
	t.Fatalf("callback: %d %s, no session cookie (Location %s)", resp.StatusCode, raw, resp.Header.Get("Location"))
	return ""
}

// TestOIDCGroupsOnManagedRoute: against a real Caddy and a real OpenID
// provider on loopback, a route with groups ["ops"] admits a user the
// provider puts in ops (the upstream and the forward-auth endpoint get
// the role and the groups), refuses one who is not with 403; once the
// provider drops the group, the user's next login has no access, and
// neither has the session of the earlier login (its cached groups are
// dropped at once). A password user cannot claim the group with a
// forged identity header.
func TestOIDCGroupsOnManagedRoute(t *testing.T) {
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Shutdown() }) //nolint:errcheck // test end
	e := rtPrepare(t)
	e.ProxyosExtra = fmt.Sprintf(`oidc corp {
			issuer %s
			client_id %s
			client_secret {env.PROXYOS_TEST_OIDC_SECRET}
			scopes openid email groups
			auto_create on
		}`, op.Issuer(), op.ClientID)
	e.start("", "PROXYOS_TEST_OIDC_SECRET="+op.ClientSecret)
	up := rtNewUpstream(t, "app", false)
	const host = "ops.groups.test"
	e.dash.create(rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "groups": []string{"ops"}}))

	type seen struct {
		Header http.Header `json:"header"`
	}
	send := func(t *testing.T, cookie string, extra ...string) (int, http.Header) {
		t.Helper()
		h := http.Header{"Accept": {"application/json"}, "Cookie": {"proxyos_session=" + cookie}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		resp, raw := do(t, rtHTTP, http.MethodGet, "http://"+host+":"+strconv.Itoa(e.HTTPPort)+"/x", nil, h)
		var s seen
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("upstream answer %s: %v", raw, err)
			}
		}
		return resp.StatusCode, s.Header
	}
	verify := func(t *testing.T, cookie string) (int, string) {
		t.Helper()
		resp, _ := do(t, rtHTTP, http.MethodGet, fmt.Sprintf("http://localhost:%d/api/auth/verify", e.DashPort), nil,
			http.Header{"Accept": {"application/json"}, "Cookie": {"proxyos_session=" + cookie}})
		return resp.StatusCode, resp.Header.Get("Remote-Groups")
	}
	kim := oidcSignIn(t, op, e.DashPort, boidcUser("s-kim", "kim@proxyos.test", "dev", "ops"))
	lee := oidcSignIn(t, op, e.DashPort, boidcUser("s-lee", "lee@proxyos.test", "dev", "OPS"))

	t.Run("a member of ops passes, with the groups for the upstream", func(t *testing.T) {
		status, h := send(t, kim)
		if status != http.StatusOK || h.Get("X-Proxyos-Groups") != "viewer,dev,ops" || h.Get("X-Proxyos-Email") != "kim@proxyos.test" {
			t.Fatalf("status %d, upstream saw X-Proxyos-Groups %q, email %q; want 200, viewer,dev,ops", status, h.Get("X-Proxyos-Groups"), h.Get("X-Proxyos-Email"))
		}
		if status, groups := verify(t, kim); status != http.StatusOK || groups != "viewer,dev,ops" {
			t.Errorf("forward auth: %d, Remote-Groups %q; want 200, viewer,dev,ops", status, groups)
		}
	})
	t.Run("a user outside ops gets 403", func(t *testing.T) {
		if status, _ := send(t, lee); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	})
	t.Run("a password user cannot claim the group with a forged header", func(t *testing.T) {
		admin := e.adminCk
		for _, name := range []string{"X-Proxyos-Groups", "Remote-Groups"} {
			if status, _ := send(t, admin, name, "ops"); status != http.StatusForbidden {
				t.Errorf("with %s: ops: status %d, want 403", name, status)
			}
		}
	})
	t.Run("after the provider drops the group, no session of the user passes", func(t *testing.T) {
		again := oidcSignIn(t, op, e.DashPort, boidcUser("s-kim", "kim@proxyos.test", "dev"))
		if status, _ := send(t, again); status != http.StatusForbidden {
			t.Errorf("the new login: status %d, want 403", status)
		}
		if status, _ := send(t, kim); status != http.StatusForbidden {
			t.Errorf("the earlier session: status %d, want 403", status)
		}
		if status, groups := verify(t, kim); status != http.StatusOK || groups != "viewer,dev" {
			t.Errorf("forward auth of the earlier session: %d, Remote-Groups %q; want 200, viewer,dev", status, groups)
		}
	})
}
