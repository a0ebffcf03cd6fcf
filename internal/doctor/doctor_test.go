package doctor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/certs"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// healthy returns the facts of a well configured instance.
func healthy() *Facts {
	u, _ := url.Parse("https://proxy.example.com")
	return &Facts{
		Now: t0, URL: u,
		URLAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}, LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Secret:   Secret{Source: "env", Length: 44, Classes: 4},
		Keys:     Keys{Current: "aaaaaaaa", IDs: []string{"aaaaaaaa"}},
		Database: Database{Driver: "postgres", Schema: 12, Known: 12, SkewKnown: true, Skew: 300 * time.Millisecond},
		Sites: []Site{
			{Server: "srv0", Scheme: "https", Ports: []PortRange{{443, 443}}, Hosts: []string{"proxy.example.com"}, Dashboard: true},
			{Server: "srv0", Scheme: "https", Ports: []PortRange{{443, 443}}, Routes: true},
		},
		OnDemand: true, Permission: true,
		Routes: []Route{{ID: "r1", Name: "grafana", Hosts: []string{"grafana.example.com"}, Enabled: true, Gated: true, TLS: "auto"}},
		Admin:  Admin{Listen: []string{"localhost:2019"}},
	}
}

func TestRunHealthy(t *testing.T) {
	rep := Run(healthy())
	if rep.Worst() != OK || rep.ExitCode() != 0 {
		t.Fatalf("worst %s, want ok:\n%+v", rep.Worst(), rep.Findings)
	}
	if rep.URL != "https://proxy.example.com" {
		t.Errorf("url %q", rep.URL)
	}
}

// TestChecks changes one fact of a healthy instance per case and checks
// the finding it causes.
func TestChecks(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *Facts)
		id     string
		sev    Severity
		saw    string
	}{
		{"url unset", func(f *Facts) { f.URL = nil }, "url", Warning, "not set"},
		{"url does not resolve", func(f *Facts) { f.URLResolveErr = "no such host" }, "url_resolves", Problem, "no such host"},
		{"url elsewhere", func(f *Facts) { f.URLAddrs = []netip.Addr{netip.MustParseAddr("198.51.100.1")} }, "url_resolves", Warning, "198.51.100.1"},
		{"url on loopback", func(f *Facts) { f.URLAddrs = []netip.Addr{netip.MustParseAddr("::1")} }, "url_resolves", OK, "::1"},
		{"no server on url's port", func(f *Facts) { f.URL.Host = "proxy.example.com:8443" }, "url_site", Warning, "8443"},
		{"url's scheme", func(f *Facts) { f.URL.Scheme = "http"; f.URL.Host = "proxy.example.com:443" }, "url_site", Problem, "serves https"},
		{"no site for url's host", func(f *Facts) { f.Sites = f.Sites[:1]; f.Sites[0].Hosts = []string{"other.example.com"} }, "url_site", Problem, "no site"},
		{"url's site has no dashboard", func(f *Facts) { f.Sites[0].Dashboard = false }, "url_site", Problem, "does not serve proxyos_dashboard"},
		{"wildcard site", func(f *Facts) { f.Sites[0].Hosts = []string{"*.example.com"} }, "url_site", OK, "serves the dashboard"},
		{"no dashboard", func(f *Facts) { f.Sites[0].Dashboard = false; f.URL = nil }, "dashboard_hosts", Warning, "no site"},
		{"dashboard at any host without url", func(f *Facts) { f.URL = nil; f.Sites[0].Hosts = nil }, "dashboard_hosts", Warning, "IP address"},
		{"secret in the config", func(f *Facts) { f.Secret.Source = "config" }, "secret_source", Warning, "config"},
		{"short secret", func(f *Facts) { f.Secret.Length = 16 }, "secret_strength", Warning, "16 characters"},
		{"simple secret", func(f *Facts) { f.Secret.Classes = 1 }, "secret_strength", Warning, "1 of 4"},
		{"secret file readable", func(f *Facts) {
			f.Secret.Source, f.Secret.File = "file", &File{Path: "/etc/s", Mode: 0o640}
		}, "secret_file", Problem, "0640"},
		{"secret file missing", func(f *Facts) {
			f.Secret.Source, f.Secret.File = "file", &File{Path: "/etc/s", Err: "no such file"}
		}, "secret_file", Warning, "no such file"},
		{"unknown keys", func(f *Facts) {
			f.Keys.Unknown = []UnknownKey{{ID: "bbbbbbbb", Refusals: 3, First: t0.Add(-time.Hour), Last: t0}}
			f.Keys.ChangedAt, f.Keys.ChangedFrom = t0.Add(-2*time.Hour), "bbbbbbbb"
		}, "unknown_key", Warning, "replaced key bbbbbbbb at 2026-12-06T08:00:00Z"},
		{"database down", func(f *Facts) { f.Database.Err = "connection refused" }, "database", Problem, "connection refused"},
		{"schema behind", func(f *Facts) { f.Database.Schema = 11 }, "migrations", Problem, "needs 12"},
		{"schema ahead", func(f *Facts) { f.Database.Schema = 13 }, "migrations", Warning, "newer"},
		{"clock a bit off", func(f *Facts) { f.Database.Skew = -5 * time.Second }, "clock_skew", Warning, "5s behind"},
		{"clock far off", func(f *Facts) { f.Database.Skew = 2 * time.Minute }, "clock_skew", Problem, "2m0s ahead"},
		{"on demand with ask", func(f *Facts) { f.Permission = false }, "on_demand", Warning, "other than proxyos"},
		{"routes without on demand", func(f *Facts) { f.OnDemand = false }, "on_demand", Warning, "grafana"},
		{"gated route without url", func(f *Facts) { f.URL = nil }, "route_login", Problem, "url is not set"},
		{"gated route unserved", func(f *Facts) { f.Sites = f.Sites[:1] }, "route_login", Problem, "grafana.example.com"},
		{"route host also a stream's", func(f *Facts) {
			f.Routes[0].Streams = map[string]string{f.Routes[0].Hosts[0]: "postgres-tls"}
		}, "stream_overlap", Problem, "of stream postgres-tls"},
		{"certificate failing", func(f *Facts) {
			f.CertAttempts = []certs.Attempt{{Name: "grafana.example.com", Issuer: "acme", At: t0, Error: "HTTP 429 rateLimited", Failures: 2}}
		}, "cert_failing", Problem, "HTTP 429 rateLimited"},
		{"certificate overdue", func(f *Facts) {
			f.Certificates = []Certificate{{Names: []string{"grafana.example.com"}, Issuer: "acme", NotBefore: t0.Add(-85 * 24 * time.Hour), NotAfter: t0.Add(5 * 24 * time.Hour)}}
		}, "cert_expiry", Warning, "grafana.example.com"},
		{"certificate expired", func(f *Facts) {
			f.Certificates = []Certificate{{Names: []string{"grafana.example.com"}, NotBefore: t0.Add(-90 * 24 * time.Hour), NotAfter: t0.Add(-time.Minute)}}
		}, "cert_expiry", Problem, "expired"},
		{"uploaded certificate expiring", func(f *Facts) {
			f.Certificates = []Certificate{{Names: []string{"*.example.com"}, Issuer: "custom", Custom: true, NotBefore: t0.Add(-300 * 24 * time.Hour), NotAfter: t0.Add(10 * 24 * time.Hour)}}
		}, "cert_expiry", Warning, "uploaded certificate of *.example.com"},
		{"uploaded certificate not yet expiring", func(f *Facts) {
			f.Certificates = []Certificate{{Names: []string{"*.example.com"}, Issuer: "custom", Custom: true, NotBefore: t0.Add(-300 * 24 * time.Hour), NotAfter: t0.Add(15 * 24 * time.Hour)}}
		}, "cert_expiry", OK, "1 certificates"},
		{"certificate young", func(f *Facts) {
			f.Certificates = []Certificate{{Names: []string{"a"}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(11 * time.Hour)}}
		}, "cert_expiry", OK, "1 certificates"},
		{"admin on all interfaces", func(f *Facts) { f.Admin.Listen = []string{":2019"} }, "admin_listen", Problem, ":2019"},
		{"admin on a LAN address", func(f *Facts) { f.Admin.Listen = []string{"tcp/192.168.1.2:2019"} }, "admin_listen", Problem, "192.168.1.2"},
		{"admin on a unix socket", func(f *Facts) { f.Admin.Listen = []string{"unix//run/caddy.sock"} }, "admin_listen", OK, "unix"},
		{"admin on IPv6 loopback", func(f *Facts) { f.Admin.Listen = []string{"[::1]:2019"} }, "admin_listen", OK, "::1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := healthy()
			c.change(f)
			rep := Run(f)
			got, found := Finding{}, false
			for _, x := range rep.Findings {
				if x.ID == c.id && x.Severity == c.sev {
					got, found = x, true
				}
			}
			if !found {
				t.Fatalf("no %s %s finding in %+v", c.sev, c.id, rep.Findings)
			}
			if !strings.Contains(got.Saw, c.saw) {
				t.Errorf("saw %q, want it to mention %q", got.Saw, c.saw)
			}
			if c.sev != OK && (got.Why == "" || got.Fix == "") {
				t.Errorf("a %s without why or fix: %+v", c.sev, got)
			}
			if want := c.sev.rank(); rep.ExitCode() < want {
				t.Errorf("exit code %d with a %s", rep.ExitCode(), c.sev)
			}
			if rep.Findings[0].Severity.rank() < c.sev.rank() {
				t.Errorf("findings not worst first: %+v", rep.Findings[0])
			}
		})
	}
}

func TestSecretClasses(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 1, "abcDEF": 2, "abc123": 2, "aB1-": 4, "ÄÖü": 2} {
		if got := SecretClasses(s); got != want {
			t.Errorf("SecretClasses(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"proxy.example.com", "PROXY.example.com", true},
		{"*.example.com", "proxy.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"other.example.com", "proxy.example.com", false},
	} {
		if got := hostMatches(c.pattern, c.host); got != c.want {
			t.Errorf("hostMatches(%q, %q) = %v", c.pattern, c.host, got)
		}
	}
}

// TestProbe runs the probe against a fake dashboard whose answers a case
// changes: what the server says it sees, and where /login leads.
func TestProbe(t *testing.T) {
	type server struct {
		login     func(w http.ResponseWriter, r *http.Request)
		diagnosis map[string]any
	}
	page := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>" + loginMarker + "</html>")) }
	var cur server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			cur.login(w, r)
		case "/api/auth/diagnose":
			json.NewEncoder(w).Encode(cur.diagnosis)
		}
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	seen := func(scheme string, secure bool, fwd string) map[string]any {
		return map[string]any{"scheme": scheme, "host": target.Host, "secure_cookie": secure, "forwarded_proto": fwd, "remote_addr": "10.0.0.2:5000"}
	}
	cases := []struct {
		name string
		srv  server
		id   string
		sev  Severity
	}{
		{"healthy", server{page, seen("http", false, "")}, "cookie_secure", OK},
		{"secure cookie on http", server{page, seen("https", true, "https")}, "cookie_secure", Problem},
		{"scheme mismatch", server{page, seen("https", true, "")}, "scheme_mismatch", Problem},
		{"host rewritten", server{page, map[string]any{"scheme": "http", "host": "10.0.0.9:80"}}, "host_mismatch", Problem},
		{"empty page", server{func(w http.ResponseWriter, r *http.Request) {}, nil}, "login_page", Problem},
		{"redirect loop", server{func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) }, nil}, "url_redirects", Problem},
		{"redirect away", server{func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/login", http.StatusFound)
		}, nil}, "url_reachable", Problem},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur = c.srv
			fs := new(Prober).Probe(context.Background(), target, nil)
			for _, f := range fs {
				if f.ID == c.id && f.Severity == c.sev {
					return
				}
			}
			t.Fatalf("no %s %s finding in %+v", c.sev, c.id, fs)
		})
	}
}

func TestProbeUntrustedProxy(t *testing.T) {
	u, _ := url.Parse("https://proxy.example.com")
	fs := checkDiagnosis(u, diagnosis{Scheme: "http", Host: "proxy.example.com", ForwardedProto: "https", RemoteAddr: "10.0.0.2:5000"})
	for _, f := range fs {
		if f.ID == "proxy_untrusted" && f.Severity == Problem && strings.Contains(f.Fix, "trusted_proxies static 10.0.0.2") {
			return
		}
	}
	t.Fatalf("no proxy_untrusted problem naming the proxy: %+v", fs)
}

func TestExitCode(t *testing.T) {
	var r Report
	if r.ExitCode() != 0 {
		t.Fatal("empty report")
	}
	r.Add(Finding{ID: "a", Severity: Warning}, Finding{ID: "b", Severity: OK})
	if r.ExitCode() != 1 {
		t.Fatal("warning")
	}
	r.Add(Finding{ID: "c", Severity: Problem})
	if r.ExitCode() != 2 || r.Findings[0].ID != "c" {
		t.Fatalf("problem: %+v", r.Findings)
	}
	if _, ok := r.Has("b"); !ok {
		t.Fatal("Has")
	}
}
