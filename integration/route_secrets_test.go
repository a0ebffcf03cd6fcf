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
