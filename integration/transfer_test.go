package integration

import (
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// trCLI runs caddy proxyos against inst's admin API.
func trCLI(t *testing.T, inst *instance, args ...string) string {
	t.Helper()
	out, err := exec.Command(caddyBin, append(append([]string{"proxyos"}, args...), "--address", inst.Admin)...).CombinedOutput()
	if err != nil {
		t.Fatalf("caddy proxyos %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// trAuditCount counts the audit entries of an action.
func trAuditCount(t *testing.T, e *rtEnv, action string) int {
	t.Helper()
	resp, raw := e.admin.Get("/api/audit?action="+action, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, raw)
	}
	var body struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("audit: %v: %s", err, raw)
	}
	return len(body.Entries)
}

// trNPMDatabase writes a Nginx Proxy Manager database.sqlite built from
// its schema (internal/transfer/testdata/npm.sql), its first proxy host
// forwarding to up.
func trNPMDatabase(t *testing.T, up *rtUpstream) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	schema, err := os.ReadFile("../internal/transfer/testdata/npm.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "database.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	text := strings.NewReplacer("{UPSTREAM_HOST}", host, "{UPSTREAM_PORT}", port).Replace(string(schema))
	// Served on plain HTTP here (no certificate), and without the host
	// whose upstream name does not resolve on this machine.
	text += `UPDATE proxy_host SET certificate_id = 0, ssl_forced = 0, hsts_enabled = 0 WHERE id = 1;
		UPDATE proxy_host SET is_deleted = 1 WHERE id = 3;`
	if _, err := db.Exec(text); err != nil {
		t.Fatal(err)
	}
	return path
}

// An export from one instance, imported into another with the CLI,
// serves the same routes there; the dry run before it changes nothing;
// the export holds no secret.
func TestExportImportBetweenInstances(t *testing.T) {
	t.Parallel()
	up := rtNewUpstream(t, "one", false)
	a := rtStart(t, "")
	b := rtStart(t, "")
	a.dash.create(rtWith(rtProxy("app.transfer.test", "off", up.URL),
		"headers", map[string]any{"request": map[string]any{"set": map[string]any{"X-Api-Key": "upstream-secret-value"}}}))
	a.dash.create(map[string]any{"name": "sorry", "hosts": []string{"sorry.transfer.test"}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 503, "body": "back soon"}})

	file := filepath.Join(t.TempDir(), "export.json")
	trCLI(t, a.inst, "export", "--history", "-o", file)
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "upstream-secret-value") {
		t.Fatal("the export holds a request header value")
	}
	if !strings.Contains(string(doc), `"format": "proxyos-export"`) || !strings.Contains(string(doc), `"history"`) {
		t.Fatalf("export: %s", doc)
	}

	out := trCLI(t, b.inst, "import", "--dry-run", file)
	// The secret header value of the exported route is null: B has no
	// value to keep, so that route is refused, with the field named.
	if !strings.Contains(out, "+ sorry (sorry.transfer.test)") || !strings.Contains(out, `! routes[0] app.transfer.test (app.transfer.test): headers.request.set: "X-Api-Key"`) ||
		!strings.Contains(out, "1 added, 0 changed, 0 unchanged, 0 removed, 1 refused; dry run: nothing changed") {
		t.Errorf("dry run output:\n%s", out)
	}
	b.noRoute("app.transfer.test")
	if n := len(b.dash.list()); n != 0 {
		t.Fatalf("after a dry run B has %d routes, want 0", n)
	}

	// Without it the import is refused as a whole.
	cmd := exec.Command(caddyBin, "proxyos", "import", file, "--address", b.inst.Admin)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "X-Api-Key") {
		t.Errorf("import of a route whose secret header value is not known: %v\n%s; want a refusal naming the header", err, out)
	}
	if n := len(b.dash.list()); n != 0 {
		t.Fatalf("after a refused import B has %d routes, want 0", n)
	}

	// Give the value again (as the README says) and import.
	fixed := strings.Replace(string(doc), `"X-Api-Key": null`, `"X-Api-Key": "upstream-secret-value"`, 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	out = trCLI(t, b.inst, "import", file)
	if !strings.Contains(out, "2 added") || !strings.Contains(out, "applied") || !strings.Contains(out, "history: not imported") {
		t.Errorf("import output:\n%s", out)
	}
	b.servedBy("app.transfer.test", "one")
	_, raw := b.get("app.transfer.test", "/")
	if seen := rtSeenOf(t, raw); seen.Header.Get("X-Api-Key") != "upstream-secret-value" {
		t.Errorf("upstream got X-Api-Key %q via B", seen.Header.Get("X-Api-Key"))
	}
	if resp, raw := b.get("sorry.transfer.test", "/"); resp.StatusCode != 503 || string(raw) != "back soon" {
		t.Errorf("sorry.transfer.test on B: %d %q", resp.StatusCode, raw)
	}
	// The same ids: importing again changes nothing.
	if out = trCLI(t, b.inst, "import", file); !strings.Contains(out, "0 added, 0 changed, 2 unchanged") {
		t.Errorf("second import:\n%s", out)
	}
	if n := trAuditCount(t, b, "routes.import"); n != 2 {
		t.Errorf("B's audit log has %d routes.import entries, want 2", n)
	}
	if n := trAuditCount(t, b, "route.create"); n != 2 {
		t.Errorf("B's audit log has %d route.create entries, want 2", n)
	}
}

// Import is a route change like any other, bounded the same way: a viewer
// cannot import, a key without routes:write cannot, and an import cannot
// aim a route at Caddy's admin API — the upstream guard refuses it and,
// the import being all or nothing, the good routes beside it are not
// applied either.
func TestImportCannotDoWhatTheRouteAPIRefuses(t *testing.T) {
	t.Parallel()
	up := rtNewUpstream(t, "one", false)
	e := rtStart(t, "")
	route := func(host, upstream string) json.RawMessage {
		b, _ := json.Marshal(rtProxy(host, "off", upstream))
		return b
	}
	doc := func(routes ...json.RawMessage) map[string]any {
		return map[string]any{"format": "proxyos-export", "version": 1, "routes": routes}
	}
	good := doc(route("good.transfer.test", up.URL))

	viewer, _ := e.login("viewer@transfer.test", "viewer")
	if resp, raw := viewer.PostJSON("/api/import?dry_run=1", good); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's import: %d %s, want 403", resp.StatusCode, raw)
	}
	key := acsMustKeyWithPassword(t, e.admin, rtAdminPassword, "read only", "routes:read")
	b, _ := json.Marshal(good)
	resp, raw := do(t, plainHTTP, http.MethodPost, e.admin.Base+"/api/import", strings.NewReader(string(b)),
		http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), "routes:write") {
		t.Errorf("a routes:read key's import: %d %s, want 403 naming routes:write", resp.StatusCode, raw)
	}
	if resp, raw := viewer.Get("/api/export", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's export: %d %s, want 403", resp.StatusCode, raw)
	}
	operator, _ := e.login("operator@transfer.test", "operator")
	if resp, raw := operator.Get("/api/export?users=1", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator's export of users: %d %s, want 403", resp.StatusCode, raw)
	}
	resp, raw = e.admin.Get("/api/export?users=1", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "operator@transfer.test") || strings.Contains(string(raw), "argon2") {
		t.Errorf("an admin's export of users: %d %s", resp.StatusCode, raw)
	}

	bad := doc(route("good.transfer.test", up.URL), route("admin.transfer.test", "http://"+e.inst.Admin), route("also.transfer.test", up.URL))
	for _, path := range []string{"/api/import?dry_run=1", "/api/import"} {
		resp, raw := operator.PostJSON(path, bad)
		if !strings.Contains(string(raw), "upstreams[0]") {
			t.Errorf("POST %s with an upstream to the admin API: %d %s, want the refusal naming upstreams[0]", path, resp.StatusCode, raw)
		}
		if path == "/api/import" && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", path, resp.StatusCode)
		}
	}
	e.noRoute("good.transfer.test")
	e.noRoute("also.transfer.test")
	if n := len(e.dash.list()); n != 0 {
		t.Fatalf("after a refused import there are %d routes, want 0", n)
	}

	resp, raw = operator.PostJSON("/api/import", good)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator's import: %d %s", resp.StatusCode, raw)
	}
	e.servedBy("good.transfer.test", "one")
}

// A Nginx Proxy Manager database (built from its schema) imported with
// the CLI serves its proxy host from a real upstream.
func TestImportFromNPM(t *testing.T) {
	t.Parallel()
	up := rtNewUpstream(t, "npm", false)
	e := rtStart(t, "")
	path := trNPMDatabase(t, up)

	out := trCLI(t, e.inst, "import", "--from", "npm", path)
	for _, want := range []string{"+ app.example.com", "advanced (nginx) configuration not imported", "stream 1", "applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	e.servedBy("app.example.com", "npm")
	e.servedBy("www.app.example.com", "npm")
	if resp, raw := e.get("parked.example.com", "/"); resp.StatusCode != http.StatusNotFound || string(raw) != "Not Found" {
		t.Errorf("the 404 host: %d %q", resp.StatusCode, raw)
	}
	if resp, _ := e.get("legacy.example.com", "/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://example.com/landing" {
		t.Errorf("the redirection host: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := trAuditCount(t, e, "routes.import"); n != 1 {
		t.Errorf("%d routes.import audit entries, want 1", n)
	}
}
