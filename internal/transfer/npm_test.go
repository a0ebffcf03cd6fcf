package transfer

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// npmFixture writes an Nginx Proxy Manager database made from
// testdata/npm.sql, its first proxy host forwarding to host:port.
func npmFixture(t *testing.T, host, port string) string {
	t.Helper()
	sqlText, err := os.ReadFile("testdata/npm.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "database.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	text := strings.NewReplacer("{UPSTREAM_HOST}", host, "{UPSTREAM_PORT}", port).Replace(string(sqlText))
	if _, err := db.Exec(text); err != nil {
		t.Fatalf("building the fixture: %v", err)
	}
	return path
}

func TestFromNPM(t *testing.T) {
	im, err := FromNPM(context.Background(), npmFixture(t, "10.0.0.5", "8080"))
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]*route.Route{}
	for _, r := range im.Routes {
		byHost[r.Hosts[0]] = r
		r.Normalize()
		if err := r.Validate(); err != nil {
			t.Errorf("route %v is not valid: %v", r.Hosts, err)
		}
	}
	if len(im.Routes) != 6 {
		t.Errorf("%d routes, want 6 (3 proxy hosts, 2 redirections, one 404 host; the deleted host skipped)", len(im.Routes))
	}
	app := byHost["app.example.com"]
	if app == nil || app.Kind != route.KindProxy || app.Upstreams[0] != "http://10.0.0.5:8080" || app.TLS != route.TLSAuto ||
		!app.HSTS || !app.ForceHTTPS || !app.Enabled || len(app.Hosts) != 2 || app.Auth != nil {
		t.Errorf("app.example.com: %+v; want a proxy to 10.0.0.5:8080 with tls auto (Let's Encrypt), HSTS, force https", app)
	}
	office := byHost["office.example.com"]
	if office == nil || office.Upstreams[0] != "https://10.0.0.7:8443" || office.TLS != route.TLSOff || office.Access == nil ||
		strings.Join(office.Access.Allow, ",") != "192.168.1.0/24" || office.Auth != nil {
		t.Errorf("office.example.com: %+v; want https upstream, tls off (no certificate), allow 192.168.1.0/24", office)
	}
	// An access list with basic-auth users must not become public: the
	// route requires the dashboard login, and with "satisfy any" its
	// addresses pass without one.
	wiki := byHost["wiki.corp.example.com"]
	if wiki == nil || wiki.Enabled || wiki.Auth == nil || !wiki.Auth.RequireLogin || len(wiki.Auth.Rules) != 1 ||
		wiki.Auth.Rules[0].Action != "allow" || wiki.Auth.Rules[0].CIDRs[0] != "10.0.0.0/8" || wiki.TLS != route.TLSAuto {
		t.Errorf("wiki.corp.example.com: %+v / %+v; want disabled, login required, 10.0.0.0/8 allowed", wiki, wiki.Auth)
	}
	old := byHost["old.example.com"]
	if old == nil || old.Kind != route.KindRedirect || old.Redirect.To != "https://new.example.com" || old.Redirect.Status != 301 || !old.Redirect.PreservePath {
		t.Errorf("old.example.com: %+v", old)
	}
	legacy := byHost["legacy.example.com"]
	if legacy == nil || legacy.Redirect.To != "https://example.com/landing" || legacy.Redirect.Status != 302 {
		t.Errorf("legacy.example.com: %+v", legacy)
	}
	parked := byHost["parked.example.com"]
	if parked == nil || parked.Kind != route.KindStatic || parked.Static.Status != 404 {
		t.Errorf("parked.example.com: %+v", parked)
	}

	notes := ""
	for _, n := range im.Notes {
		notes += n.Source + ": " + n.Reason + "\n"
	}
	for _, want := range []string{
		"proxy host 1 (app.example.com, www.app.example.com): HSTS for subdomains",
		"proxy host 1 (app.example.com, www.app.example.com): \"block common exploits\"",
		"proxy host 2 (office.example.com): advanced (nginx) configuration not imported",
		"proxy host 2 (office.example.com): asset caching not imported",
		"proxy host 3 (wiki.corp.example.com): custom certificate 2 not imported: upload it under Certificates",
		"proxy host 3 (wiki.corp.example.com): custom locations not imported",
		"proxy host 3 (wiki.corp.example.com): the 1 basic-auth users of access list \"staff\" not imported",
		"redirection host 2 (legacy.example.com): status 303",
		"stream 1 (port 5432 → db:5432): not imported",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "plain-npm-password") {
		t.Error("a note shows an access list password")
	}
}

func TestFromNPMRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "database.sqlite")
	if err := os.WriteFile(path, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromNPM(context.Background(), path); err == nil {
		t.Error("FromNPM read a file that is no database")
	}
}
