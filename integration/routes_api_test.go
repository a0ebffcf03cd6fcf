package integration

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// rtTestCRUD creates, reads, updates (also with a stale version) and
// deletes a proxy route through api, checking after each call that real
// traffic already sees the change.
func rtTestCRUD(t *testing.T, e *rtEnv, api rtAPI, prefix string) {
	a := rtNewUpstream(t, prefix+"-a", false)
	b := rtNewUpstream(t, prefix+"-b", false)
	host := prefix + ".proxyos.test"
	e.noRoute(host)

	r := api.create(rtProxy(host, "off", a.URL))
	if !r.Enabled || !slices.Equal(r.Hosts, []string{host}) || r.CreatedAt == "" || !r.Status.Live {
		t.Fatalf("created route: %+v", r)
	}
	e.servedBy(host, a.Name) // live when the call returns: no polling

	found := false
	for _, x := range api.list() {
		if x.ID == r.ID {
			found = true
			if x.Version != 1 || !slices.Equal(x.Upstreams, []string{a.URL}) {
				t.Errorf("listed route: %+v", x)
			}
		}
	}
	if !found {
		t.Fatalf("GET list has no route %s", r.ID)
	}
	if got := api.get(r.ID); got.Version != 1 || got.Kind != "proxy" || got.TLS != "off" || !got.Status.Live ||
		got.CreatedAt != r.CreatedAt || got.UpdatedAt != r.UpdatedAt {
		t.Fatalf("GET route: %+v, want what POST answered: %+v", got, r)
	}

	r2 := api.update(r.ID, 1, rtProxy(host, "off", b.URL))
	if r2.ID != r.ID || r2.CreatedAt != r.CreatedAt {
		t.Errorf("updated route changed id or created_at: %+v -> %+v", r, r2)
	}
	e.servedBy(host, b.Name)

	// A stale version is refused; the stored and served route stays.
	status, raw := api.call(http.MethodPut, "/"+r.ID, rtWith(rtProxy(host, "off", a.URL), "version", 1))
	if status != http.StatusConflict {
		t.Fatalf("PUT with stale version 1: %d %s, want 409", status, raw)
	}
	if got := api.get(r.ID); got.Version != 2 || !slices.Equal(got.Upstreams, []string{b.URL}) {
		t.Fatalf("after a stale PUT the route is %+v, want version 2 with upstream %s", got, b.URL)
	}
	e.servedBy(host, b.Name)

	// What GET answers can be sent back as is (status included) with a
	// change: the way a form edits a route.
	_, raw = api.call(http.MethodGet, "/"+r.ID, nil)
	var full map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	full["upstreams"] = []string{a.URL}
	if got := api.decodeRoute(rtMustStatus(t, api, http.MethodPut, "/"+r.ID, full, http.StatusOK)); got.Version != 3 {
		t.Fatalf("PUT of the GET answer: version %d, want 3", got.Version)
	}
	e.servedBy(host, a.Name)

	// PUT without a version, or of an unknown route, changes nothing.
	status, raw = api.call(http.MethodPut, "/"+r.ID, rtProxy(host, "off", b.URL))
	rtWantFieldError(t, api, "PUT without version", status, raw, http.StatusBadRequest, "version")
	if status, raw := api.call(http.MethodPut, "/no-such-route", rtWith(rtProxy("x.proxyos.test", "off", b.URL), "version", 1)); status != http.StatusNotFound {
		t.Fatalf("PUT of an unknown route: %d %s, want 404", status, raw)
	}
	e.noRoute("x.proxyos.test")
	if !api.admin {
		// The dashboard's DELETE can carry the version it read.
		if status, raw := api.call(http.MethodDelete, "/"+r.ID, map[string]int{"version": 2}); status != http.StatusConflict {
			t.Fatalf("DELETE with stale version 2: %d %s, want 409", status, raw)
		}
	}
	e.servedBy(host, a.Name)

	api.delete(r.ID)
	e.noRoute(host)
	if status, raw := api.call(http.MethodGet, "/"+r.ID, nil); status != http.StatusNotFound {
		t.Fatalf("GET deleted route: %d %s, want 404", status, raw)
	}
	if status, raw := api.call(http.MethodDelete, "/"+r.ID, nil); status != http.StatusNotFound {
		t.Fatalf("DELETE deleted route: %d %s, want 404", status, raw)
	}
	if n := a.hits.Load(); n == 0 {
		t.Errorf("upstream %s saw no request", a.Name)
	}
}

// rtMustStatus calls the API and fails unless it answers want.
func rtMustStatus(t *testing.T, api rtAPI, method, path string, body any, want int) []byte {
	t.Helper()
	status, raw := api.call(method, path, body)
	if status != want {
		t.Fatalf("%s: %s %s: %d %s, want %d", api, method, path, status, raw, want)
	}
	return raw
}

// rtTestKinds creates a redirect and a static route through each API;
// both are served at once.
func rtTestKinds(t *testing.T, e *rtEnv) {
	for _, api := range []rtAPI{e.dash, e.api} {
		tag := "dash"
		if api.admin {
			tag = "admin"
		}
		redirHost := "kinds-redirect-" + tag + ".proxyos.test"
		api.create(map[string]any{
			"name": "old site", "enabled": true, "hosts": []string{redirHost}, "kind": "redirect", "tls": "off",
			"redirect": map[string]any{"to": "https://new.proxyos.test/landing"},
		})
		resp, _ := e.get(redirHost, "/x")
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://new.proxyos.test/landing" {
			t.Errorf("%s: redirect route answered %d Location %q, want 308 to https://new.proxyos.test/landing", api, resp.StatusCode, resp.Header.Get("Location"))
		}

		staticHost := "kinds-static-" + tag + ".proxyos.test"
		api.create(map[string]any{
			"name": "hello", "enabled": true, "hosts": []string{staticHost}, "kind": "static", "tls": "off",
			"static": map[string]any{"body": "hello from " + tag},
		})
		resp, raw := e.get(staticHost, "/")
		if resp.StatusCode != http.StatusOK || string(raw) != "hello from "+tag || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: static route answered %d %q (%s), want 200 %q as text/html", api, resp.StatusCode, raw, resp.Header.Get("Content-Type"), "hello from "+tag)
		}
	}
}

// rtWantFieldError fails unless the answer is status naming field: the
// dashboard says it in "field" and the message, the admin API in its
// message.
func rtWantFieldError(t *testing.T, api rtAPI, what string, status int, raw []byte, wantStatus int, field string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: %s: %d %s, want %d naming %q", api, what, status, raw, wantStatus, field)
		return
	}
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("%s: %s: error body is not JSON: %s", api, what, raw)
		return
	}
	if !strings.Contains(body.Error, field) || (!api.admin && body.Field != field) {
		t.Errorf("%s: %s: error %q field %q, want it to name %q", api, what, body.Error, body.Field, field)
	}
}

// rtTestValidation sends invalid routes as creations and as updates of a
// served route: each gets 400 naming the field, nothing is stored and the
// previous route stays live.
func rtTestValidation(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "valid-a", false)
	const host, newHost = "valid.proxyos.test", "valid-new.proxyos.test"
	base := e.dash.create(rtProxy(host, "off", a.URL))

	cases := []struct {
		name  string
		edit  func(map[string]any) map[string]any
		field string
	}{
		{"host with space", func(s map[string]any) map[string]any { return rtWith(s, "hosts", []string{"exa mple.com"}) }, "hosts[0]"},
		{"double wildcard", func(s map[string]any) map[string]any { return rtWith(s, "hosts", []string{"*.*.x"}) }, "hosts[0]"},
		{"wildcard under a public suffix", func(s map[string]any) map[string]any { return rtWith(s, "hosts", []string{"*.co.uk"}) }, "hosts[0]"},
		{"no host", func(s map[string]any) map[string]any { return rtWith(s, "hosts", []string{}) }, "hosts"},
		{"upstream ftp", func(s map[string]any) map[string]any { return rtWith(s, "upstreams", []string{"ftp://x"}) }, "upstreams[0]"},
		{"upstream with path", func(s map[string]any) map[string]any { return rtWith(s, "upstreams", []string{"http://x/path"}) }, "upstreams[0]"},
		{"unknown kind", func(s map[string]any) map[string]any { return rtWith(s, "kind", "tcp") }, "kind"},
		{"unknown tls", func(s map[string]any) map[string]any { return rtWith(s, "tls", "manual") }, "tls"},
		{"unknown policy", func(s map[string]any) map[string]any {
			return rtWith(s, "load_balancing", map[string]any{"policy": "fastest"})
		}, "load_balancing.policy"},
		{"health path", func(s map[string]any) map[string]any {
			return rtWith(s, "load_balancing", map[string]any{"policy": "first", "health_check": map[string]any{"path": "healthz"}})
		}, "load_balancing.health_check.path"},
		{"redirect status 200", func(s map[string]any) map[string]any {
			return rtWith(s, "kind", "redirect", "upstreams", nil, "redirect", map[string]any{"to": "https://x.proxyos.test", "status": 200})
		}, "redirect.status"},
		{"static status 99", func(s map[string]any) map[string]any {
			return rtWith(s, "kind", "static", "upstreams", nil, "static", map[string]any{"status": 99, "body": "x"})
		}, "static.status"},
		{"hsts without tls", func(s map[string]any) map[string]any { return rtWith(s, "hsts", true) }, "tls"},
		{"access not a cidr", func(s map[string]any) map[string]any {
			return rtWith(s, "access", map[string]any{"deny": []string{"10.0.0.0/33"}})
		}, "access.deny[0]"},
		{"unknown field", func(s map[string]any) map[string]any { return rtWith(s, "upstream", "http://x") }, "body"},
	}
	for _, api := range []rtAPI{e.dash, e.api} {
		for _, tc := range cases {
			if api.admin && tc.field == "body" {
				tc.field = "unknown field"
			}
			spec := tc.edit(rtProxy(newHost, "off", a.URL))
			for k, v := range spec {
				if v == nil {
					delete(spec, k)
				}
			}
			status, raw := api.call(http.MethodPost, "", spec)
			rtWantFieldError(t, api, "POST "+tc.name, status, raw, http.StatusBadRequest, tc.field)

			spec = tc.edit(rtProxy(host, "off", a.URL))
			spec["version"] = 1
			for k, v := range spec {
				if v == nil {
					delete(spec, k)
				}
			}
			status, raw = api.call(http.MethodPut, "/"+base.ID, spec)
			rtWantFieldError(t, api, "PUT "+tc.name, status, raw, http.StatusBadRequest, tc.field)

			// The previous state stays stored and served.
			if got := api.get(base.ID); got.Version != 1 || got.Kind != "proxy" || !slices.Equal(got.Hosts, []string{host}) {
				t.Fatalf("%s: after %s the route is %+v, want version 1 unchanged", api, tc.name, got)
			}
			e.servedBy(host, a.Name)
			e.noRoute(newHost)
		}
	}
	for _, r := range e.api.list() {
		if slices.Contains(r.Hosts, newHost) {
			t.Fatalf("an invalid route was stored: %+v", r)
		}
	}
}

// rtTestHostConflict checks that a host belongs to one route whatever its
// case: creating or updating another route with it gets 409, and both
// routes stay as they were.
func rtTestHostConflict(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "conflict-a", false)
	b := rtNewUpstream(t, "conflict-b", false)
	r1 := e.dash.create(rtProxy("app.conflict.test", "off", a.URL))
	r2 := e.dash.create(rtProxy("other.conflict.test", "off", b.URL))

	for _, api := range []rtAPI{e.dash, e.api} {
		status, raw := api.call(http.MethodPost, "", rtProxy("APP.conflict.test", "off", b.URL))
		rtWantConflict(t, api, "POST APP.conflict.test", status, raw)

		spec := rtProxy("x", "off", b.URL)
		spec["hosts"] = []string{"third.conflict.test", "App.Conflict.Test"}
		status, raw = api.call(http.MethodPost, "", spec)
		rtWantConflict(t, api, "POST with a second host taken", status, raw)
		e.noRoute("third.conflict.test")

		spec = rtWith(rtProxy("other.conflict.test", "off", b.URL), "hosts", []string{"other.conflict.test", "app.CONFLICT.test"}, "version", 1)
		status, raw = api.call(http.MethodPut, "/"+r2.ID, spec)
		rtWantConflict(t, api, "PUT adding a taken host", status, raw)
	}
	if got := e.api.get(r2.ID); got.Version != 1 || !slices.Equal(got.Hosts, []string{"other.conflict.test"}) {
		t.Fatalf("route 2 after conflicts: %+v", got)
	}
	if got := e.api.get(r1.ID); got.Version != 1 {
		t.Fatalf("route 1 after conflicts: %+v", got)
	}
	e.servedBy("app.conflict.test", a.Name)
	e.servedBy("APP.Conflict.test", a.Name)
	e.servedBy("other.conflict.test", b.Name)

	// Once the owner lets the host go, another route can take it.
	e.dash.delete(r1.ID)
	e.dash.update(r2.ID, 1, rtWith(rtProxy("x", "off", b.URL), "hosts", []string{"other.conflict.test", "APP.conflict.test"}))
	e.servedBy("app.conflict.test", b.Name)
}

// rtWantConflict fails unless the answer is 409 naming the taken host
// (and, on the dashboard, the field hosts).
func rtWantConflict(t *testing.T, api rtAPI, what string, status int, raw []byte) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	json.Unmarshal(raw, &body) //nolint:errcheck // checked below
	if status != http.StatusConflict || !strings.Contains(body.Error, `"app.conflict.test"`) || (!api.admin && body.Field != "hosts") {
		t.Errorf("%s: %s: %d %s, want 409 naming host \"app.conflict.test\" (field hosts)", api, what, status, raw)
	}
}

// rtTestNotJSON sends bodies that are not JSON: 400 (or 415), nothing
// changes.
func rtTestNotJSON(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "notjson-a", false)
	r := e.dash.create(rtProxy("notjson.proxyos.test", "off", a.URL))
	before := len(e.api.list())
	for _, api := range []rtAPI{e.dash, e.api} {
		for _, body := range [][]byte{[]byte("hosts: [x]"), []byte(`{"hosts": ["x.test"]`), []byte(`{"hosts":["a.test"]} {}`)} {
			for _, m := range []struct{ method, path string }{{http.MethodPost, ""}, {http.MethodPut, "/" + r.ID}} {
				status, raw := api.call(m.method, m.path, body)
				if status != http.StatusBadRequest && status != http.StatusUnsupportedMediaType {
					t.Errorf("%s: %s %q: %d %s, want 400 or 415", api, m.method, body, status, raw)
				}
			}
		}
	}
	// A form post (what a cross-site page could send) is refused too.
	resp, raw := do(t, e.admin.HTTP, http.MethodPost, e.admin.Base+"/api/routes", strings.NewReader("hosts=x.test"),
		http.Header{"Origin": {e.admin.Base}, "Content-Type": {"application/x-www-form-urlencoded"}})
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("form POST /api/routes: %d %s, want a 4xx", resp.StatusCode, raw)
	}
	if got := e.api.get(r.ID); got.Version != 1 {
		t.Errorf("route after bad bodies: %+v", got)
	}
	if n := len(e.api.list()); n < before {
		t.Errorf("routes went from %d to %d", before, n)
	}
	e.servedBy("notjson.proxyos.test", a.Name)
}

// rtTestRoles checks the dashboard API's roles: a viewer reads but cannot
// change routes (403, nothing changes); an operator can.
func rtTestRoles(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "roles-a", false)
	b := rtNewUpstream(t, "roles-b", false)
	const host = "roles.proxyos.test"
	r := e.dash.create(rtProxy(host, "off", a.URL))

	viewerClient, _ := e.login("viewer@proxyos.test", "viewer")
	viewer := rtDashAPI(t, viewerClient)
	if got := viewer.get(r.ID); got.Version != 1 {
		t.Fatalf("viewer GET route: %+v", got)
	}
	if len(viewer.list()) == 0 || len(viewer.versions(r.ID)) != 1 {
		t.Fatalf("viewer cannot list routes or versions")
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "", rtProxy("roles-new.proxyos.test", "off", b.URL)},
		{http.MethodPut, "/" + r.ID, rtWith(rtProxy(host, "off", b.URL), "version", 1)},
		{http.MethodDelete, "/" + r.ID, nil},
		{http.MethodPost, "/" + r.ID + "/rollback", map[string]int{"version": 1}},
	} {
		if status, raw := viewer.call(c.method, c.path, c.body); status != http.StatusForbidden {
			t.Errorf("viewer %s /api/routes%s: %d %s, want 403", c.method, c.path, status, raw)
		}
	}
	if got := e.dash.get(r.ID); got.Version != 1 {
		t.Fatalf("route after the viewer's attempts: %+v", got)
	}
	e.servedBy(host, a.Name)
	e.noRoute("roles-new.proxyos.test")

	// Without a session: 401.
	anon := rtDashAPI(t, newClient(t, e.admin.Base))
	if status, raw := anon.call(http.MethodGet, "", nil); status != http.StatusUnauthorized {
		t.Errorf("GET /api/routes without a session: %d %s, want 401", status, raw)
	}

	opClient, _ := e.login("operator@proxyos.test", "operator")
	op := rtDashAPI(t, opClient)
	r2 := op.create(rtProxy("roles-op.proxyos.test", "off", b.URL))
	e.servedBy("roles-op.proxyos.test", b.Name)
	op.update(r.ID, 1, rtProxy(host, "off", b.URL))
	e.servedBy(host, b.Name)
	op.delete(r2.ID)
	e.noRoute("roles-op.proxyos.test")
	if vs := e.dash.versions(r.ID); len(vs) != 2 || vs[0].Actor != "operator@proxyos.test" {
		t.Errorf("history after the operator's change: %+v", vs)
	}
}
