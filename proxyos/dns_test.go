package proxyos

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/libdns/libdns"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// testDNSProvider is a DNS provider module that exists only in this
// package's test binary, so the credential API has a compiled-in
// provider to accept.
type testDNSProvider struct {
	Token string `json:"token,omitempty"`
}

func init() { caddy.RegisterModule(testDNSProvider{}) }

func (testDNSProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dns.providers.proxyos_test", New: func() caddy.Module { return new(testDNSProvider) }}
}

func (p *testDNSProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		p.Token = d.Val()
	}
	return nil
}

func (testDNSProvider) AppendRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

func (testDNSProvider) DeleteRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

const dnsTestToken = "dns-token-that-must-never-show"

// dnsFieldOf returns the field of a 400 answer.
func dnsFieldOf(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Field string `json:"field"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return b.Field
}

// TestDNSChallengeValidation: a route with challenge dns needs a DNS
// provider (a stored credential or the issuer's own); without one the
// route is refused with a field-level 400, and nothing is stored.
func TestDNSChallengeValidation(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "admin@example.com", "correct horse battery", "admin")
	ck := a.newSession(t, admin)
	for _, c := range []struct{ name, body, field string }{
		{"no provider", `{"hosts":["*.lab.example.com"],"kind":"static","static":{"body":"x"},"challenge":"dns"}`, "challenge"},
		{"unknown credential", `{"hosts":["*.lab.example.com"],"kind":"static","static":{"body":"x"},"challenge":"dns","dns_credential":"nope"}`, "dns_credential"},
		{"credential without dns", `{"hosts":["a.example.com"],"kind":"static","static":{"body":"x"},"dns_credential":"nope"}`, "dns_credential"},
		{"dns with tls internal", `{"hosts":["a.example.com"],"kind":"static","static":{"body":"x"},"tls":"internal","challenge":"dns"}`, "challenge"},
		{"unknown challenge", `{"hosts":["a.example.com"],"kind":"static","static":{"body":"x"},"challenge":"carrier-pigeon"}`, "challenge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/routes", c.body), ck))
			if rec.Code != http.StatusBadRequest || dnsFieldOf(t, rec.Body.Bytes()) != c.field {
				t.Fatalf("POST /api/routes: %d %s, want 400 on %s", rec.Code, rec.Body, c.field)
			}
		})
	}
	if routes, _ := a.state.store.ListRoutes(context.Background()); len(routes) != 0 {
		t.Errorf("refused routes were stored: %d", len(routes))
	}
}

// TestDNSCredentials covers the credential API: only compiled-in
// providers and their own fields are accepted; the config is sealed at
// rest, never answered, never audited; only admins list or change
// credentials (an operator who could read or set them could take over
// the DNS zone); a credential in use cannot be deleted.
func TestDNSCredentials(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	a.issuer.Store(&Issuer{}) // a site with issuer proxyos, without its own provider
	admin := a.newSession(t, a.addUser(t, "admin@example.com", "correct horse battery", "admin"))
	operator := a.newSession(t, a.addUser(t, "op@example.com", "correct horse battery", "operator"))
	viewer := a.newSession(t, a.addUser(t, "viewer@example.com", "correct horse battery", "viewer"))
	call := func(ck, method, path, body string) (int, string) {
		t.Helper()
		rec := serve(t, d, withCookie(apiRequest(method, path, body), ck))
		if strings.Contains(rec.Body.String(), dnsTestToken) {
			t.Fatalf("%s %s answered the credential's secret: %s", method, path, rec.Body)
		}
		return rec.Code, rec.Body.String()
	}
	good := `{"name":"lab","provider":"proxyos_test","config":{"token":"` + dnsTestToken + `"}}`

	for _, c := range []struct{ name, body, field string }{
		{"unknown provider", `{"name":"x","provider":"nope","config":{}}`, "provider"},
		{"unknown field", `{"name":"x","provider":"proxyos_test","config":{"token":"a","zone_id":"b"}}`, "config.zone_id"},
		{"not an object", `{"name":"x","provider":"proxyos_test","config":"token"}`, "config"},
		{"bad name", `{"name":"Lab Zone","provider":"proxyos_test","config":{}}`, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(admin, http.MethodPost, "/api/dns/credentials", c.body)
			if code != http.StatusBadRequest || dnsFieldOf(t, []byte(body)) != c.field {
				t.Fatalf("POST: %d %s, want 400 on %s", code, body, c.field)
			}
		})
	}

	// Operators and viewers can neither create nor list credentials.
	if code, body := call(operator, http.MethodPost, "/api/dns/credentials", good); code != http.StatusForbidden {
		t.Fatalf("operator POST: %d %s, want 403", code, body)
	}
	for _, ck := range []string{operator, viewer} {
		if code, body := call(ck, http.MethodGet, "/api/dns/credentials", ""); code != http.StatusForbidden {
			t.Fatalf("GET credentials as non-admin: %d %s, want 403", code, body)
		}
	}
	if code, body := call(admin, http.MethodPost, "/api/dns/credentials", good); code != http.StatusCreated {
		t.Fatalf("admin POST: %d %s", code, body)
	}
	if code, body := call(admin, http.MethodPost, "/api/dns/credentials", good); code != http.StatusConflict {
		t.Fatalf("second POST of the same name: %d %s, want 409", code, body)
	}
	if code, body := call(admin, http.MethodGet, "/api/dns/credentials", ""); code != http.StatusOK || !strings.Contains(body, `"provider":"proxyos_test"`) {
		t.Fatalf("admin GET: %d %s", code, body)
	}
	// The route form sees names and providers compiled in.
	code, body := call(viewer, http.MethodGet, "/api/dns", "")
	if code != http.StatusOK || !strings.Contains(body, `"proxyos_test"`) || !strings.Contains(body, `{"name":"lab","provider":"proxyos_test"}`) ||
		!strings.Contains(body, "xcaddy build") {
		t.Fatalf("GET /api/dns: %d %s", code, body)
	}

	// Sealed at rest, opened for the issuer.
	c, err := a.state.store.DNSCredentialByName(context.Background(), "lab")
	if err != nil || strings.Contains(c.Config, dnsTestToken) {
		t.Fatalf("stored config %q (%v) is not sealed", c.Config, err)
	}
	raw, _, err := a.dns.Open(context.Background(), "lab")
	if err != nil || !strings.Contains(string(raw), dnsTestToken) || !strings.Contains(string(raw), `"name":"proxyos_test"`) {
		t.Fatalf("Open: %s %v", raw, err)
	}

	// A route uses it; the credential cannot be deleted meanwhile.
	route := `{"hosts":["*.lab.example.com"],"kind":"static","static":{"body":"x"},"challenge":"dns","dns_credential":"lab"}`
	if code, body := call(operator, http.MethodPost, "/api/routes", route); code != http.StatusCreated || !strings.Contains(body, `"tls_status":{"state":"pending"`) {
		t.Fatalf("POST route with the credential: %d %s", code, body)
	}
	if code, body := call(admin, http.MethodDelete, "/api/dns/credentials/lab", "{}"); code != http.StatusConflict {
		t.Fatalf("DELETE a credential in use: %d %s, want 409", code, body)
	}
	if code, body := call(admin, http.MethodPut, "/api/dns/credentials/lab", `{"provider":"proxyos_test","config":{"token":"`+dnsTestToken+`2"}}`); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}

	// A secret rotation re-seals it with the new key.
	a.rekey(mustKeyring(t, randomSecret(t), testSecret))
	a.dns.Reseal(context.Background())
	if raw, _, err := a.dns.Open(context.Background(), "lab"); err != nil || !strings.Contains(string(raw), dnsTestToken+"2") {
		t.Fatalf("Open after re-sealing: %s %v", raw, err)
	}

	entries, err := a.state.store.ListAudit(context.Background(), store.AuditFilter{}, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "dns_credential.") {
			seen++
		}
		if strings.Contains(string(e.Details), dnsTestToken) {
			t.Fatalf("audit entry %s holds the credential's secret: %s", e.Action, e.Details)
		}
	}
	if seen != 2 {
		t.Errorf("%d dns_credential audit entries, want 2 (create, update)", seen)
	}
}

// TestIssuerDNSCaddyfile parses the issuer's dns options, and refuses
// each malformed one with its position.
func TestIssuerDNSCaddyfile(t *testing.T) {
	iss := new(Issuer)
	in := "proxyos {\n\tdns proxyos_test\n\tresolvers 1.1.1.1 9.9.9.9\n\tpropagation_delay 2s\n\tpropagation_timeout -1\n}"
	if err := iss.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if d := iss.DNS; d == nil || string(d.ProviderRaw) != `{"name":"proxyos_test"}` || len(d.Resolvers) != 2 ||
		d.PropagationDelay != caddy.Duration(2*time.Second) || d.PropagationTimeout != -1 {
		t.Fatalf("dns config %+v (provider %s)", d, d.ProviderRaw)
	}
	for in, want := range map[string]string{
		"proxyos {\n\tdns\n}":                      "wrong argument count",
		"proxyos {\n\tdns nope\n}":                 "nope",
		"proxyos {\n\tresolvers\n}":                "wrong argument count",
		"proxyos {\n\tpropagation_timeout soon\n}": "propagation_timeout",
		"proxyos {\n\tpropagation_delay 1s 2s\n}":  "wrong argument count",
		"proxyos {\n\tpropagation_delay\n}":        "wrong argument count",
	} {
		err := new(Issuer).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want one with its position containing %q", in, err, want)
		}
	}
}
