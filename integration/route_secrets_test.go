package integration

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRouteHeaderValuesAreSecrets prevents viewers and routes:read keys
// from reading upstream credentials: the values of the request headers a
// route sets (Authorization, X-Upstream-Auth, …) used to be shown to every
// reader of the route and of its old versions, and in the audit log
// under any name the redaction did not know. They are now write-only:
// null in every API answer, version and audit entry, sealed in the
// database, kept when a client sends null back, and still sent upstream.
func TestRouteHeaderValuesAreSecrets(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	up := rtNewUpstream(t, "secret-up", false)
	const (
		host    = "secret.proxyos.test"
		basic   = "Basic c2VjcmV0LWNyZWRlbnRpYWw="
		token   = "tok-4f1d9c-upstream-secret"
		token2  = "tok-77aa01-rotated-secret"
		visible = "SAMEORIGIN"
	)
	spec := rtWith(rtProxy(host, "off", up.URL), "headers", map[string]any{
		"request":  map[string]any{"set": map[string]string{"Authorization": basic, "X-Upstream-Auth": token}},
		"response": map[string]any{"set": map[string]string{"X-Frame-Options": visible}},
	})
	status, raw := e.dash.call(http.MethodPost, "", spec)
	if status != http.StatusCreated {
		t.Fatalf("POST route: %d %s", status, raw)
	}
	id, _ := decode(t, raw)["id"].(string)
	secrets := []string{basic, token, "c2VjcmV0LWNyZWRlbnRpYWw", token2}

	// wantHidden fails unless an answer names the headers but holds none
	// of their values, and shows the response header.
	wantHidden := func(what string, raw []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("%s shows a request header value: %s", what, raw)
			}
		}
		if !bytes.Contains(raw, []byte(`"Authorization":null`)) || !bytes.Contains(raw, []byte(`"X-Upstream-Auth":null`)) {
			t.Fatalf("%s does not show which request headers are set (as null): %s", what, raw)
		}
	}
	wantHidden("the POST answer", raw)
	if !bytes.Contains(raw, []byte(visible)) {
		t.Errorf("the POST answer hides the response header value: %s", raw)
	}
	// wantSent fails unless the upstream receives the values.
	wantSent := func(what, auth, tok string) {
		t.Helper()
		resp, body := e.get(host, "/")
		seen := rtSeenOf(t, body)
		if resp.StatusCode != http.StatusOK || seen.Header.Get("Authorization") != auth || seen.Header.Get("X-Upstream-Auth") != tok {
			t.Fatalf("%s: the upstream got Authorization %q and X-Upstream-Auth %q (status %d), want the route's values",
				what, seen.Header.Get("Authorization"), seen.Header.Get("X-Upstream-Auth"), resp.StatusCode)
		}
	}
	wantSent("after create", basic, token)

	viewer, _ := e.login("viewer@proxyos.test", "viewer")
	viewerAPI := rtDashAPI(t, viewer)
	key := acsMustKeyWithPassword(t, e.admin, rtAdminPassword, "reader", "routes:read")
	keyAPI := rtAPI{t: t, base: e.admin.Base + "/api/routes", hc: plainHTTP, hdr: http.Header{"Authorization": {"Bearer " + key}}}
	for _, api := range []rtAPI{viewerAPI, keyAPI, e.dash, e.api} {
		_, raw := api.call(http.MethodGet, "/"+id, nil)
		wantHidden(api.String()+" GET route", raw)
		_, raw = api.call(http.MethodGet, "", nil)
		wantHidden(api.String()+" GET routes", raw)
	}

	// The form's way of saving: the GET answer, nulls and all, with a
	// change elsewhere keeps the values.
	_, raw = e.dash.call(http.MethodGet, "/"+id, nil)
	full := decode(t, raw)
	full["name"] = "renamed"
	if status, raw := e.dash.call(http.MethodPut, "/"+id, full); status != http.StatusOK {
		t.Fatalf("PUT of the GET answer: %d %s", status, raw)
	}
	wantSent("after saving the nulls back", basic, token)

	// A new value replaces one; the audit log names it, not its value.
	hdrs := map[string]any{"request": map[string]any{"set": map[string]any{"Authorization": nil, "X-Upstream-Auth": token2}}}
	if status, raw := e.dash.call(http.MethodPut, "/"+id, rtWith(rtProxy(host, "off", up.URL), "headers", hdrs, "version", 2)); status != http.StatusOK {
		t.Fatalf("PUT with a new value: %d %s", status, raw)
	}
	wantSent("after a new value", basic, token2)

	// null for a header that has no stored value is an error.
	hdrs = map[string]any{"request": map[string]any{"set": map[string]any{"X-Other": nil}}}
	status, raw = e.dash.call(http.MethodPut, "/"+id, rtWith(rtProxy(host, "off", up.URL), "headers", hdrs, "version", 3))
	rtWantFieldError(t, e.dash, "null without a stored value", status, raw, http.StatusBadRequest, "headers.request.set")

	for _, api := range []rtAPI{viewerAPI, keyAPI} {
		_, raw := api.call(http.MethodGet, "/"+id+"/versions", nil)
		wantHidden(api.String()+" versions", raw)
	}

	// Rolling back brings the old values back, upstream only.
	if status, raw := e.dash.call(http.MethodPost, "/"+id+"/rollback", map[string]int{"version": 1}); status != http.StatusOK {
		t.Fatalf("rollback: %d %s", status, raw)
	} else {
		wantHidden("the rollback answer", raw)
	}
	wantSent("after rollback", basic, token)

	resp, raw := e.admin.Get("/api/audit?limit=500", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, raw)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the audit log shows a request header value: %s", raw)
		}
	}
	changed := false
	for _, en := range decode(t, raw)["entries"].([]any) {
		entry := en.(map[string]any)
		if det, ok := entry["details"].(map[string]any); ok && entry["action"] == "route.update" {
			if names, ok := det["secret_headers_changed"].([]any); ok && slices.Contains(names, any("X-Upstream-Auth")) {
				changed = true
			}
		}
	}
	if !changed {
		t.Errorf("no route.update entry names X-Upstream-Auth under secret_headers_changed: %s", raw)
	}

	// At rest: no value in the database files, and the route still
	// serves them after a restart.
	e.inst.Restart()
	wantSent("after restart", basic, token)
	dir := filepath.Join(e.inst.Home, "data", "caddy", "proxyos")
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds a request header value in the clear", f.Name())
			}
		}
	}
	if log := e.inst.FullLog(); strings.Contains(log, token) || strings.Contains(log, basic) {
		t.Fatal("Caddy's log shows a request header value")
	}
}

// TestLocationHeaderValuesAreSecrets prevents an operator, a viewer, a
// routes:read key or a reader of an export from learning the upstream
// credential a location sends (a different API key per path), on a real
// Caddy: the upstream receives the value only on the location's path; the
// value is null in every answer, version, export and audit entry, sealed
// in the database, kept when the form sends null back, restored by a
// rollback and still sent after a restart.
func TestLocationHeaderValuesAreSecrets(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	web, api := rtNewUpstream(t, "loc-web", false), rtNewUpstream(t, "loc-api", false)
	const (
		host = "locsecret.proxyos.test"
		key1 = "loc-key-3a9f01c7e2-first"
		key2 = "loc-key-b84d26e0f1-second"
	)
	secrets := []string{key1, key2}
	withKey := func(key any) map[string]any {
		return rtWith(rtProxy(host, "off", web.URL), "locations", []map[string]any{
			{"path": "/api/*", "upstreams": []string{api.URL}, "headers": map[string]any{"request": map[string]any{"set": map[string]any{"X-Api-Key": key}}}},
			{"path": "/static/*", "upstreams": []string{web.URL}},
		})
	}
	status, raw := e.dash.call(http.MethodPost, "", withKey(key1))
	if status != http.StatusCreated {
		t.Fatalf("POST route: %d %s", status, raw)
	}
	id, _ := decode(t, raw)["id"].(string)

	wantHidden := func(what string, raw []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("%s shows a location's request header value: %s", what, raw)
			}
		}
		if !bytes.Contains(raw, []byte(`"X-Api-Key":null`)) {
			t.Fatalf("%s does not show the location's header as null: %s", what, raw)
		}
	}
	wantHidden("the POST answer", raw)
	// wantSent fails unless the location's upstream gets key and no other
	// path sends any.
	wantSent := func(what, key string) {
		t.Helper()
		resp, body := e.get(host, "/api/users")
		if seen := rtSeenOf(t, body); resp.StatusCode != http.StatusOK || seen.Upstream != "loc-api" || seen.Header.Get("X-Api-Key") != key {
			t.Fatalf("%s: /api/users reached %q with X-Api-Key %q (status %d), want loc-api with the location's value",
				what, seen.Upstream, seen.Header.Get("X-Api-Key"), resp.StatusCode)
		}
		for _, p := range []string{"/", "/static/app.js", "/apix"} {
			resp, body := e.get(host, p)
			if seen := rtSeenOf(t, body); resp.StatusCode != http.StatusOK || seen.Header.Get("X-Api-Key") != "" {
				t.Fatalf("%s: %s got X-Api-Key %q (status %d): the location's value leaks to another path",
					what, p, seen.Header.Get("X-Api-Key"), resp.StatusCode)
			}
		}
	}
	wantSent("after create", key1)

	operator, _ := e.login("loc-operator@proxyos.test", "operator")
	viewer, _ := e.login("loc-viewer@proxyos.test", "viewer")
	key := acsMustKeyWithPassword(t, e.admin, rtAdminPassword, "loc-reader", "routes:read")
	keyAPI := rtAPI{t: t, base: e.admin.Base + "/api/routes", hc: plainHTTP, hdr: http.Header{"Authorization": {"Bearer " + key}}}
	for _, api := range []rtAPI{rtDashAPI(t, operator), rtDashAPI(t, viewer), keyAPI} {
		_, raw := api.call(http.MethodGet, "/"+id, nil)
		wantHidden(api.String()+" GET route", raw)
		_, raw = api.call(http.MethodGet, "", nil)
		wantHidden(api.String()+" GET routes", raw)
	}

	// The form's way of saving: the GET answer back, nulls and all.
	_, raw = e.dash.call(http.MethodGet, "/"+id, nil)
	full := decode(t, raw)
	full["name"] = "renamed"
	if status, raw := e.dash.call(http.MethodPut, "/"+id, full); status != http.StatusOK {
		t.Fatalf("PUT of the GET answer: %d %s", status, raw)
	}
	wantSent("after saving the nulls back", key1)
	if status, raw := e.dash.call(http.MethodPut, "/"+id, rtWith(withKey(key2), "version", 2)); status != http.StatusOK {
		t.Fatalf("PUT with a new value: %d %s", status, raw)
	}
	wantSent("after a new value", key2)

	// null for a header the location has no value for names the field.
	bad := withKey(nil)
	bad["locations"].([]map[string]any)[0]["headers"] = map[string]any{"request": map[string]any{"set": map[string]any{"X-Other": nil}}}
	status, raw = e.dash.call(http.MethodPut, "/"+id, rtWith(bad, "version", 3))
	rtWantFieldError(t, e.dash, "null without a stored value", status, raw, http.StatusBadRequest, "locations[0].headers.request.set.X-Other")

	// An operator's view of the history and of the export.
	_, raw = rtDashAPI(t, operator).call(http.MethodGet, "/"+id+"/versions", nil)
	wantHidden("the operator's versions", raw)
	resp, raw := operator.Get("/api/export?history=1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator GET /api/export: %d %s", resp.StatusCode, raw)
	}
	wantHidden("the operator's export", raw)

	if status, raw := e.dash.call(http.MethodPost, "/"+id+"/rollback", map[string]int{"version": 1}); status != http.StatusOK {
		t.Fatalf("rollback: %d %s", status, raw)
	} else {
		wantHidden("the rollback answer", raw)
	}
	wantSent("after rollback", key1)

	resp, raw = e.admin.Get("/api/audit?limit=500", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, raw)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the audit log shows a location's request header value: %s", raw)
		}
	}
	if !bytes.Contains(raw, []byte(`"X-Api-Key (location /api/*)"`)) {
		t.Errorf("no audit entry names the location's changed header: %s", raw)
	}

	e.inst.Restart()
	wantSent("after restart", key1)
	dir := filepath.Join(e.inst.Home, "data", "caddy", "proxyos")
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds a location's request header value in the clear", f.Name())
			}
		}
	}
	if log := e.inst.FullLog(); strings.Contains(log, key1) || strings.Contains(log, key2) {
		t.Fatal("Caddy's log shows a location's request header value")
	}
}
