package route

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/access"
)

// rtuProxy returns a valid, normalized proxy route.
func rtuProxy() *Route {
	return &Route{
		ID: "r1", Name: "App", Enabled: true, Hosts: []string{"app.example.com"},
		Kind: KindProxy, TLS: TLSAuto, Upstreams: []string{"http://10.0.0.5:3000"},
	}
}

// rtuRedirect returns a valid, normalized redirect route.
func rtuRedirect() *Route {
	return &Route{
		ID: "r2", Enabled: true, Hosts: []string{"old.example.com"}, Kind: KindRedirect, TLS: TLSAuto,
		Redirect: &Redirect{To: "https://new.example.com", Status: 301},
	}
}

// rtuStatic returns a valid, normalized static route.
func rtuStatic() *Route {
	return &Route{
		ID: "r3", Enabled: true, Hosts: []string{"down.example.com"}, Kind: KindStatic, TLS: TLSAuto,
		Static: &Static{Status: 503, Body: "<h1>Down</h1>", ContentType: "text/html; charset=utf-8"},
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name  string
		in    *Route
		check func(t *testing.T, r *Route)
	}{
		{
			name: "hosts lower-cased, trimmed, trailing dot removed",
			in:   &Route{Hosts: []string{"  Grafana.Example.COM. ", "*.Apps.Example.com", "10.0.0.1"}},
			check: func(t *testing.T, r *Route) {
				want := []string{"grafana.example.com", "*.apps.example.com", "10.0.0.1"}
				if !reflect.DeepEqual(r.Hosts, want) {
					t.Errorf("Hosts = %q, want %q", r.Hosts, want)
				}
			},
		},
		{
			name: "name trimmed",
			in:   &Route{Name: "  Grafana \t"},
			check: func(t *testing.T, r *Route) {
				if r.Name != "Grafana" {
					t.Errorf("Name = %q, want %q", r.Name, "Grafana")
				}
			},
		},
		{
			name: "tls defaults to auto",
			in:   &Route{Kind: KindProxy},
			check: func(t *testing.T, r *Route) {
				if r.TLS != TLSAuto {
					t.Errorf("TLS = %q, want %q", r.TLS, TLSAuto)
				}
			},
		},
		{
			name: "tls off kept",
			in:   &Route{TLS: TLSOff},
			check: func(t *testing.T, r *Route) {
				if r.TLS != TLSOff {
					t.Errorf("TLS = %q, want %q", r.TLS, TLSOff)
				}
			},
		},
		{
			name: "redirect status defaults to 308",
			in:   &Route{Kind: KindRedirect, Redirect: &Redirect{To: "https://x.example"}},
			check: func(t *testing.T, r *Route) {
				if r.Redirect.Status != 308 {
					t.Errorf("Redirect.Status = %d, want 308", r.Redirect.Status)
				}
			},
		},
		{
			name: "redirect status kept",
			in:   &Route{Kind: KindRedirect, Redirect: &Redirect{To: "https://x.example", Status: 302}},
			check: func(t *testing.T, r *Route) {
				if r.Redirect.Status != 302 {
					t.Errorf("Redirect.Status = %d, want 302", r.Redirect.Status)
				}
			},
		},
		{
			name: "static defaults to 200 and html",
			in:   &Route{Kind: KindStatic, Static: &Static{Body: "hi"}},
			check: func(t *testing.T, r *Route) {
				if r.Static.Status != 200 {
					t.Errorf("Static.Status = %d, want 200", r.Static.Status)
				}
				if r.Static.ContentType != "text/html; charset=utf-8" {
					t.Errorf("Static.ContentType = %q, want text/html; charset=utf-8", r.Static.ContentType)
				}
			},
		},
		{
			name: "static values kept",
			in:   &Route{Kind: KindStatic, Static: &Static{Status: 503, ContentType: "text/plain"}},
			check: func(t *testing.T, r *Route) {
				if r.Static.Status != 503 || r.Static.ContentType != "text/plain" {
					t.Errorf("Static = %+v, want status 503 and text/plain", r.Static)
				}
			},
		},
		{
			name: "static of another kind untouched",
			in:   &Route{Kind: KindProxy, Static: &Static{}},
			check: func(t *testing.T, r *Route) {
				if r.Static.Status != 0 || r.Static.ContentType != "" {
					t.Errorf("Static = %+v, want zero (Validate must reject it, not Normalize fix it)", r.Static)
				}
			},
		},
		{
			name: "load balancing policy defaults to random",
			in:   &Route{Kind: KindProxy, LoadBalancing: &LoadBalancing{}},
			check: func(t *testing.T, r *Route) {
				if r.LoadBalancing.Policy != "random" {
					t.Errorf("Policy = %q, want random", r.LoadBalancing.Policy)
				}
			},
		},
		{
			name: "load balancing policy kept",
			in:   &Route{Kind: KindProxy, LoadBalancing: &LoadBalancing{Policy: "first"}},
			check: func(t *testing.T, r *Route) {
				if r.LoadBalancing.Policy != "first" {
					t.Errorf("Policy = %q, want first", r.LoadBalancing.Policy)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Normalize()
			tt.check(t, tt.in)
		})
	}
}

// TestNormalizeThenValidate checks that what a user types (mixed case,
// spaces, no defaults) becomes a valid route.
func TestNormalizeThenValidate(t *testing.T) {
	r := &Route{
		Hosts: []string{" App.Example.com. "}, Kind: KindStatic, Static: &Static{Body: "ok"},
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate after Normalize: %v", err)
	}
}

// TestValidateWildcardUnderSuffix checks that the refusal of a wildcard
// directly under a public suffix (the unbounded certificates attack: any
// client could make the server obtain certificates for names under *.com)
// names the suffix and shows what to write instead.
func TestValidateWildcardUnderSuffix(t *testing.T) {
	for host, suffix := range map[string]string{"*.com": "com", "*.co.uk": "co.uk", "*.github.io": "github.io", "*.lan": "lan"} {
		r := rtuProxy()
		r.Hosts = []string{host}
		err := r.Validate()
		want := fmt.Sprintf(`hosts[0]: %q: %q is a public suffix, under which anyone can register names: a wildcard needs a domain of your own, as in *.example.%s`, host, suffix, suffix)
		if err == nil || err.Error() != want {
			t.Errorf("Validate(%s) = %v, want %s", host, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		base  func() *Route
		edit  func(r *Route)
		field string // "" means valid
	}{
		// Valid routes.
		{"proxy minimal", rtuProxy, func(r *Route) {}, ""},
		{"redirect minimal", rtuRedirect, func(r *Route) {}, ""},
		{"static minimal", rtuStatic, func(r *Route) {}, ""},
		{"several hosts", rtuProxy, func(r *Route) { r.Hosts = []string{"a.example.com", "b.example.com", "*.c.example.com"} }, ""},
		{"wildcard host", rtuProxy, func(r *Route) { r.Hosts = []string{"*.example.com"} }, ""},
		{"wildcard under an unlisted tld", rtuProxy, func(r *Route) { r.Hosts = []string{"*.proxyos.test"} }, ""},
		{"wildcard under a domain under a two-label suffix", rtuProxy, func(r *Route) { r.Hosts = []string{"*.apps.example.co.uk"} }, ""},
		{"wildcard under a private suffix's customer", rtuProxy, func(r *Route) { r.Hosts = []string{"*.me.github.io"} }, ""},
		{"exact public suffix host", rtuProxy, func(r *Route) { r.Hosts = []string{"co.uk"} }, ""},
		{"ipv4 host", rtuProxy, func(r *Route) { r.Hosts = []string{"192.0.2.10"} }, ""},
		{"ipv6 host", rtuProxy, func(r *Route) { r.Hosts = []string{"2001:db8::1"} }, ""},
		{"single-label host", rtuProxy, func(r *Route) { r.Hosts = []string{"localhost"} }, ""},
		{"underscore and digits", rtuProxy, func(r *Route) { r.Hosts = []string{"_acme.x1-y2.example"} }, ""},
		{"63-char label", rtuProxy, func(r *Route) { r.Hosts = []string{long(63) + ".example.com"} }, ""},
		{"tls internal", rtuProxy, func(r *Route) { r.TLS = TLSInternal }, ""},
		{"tls off", rtuProxy, func(r *Route) { r.TLS = TLSOff }, ""},
		{"tls custom", rtuProxy, func(r *Route) { r.TLS, r.Certificate = TLSCustom, "c1" }, ""},
		{"https upstreams", rtuProxy, func(r *Route) { r.Upstreams = []string{"https://nas.lan:8443", "https://10.0.0.6"} }, ""},
		{"ipv6 upstream", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://[2001:db8::5]:8080"} }, ""},
		{"upstream with trailing slash", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://app:80/"} }, ""},
		{"upstream_host", rtuProxy, func(r *Route) { r.UpstreamHost = "grafana.lan" }, ""},
		{"upstream_host with port", rtuProxy, func(r *Route) { r.UpstreamHost = "grafana.lan:8443" }, ""},
		{"ordinary request and response headers", rtuProxy, func(r *Route) {
			r.Headers = &Headers{
				Request:  &HeaderOps{Set: map[string]string{"Authorization": "Bearer x", "X-Forwarded-Prefix": "/a"}, Delete: []string{"Cookie"}},
				Response: &HeaderOps{Set: map[string]string{"X-Frame-Options": "DENY"}, Delete: []string{"Server"}},
			}
		}, ""},
		{"upstream tls skip verify and sni", rtuProxy, func(r *Route) {
			r.Upstreams = []string{"https://nas.lan:8443"}
			r.UpstreamTLS = &UpstreamTLS{SkipVerify: true, ServerName: "nas.example.com"}
		}, ""},
		{"load balancing with health check", rtuProxy, func(r *Route) {
			r.Upstreams = []string{"http://a:1", "http://b:2"}
			r.LoadBalancing = &LoadBalancing{Policy: "least_conn", HealthCheck: &HealthCheck{Path: "/healthz", Interval: "1d", Timeout: "2s"}}
		}, ""},
		{"every policy: ip_hash", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "ip_hash"} }, ""},
		{"every policy: client_ip_hash", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "client_ip_hash"} }, ""},
		{"every policy: uri_hash", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "uri_hash"} }, ""},
		{"every policy: round_robin", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "round_robin"} }, ""},
		{"redirect 302", rtuRedirect, func(r *Route) { r.Redirect.Status = 302 }, ""},
		{"redirect 307", rtuRedirect, func(r *Route) { r.Redirect.Status = 307 }, ""},
		{"redirect 308 preserve path", rtuRedirect, func(r *Route) { r.Redirect.Status, r.Redirect.PreservePath = 308, true }, ""},
		{"redirect http target with path", rtuRedirect, func(r *Route) { r.Redirect.To = "http://new.example.com:8080/x?y=1" }, ""},
		{"static 200 empty body", rtuStatic, func(r *Route) { r.Static.Status, r.Static.Body = 200, "" }, ""},
		{"static 599", rtuStatic, func(r *Route) { r.Static.Status = 599 }, ""},
		{"static body of exactly 1 MiB", rtuStatic, func(r *Route) { r.Static.Body = long(1 << 20) }, ""},
		{"static body with braces", rtuStatic, func(r *Route) { r.Static.Body = "{env.SECRET}" }, ""},
		{"headers on proxy", rtuProxy, func(r *Route) {
			r.Headers = &Headers{
				Request:  &HeaderOps{Set: map[string]string{"X-Forwarded-Prefix": "/app"}, Delete: []string{"Cookie"}},
				Response: &HeaderOps{Set: map[string]string{"X-Frame-Options": "DENY"}, Delete: []string{"Server"}},
			}
		}, ""},
		{"response headers on static", rtuStatic, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"Retry-After": "120"}}}
		}, ""},
		{"hsts and force_https with tls", rtuRedirect, func(r *Route) { r.HSTS, r.ForceHTTPS = true, true }, ""},
		{"compress", rtuProxy, func(r *Route) { r.Compress = true }, ""},
		{"strip prefix", rtuProxy, func(r *Route) { r.StripPrefix = "/grafana" }, ""},
		{"access lists", rtuProxy, func(r *Route) {
			r.Access = &Access{Allow: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}, Deny: []string{"10.0.0.13"}}
		}, ""},
		{"auth any user", rtuStatic, func(r *Route) { r.Auth = &Auth{RequireLogin: true} }, ""},
		{"auth roles", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Roles: []string{"admin", "operator", "viewer"}} }, ""},
		{"auth off", rtuProxy, func(r *Route) { r.Auth = &Auth{} }, ""},
		{"auth rules, emails and roles with a login rule", rtuProxy, func(r *Route) {
			r.Auth = &Auth{Roles: []string{"admin"}, Emails: []string{"A@Example.com"}, Rules: []access.Rule{{Action: "login", Path: "/admin/*"}}}
		}, ""},
		{"auth groups with require_login", rtuProxy, func(r *Route) {
			r.Auth = &Auth{RequireLogin: true, Groups: []string{"ops", "Site Admins", "cn=ops,ou=groups"}}
		}, ""},
		{"name of 200 characters", rtuProxy, func(r *Route) { r.Name = long(200) }, ""},

		// Name and hosts.
		{"name too long", rtuProxy, func(r *Route) { r.Name = long(201) }, "name"},
		{"no hosts", rtuProxy, func(r *Route) { r.Hosts = nil }, "hosts"},
		{"empty host", rtuProxy, func(r *Route) { r.Hosts = []string{""} }, "hosts[0]"},
		{"duplicate host", rtuProxy, func(r *Route) { r.Hosts = []string{"a.example.com", "b.example.com", "a.example.com"} }, "hosts[2]"},
		{"space in host", rtuProxy, func(r *Route) { r.Hosts = []string{"a b.example.com"} }, "hosts[0]"},
		{"slash in host", rtuProxy, func(r *Route) { r.Hosts = []string{"a.example.com/x"} }, "hosts[0]"},
		{"port in host", rtuProxy, func(r *Route) { r.Hosts = []string{"a.example.com:8080"} }, "hosts[0]"},
		{"brace in host", rtuProxy, func(r *Route) { r.Hosts = []string{"{env.HOST}"} }, "hosts[0]"},
		{"upper case host (not normalized)", rtuProxy, func(r *Route) { r.Hosts = []string{"A.example.com"} }, "hosts[0]"},
		{"wildcard in the middle", rtuProxy, func(r *Route) { r.Hosts = []string{"a.*.example.com"} }, "hosts[0]"},
		{"two wildcard labels", rtuProxy, func(r *Route) { r.Hosts = []string{"*.*.x"} }, "hosts[0]"},
		{"partial wildcard label", rtuProxy, func(r *Route) { r.Hosts = []string{"a*.example.com"} }, "hosts[0]"},
		{"bare wildcard", rtuProxy, func(r *Route) { r.Hosts = []string{"*"} }, "hosts[0]"},
		{"empty label", rtuProxy, func(r *Route) { r.Hosts = []string{"a..example.com"} }, "hosts[0]"},
		{"leading dot", rtuProxy, func(r *Route) { r.Hosts = []string{".example.com"} }, "hosts[0]"},
		{"label starting with dash", rtuProxy, func(r *Route) { r.Hosts = []string{"-a.example.com"} }, "hosts[0]"},
		{"label ending with dash", rtuProxy, func(r *Route) { r.Hosts = []string{"a-.example.com"} }, "hosts[0]"},
		{"64-char label", rtuProxy, func(r *Route) { r.Hosts = []string{long(64) + ".example.com"} }, "hosts[0]"},
		{"host longer than 253", rtuProxy, func(r *Route) {
			r.Hosts = []string{strings.Repeat(long(60)+".", 4) + "example.com"}
		}, "hosts[0]"},
		{"second host invalid", rtuProxy, func(r *Route) { r.Hosts = []string{"ok.example.com", "bad!.example.com"} }, "hosts[1]"},
		// Unbounded certificates: a wildcard directly under a public
		// suffix would let anyone make the server obtain certificates for
		// names of their choosing (and claim other people's sites).
		{"wildcard under a tld", rtuProxy, func(r *Route) { r.Hosts = []string{"*.com"} }, "hosts[0]"},
		{"wildcard under a two-label suffix", rtuProxy, func(r *Route) { r.Hosts = []string{"*.co.uk"} }, "hosts[0]"},
		{"wildcard under a private suffix", rtuProxy, func(r *Route) { r.Hosts = []string{"*.github.io"} }, "hosts[0]"},
		{"wildcard under a single unlisted label", rtuProxy, func(r *Route) { r.Hosts = []string{"*.lan"} }, "hosts[0]"},
		{"wildcard under localhost", rtuProxy, func(r *Route) { r.Hosts = []string{"*.localhost"} }, "hosts[0]"},
		{"second host a wildcard under a suffix", rtuProxy, func(r *Route) { r.Hosts = []string{"*.example.com", "*.test"} }, "hosts[1]"},

		// Kind and TLS.
		{"empty kind", rtuProxy, func(r *Route) { r.Kind = "" }, "kind"},
		{"unknown kind", rtuProxy, func(r *Route) { r.Kind = "file_server" }, "kind"},
		{"unknown tls", rtuProxy, func(r *Route) { r.TLS = "letsencrypt" }, "tls"},
		{"tls custom without certificate", rtuProxy, func(r *Route) { r.TLS = TLSCustom }, "certificate"},
		{"certificate without tls custom", rtuProxy, func(r *Route) { r.Certificate = "c1" }, "certificate"},
		{"empty tls (not normalized)", rtuProxy, func(r *Route) { r.TLS = "" }, "tls"},
		{"hsts with tls off", rtuProxy, func(r *Route) { r.TLS, r.HSTS = TLSOff, true }, "tls"},
		{"force_https with tls off", rtuProxy, func(r *Route) { r.TLS, r.ForceHTTPS = TLSOff, true }, "tls"},

		// Upstreams.
		{"no upstreams", rtuProxy, func(r *Route) { r.Upstreams = nil }, "upstreams"},
		{"ftp upstream", rtuProxy, func(r *Route) { r.Upstreams = []string{"ftp://10.0.0.5:21"} }, "upstreams[0]"},
		{"upstream without scheme", rtuProxy, func(r *Route) { r.Upstreams = []string{"10.0.0.5:3000"} }, "upstreams[0]"},
		{"upstream with path", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://10.0.0.5:3000/app"} }, "upstreams[0]"},
		{"upstream with query", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://10.0.0.5:3000?x=1"} }, "upstreams[0]"},
		{"upstream with fragment", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://10.0.0.5:3000#x"} }, "upstreams[0]"},
		{"upstream with credentials", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://user:pw@10.0.0.5:3000"} }, "upstreams[0]"},
		{"upstream port 0", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://10.0.0.5:0"} }, "upstreams[0]"},
		{"upstream port 70000", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://10.0.0.5:70000"} }, "upstreams[0]"},
		{"upstream placeholder host", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://{env.UPSTREAM}:80"} }, "upstreams[0]"},
		{"second upstream invalid", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://a:1", "nope"} }, "upstreams[1]"},
		{"mixed schemes", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://a:1", "https://b:2"} }, "upstreams[1]"},
		{"upstream_tls without https", rtuProxy, func(r *Route) { r.UpstreamTLS = &UpstreamTLS{SkipVerify: true} }, "upstream_tls"},
		{"upstream_tls wildcard server name", rtuProxy, func(r *Route) {
			r.Upstreams = []string{"https://nas.lan"}
			r.UpstreamTLS = &UpstreamTLS{ServerName: "*.example.com"}
		}, "upstream_tls.server_name"},
		{"upstream_tls bad server name", rtuProxy, func(r *Route) {
			r.Upstreams = []string{"https://nas.lan"}
			r.UpstreamTLS = &UpstreamTLS{ServerName: "{env.SNI}"}
		}, "upstream_tls.server_name"},

		// Load balancing.
		{"unknown policy", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "weighted_round_robin"} }, "load_balancing.policy"},
		{"empty policy (not normalized)", rtuProxy, func(r *Route) { r.LoadBalancing = &LoadBalancing{} }, "load_balancing.policy"},
		{"health path without slash", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "healthz"}}
		}, "load_balancing.health_check.path"},
		{"health path empty", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{}}
		}, "load_balancing.health_check.path"},
		{"health interval not a duration", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/", Interval: "soon"}}
		}, "load_balancing.health_check.interval"},
		{"health interval negative", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/", Interval: "-5s"}}
		}, "load_balancing.health_check.interval"},
		{"health interval of a nanosecond (would hammer upstreams)", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/", Interval: "1ns"}}
		}, "load_balancing.health_check.interval"},
		{"health path with a bad escape", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/%zz"}}
		}, "load_balancing.health_check.path"},
		{"health path naming another host", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "//evil.test/x"}}
		}, "load_balancing.health_check.path"},
		{"health path with braces", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/h{x}"}}
		}, "load_balancing.health_check.path"},
		{"health timeout zero", rtuProxy, func(r *Route) {
			r.LoadBalancing = &LoadBalancing{Policy: "random", HealthCheck: &HealthCheck{Path: "/", Timeout: "0s"}}
		}, "load_balancing.health_check.timeout"},

		// Redirect.
		{"redirect missing", rtuRedirect, func(r *Route) { r.Redirect = nil }, "redirect"},
		{"redirect empty target", rtuRedirect, func(r *Route) { r.Redirect.To = "" }, "redirect.to"},
		{"redirect relative target", rtuRedirect, func(r *Route) { r.Redirect.To = "/elsewhere" }, "redirect.to"},
		{"redirect scheme-relative target", rtuRedirect, func(r *Route) { r.Redirect.To = "//evil.example" }, "redirect.to"},
		{"redirect javascript target", rtuRedirect, func(r *Route) { r.Redirect.To = "javascript:alert(1)" }, "redirect.to"},
		{"redirect ftp target", rtuRedirect, func(r *Route) { r.Redirect.To = "ftp://files.example.com" }, "redirect.to"},
		{"redirect target with CRLF", rtuRedirect, func(r *Route) { r.Redirect.To = "https://new.example.com/\r\nSet-Cookie: x=1" }, "redirect.to"},
		{"redirect target with LF", rtuRedirect, func(r *Route) { r.Redirect.To = "https://new.example.com/\nx" }, "redirect.to"},
		{"redirect target with braces", rtuRedirect, func(r *Route) { r.Redirect.To = "https://new.example.com/{env.SECRET}" }, "redirect.to"},
		{"redirect status 200", rtuRedirect, func(r *Route) { r.Redirect.Status = 200 }, "redirect.status"},
		{"redirect status 303", rtuRedirect, func(r *Route) { r.Redirect.Status = 303 }, "redirect.status"},
		{"redirect status 0 (not normalized)", rtuRedirect, func(r *Route) { r.Redirect.Status = 0 }, "redirect.status"},

		// Static.
		{"static missing", rtuStatic, func(r *Route) { r.Static = nil }, "static"},
		{"static status 99", rtuStatic, func(r *Route) { r.Static.Status = 99 }, "static.status"},
		{"static status 199", rtuStatic, func(r *Route) { r.Static.Status = 199 }, "static.status"},
		{"static status 600", rtuStatic, func(r *Route) { r.Static.Status = 600 }, "static.status"},
		{"static body over 1 MiB", rtuStatic, func(r *Route) { r.Static.Body = long(1<<20 + 1) }, "static.body"},
		{"static content type with CRLF", rtuStatic, func(r *Route) { r.Static.ContentType = "text/plain\r\nSet-Cookie: x=1" }, "static.content_type"},

		// Options on the wrong kind.
		{"upstreams on redirect", rtuRedirect, func(r *Route) { r.Upstreams = []string{"http://a:1"} }, "upstreams"},
		{"upstreams on static", rtuStatic, func(r *Route) { r.Upstreams = []string{"http://a:1"} }, "upstreams"},
		{"load balancing on static", rtuStatic, func(r *Route) { r.LoadBalancing = &LoadBalancing{Policy: "random"} }, "upstreams"},
		{"upstream_tls on redirect", rtuRedirect, func(r *Route) { r.UpstreamTLS = &UpstreamTLS{} }, "upstreams"},
		{"redirect on proxy", rtuProxy, func(r *Route) { r.Redirect = &Redirect{To: "https://x.example", Status: 308} }, "redirect"},
		{"redirect on static", rtuStatic, func(r *Route) { r.Redirect = &Redirect{To: "https://x.example", Status: 308} }, "redirect"},
		{"static on proxy", rtuProxy, func(r *Route) { r.Static = &Static{Status: 200} }, "static"},
		{"static on redirect", rtuRedirect, func(r *Route) { r.Static = &Static{Status: 200} }, "static"},
		{"strip prefix on static", rtuStatic, func(r *Route) { r.StripPrefix = "/x" }, "strip_prefix"},
		{"strip prefix on redirect", rtuRedirect, func(r *Route) { r.StripPrefix = "/x" }, "strip_prefix"},
		{"request headers on redirect", rtuRedirect, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"X-A": "b"}}}
		}, "headers.request"},
		{"request headers on static", rtuStatic, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Delete: []string{"Cookie"}}}
		}, "headers.request"},

		// Headers.
		{"response header name with space", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"X Bad": "v"}}}
		}, "headers.response.set"},
		{"response header name with colon", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"X-A:": "v"}}}
		}, "headers.response.set"},
		{"response header name with brace", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"{env.X}": "v"}}}
		}, "headers.response.set"},
		{"response header empty name", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"": "v"}}}
		}, "headers.response.set"},
		{"response header name too long", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{long(257): "v"}}}
		}, "headers.response.set"},
		{"response header value with CRLF", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"X-A": "v\r\nSet-Cookie: x=1"}}}
		}, "headers.response.set"},
		{"response header delete bad name", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Delete: []string{"Bad Name"}}}
		}, "headers.response.delete"},
		{"request header bad name", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Bad\tName": "v"}}}
		}, "headers.request.set"},
		{"request header value with LF", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"X-A": "v\nX-B: w"}}}
		}, "headers.request.set"},
		{"request header delete bad name", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Delete: []string{"é"}}}
		}, "headers.request.delete"},
		// Identity spoofing: a route's header edits may not forge or drop
		// the headers by which the login gate names the user.
		{"request header forging the gate's identity", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"x-proxyos-role": "admin"}}}
		}, "headers.request.set"},
		{"request header deleting the gate's identity", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Delete: []string{"X-Proxyos-User"}}}
		}, "headers.request.delete"},
		// Reaching Caddy's admin API through a route: a Host header set by
		// the route would pass the admin endpoint's host check, and
		// hop-by-hop or framing headers could split or smuggle requests.
		// Neither side of a route may set or remove any of them.
		{"request header Host (admin API attack)", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Host": "127.0.0.1:2019"}}}
		}, "headers.request.set"},
		{"request header host in lower case", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"host": "localhost:2019"}}}
		}, "headers.request.set"},
		{"request header Host deleted", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Delete: []string{"HOST"}}}
		}, "headers.request.delete"},
		{"request header Connection", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Connection": "close"}}}
		}, "headers.request.set"},
		{"request header Content-Length", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Content-Length": "0"}}}
		}, "headers.request.set"},
		{"request header Transfer-Encoding", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Transfer-Encoding": "chunked"}}}
		}, "headers.request.set"},
		{"request header Upgrade", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Upgrade": "websocket"}}}
		}, "headers.request.set"},
		{"request header TE", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"TE": "trailers"}}}
		}, "headers.request.set"},
		{"request header Trailer", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Trailer": "X"}}}
		}, "headers.request.set"},
		{"request header Keep-Alive", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Keep-Alive": "timeout=5"}}}
		}, "headers.request.set"},
		{"request header Proxy-Authorization", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Proxy-Authorization": "Basic eA=="}}}
		}, "headers.request.set"},
		{"request header Proxy-Connection deleted", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Request: &HeaderOps{Delete: []string{"proxy-connection"}}}
		}, "headers.request.delete"},
		{"response header Transfer-Encoding", rtuProxy, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"Transfer-Encoding": "identity"}}}
		}, "headers.response.set"},
		{"response header Connection deleted", rtuStatic, func(r *Route) {
			r.Headers = &Headers{Response: &HeaderOps{Delete: []string{"Connection"}}}
		}, "headers.response.delete"},
		{"upstream_host with a wildcard", rtuProxy, func(r *Route) { r.UpstreamHost = "*.example.com" }, "upstream_host"},
		{"upstream_host with a path", rtuProxy, func(r *Route) { r.UpstreamHost = "example.com/x" }, "upstream_host"},
		{"upstream_host with a bad port", rtuProxy, func(r *Route) { r.UpstreamHost = "example.com:99999" }, "upstream_host"},
		{"upstream_host with a placeholder", rtuProxy, func(r *Route) { r.UpstreamHost = "{http.request.host}" }, "upstream_host"},
		{"upstream_host on a redirect", rtuRedirect, func(r *Route) { r.UpstreamHost = "example.com" }, "upstreams"},
		{"upstream in decimal (admin API attack)", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://2130706433:2019"} }, "upstreams[0]"},
		{"upstream in hex", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://0x7f000001:2019"} }, "upstreams[0]"},
		{"upstream in octal parts", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://0177.0.0.1:2019"} }, "upstreams[0]"},
		{"upstream with hex parts", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://0x7f.0.0.0x1:2019"} }, "upstreams[0]"},
		{"upstream with two parts", rtuProxy, func(r *Route) { r.Upstreams = []string{"http://127.1:2019"} }, "upstreams[0]"},
		{"redirect preserve_path with a query", rtuRedirect, func(r *Route) {
			r.Redirect.To, r.Redirect.PreservePath = "https://new.example.com/?a=1", true
		}, "redirect.to"},

		// Strip prefix.
		{"strip prefix without slash", rtuProxy, func(r *Route) { r.StripPrefix = "api" }, "strip_prefix"},
		{"strip prefix with placeholder", rtuProxy, func(r *Route) { r.StripPrefix = "/{env.X}" }, "strip_prefix"},
		{"strip prefix with query", rtuProxy, func(r *Route) { r.StripPrefix = "/api?x" }, "strip_prefix"},
		{"request log too large", rtuProxy, func(r *Route) { r.RequestLog, r.RequestLogSize = true, 1001 }, "request_log_size"},
		{"request log size without the log", rtuProxy, func(r *Route) { r.RequestLogSize = 10 }, "request_log_size"},
		{"request log negative size", rtuProxy, func(r *Route) { r.RequestLog, r.RequestLogSize = true, -1 }, "request_log_size"},
		{"strip prefix with space", rtuProxy, func(r *Route) { r.StripPrefix = "/a b" }, "strip_prefix"},
		{"strip prefix with wildcard", rtuProxy, func(r *Route) { r.StripPrefix = "/api/*" }, "strip_prefix"},

		// Access.
		{"allow not an address", rtuProxy, func(r *Route) { r.Access = &Access{Allow: []string{"office"}} }, "access.allow[0]"},
		{"allow prefix too long", rtuProxy, func(r *Route) { r.Access = &Access{Allow: []string{"10.0.0.0/33"}} }, "access.allow[0]"},
		{"deny second entry bad", rtuProxy, func(r *Route) { r.Access = &Access{Deny: []string{"10.0.0.1", "10.0.0.300"}} }, "access.deny[1]"},
		{"deny placeholder", rtuProxy, func(r *Route) { r.Access = &Access{Deny: []string{"{env.IP}"}} }, "access.deny[0]"},

		// Auth.
		{"roles without login", rtuProxy, func(r *Route) { r.Auth = &Auth{Roles: []string{"admin"}} }, "auth.roles"},
		{"roles with only allow rules", rtuProxy, func(r *Route) {
			r.Auth = &Auth{Roles: []string{"admin"}, Rules: []access.Rule{{Action: "allow"}}}
		}, "auth.roles"},
		{"emails without login", rtuProxy, func(r *Route) { r.Auth = &Auth{Emails: []string{"a@example.com"}} }, "auth.emails"},
		{"groups without login", rtuProxy, func(r *Route) { r.Auth = &Auth{Groups: []string{"ops"}} }, "auth.groups"},
		{"groups with only allow rules", rtuProxy, func(r *Route) {
			r.Auth = &Auth{Groups: []string{"ops"}, Rules: []access.Rule{{Action: "allow"}}}
		}, "auth.groups"},
		{"empty group", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Groups: []string{"ops", ""}} }, "auth.groups[1]"},
		{"group with a line break", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Groups: []string{"ops\nadmins"}} }, "auth.groups[0]"},
		{"group too long", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Groups: []string{long(257)}} }, "auth.groups[0]"},
		{"bad email", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Emails: []string{"a@example.com", "bob"}} }, "auth.emails[1]"},
		{"rule CIDR", rtuProxy, func(r *Route) {
			r.Auth = &Auth{RequireLogin: true, Rules: []access.Rule{{Action: "allow"}, {Action: "deny"}, {Action: "allow", CIDRs: []string{"lan"}}}}
		}, "auth.rules[2].cidrs[0]"},
		{"rule action", rtuProxy, func(r *Route) { r.Auth = &Auth{Rules: []access.Rule{{Action: "open"}}} }, "auth.rules[0].action"},
		{"rule path escaping its prefix", rtuProxy, func(r *Route) {
			r.Auth = &Auth{Rules: []access.Rule{{Action: "allow", Path: "/health/../admin"}}}
		}, "auth.rules[0].path"},
		{"unknown role", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Roles: []string{"viewer", "root"}} }, "auth.roles[1]"},
		{"role in wrong case", rtuProxy, func(r *Route) { r.Auth = &Auth{RequireLogin: true, Roles: []string{"Admin"}} }, "auth.roles[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.base()
			tt.edit(r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error on %q", tt.field)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Validate() = %T %v, want *route.Error", err, err)
			}
			if re.Field != tt.field {
				t.Errorf("Validate() error field = %q (%v), want %q", re.Field, err, tt.field)
			}
			if re.Message == "" || !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("Error() = %q, want %q followed by a message", err.Error(), tt.field+": ")
			}
		})
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in           string
		scheme, dial string // dial "" means an error is expected
	}{
		{"http://10.0.0.5:3000", "http", "10.0.0.5:3000"},
		{"https://nas.lan:8443", "https", "nas.lan:8443"},
		{"http://app", "http", "app:80"},
		{"https://app", "https", "app:443"},
		{"http://app/", "http", "app:80"},
		{"http://[2001:db8::1]:8080", "http", "[2001:db8::1]:8080"},
		{"http://[::1]", "http", "[::1]:80"},
		{"http://app:1", "http", "app:1"},
		{"http://app:65535", "http", "app:65535"},

		{"", "", ""},
		{"app:80", "", ""},
		{"10.0.0.5:3000", "", ""},
		{"ftp://app:21", "", ""},
		{"unix:///run/app.sock", "", ""},
		{"ws://app:80", "", ""},
		{"http://", "", ""},
		{"http://:80", "", ""},
		{"http://app:0", "", ""},
		{"http://app:65536", "", ""},
		{"http://app:70000", "", ""},
		{"http://app:-1", "", ""},
		{"http://app:http", "", ""},
		{"http://app/path", "", ""},
		{"http://app?q=1", "", ""},
		{"http://app#frag", "", ""},
		{"http://user@app", "", ""},
		{"http://user:pw@app:80", "", ""},
		{"http://{env.HOST}:80", "", ""},
		{"http://app\n:80", "", ""},
		{"%zz", "", ""},
		{"http://2130706433", "", ""},
		{"http://0x7F000001:80", "", ""},
		{"http://127.1", "", ""},
		{"http://10.0.0.5.:80", "", ""},
		{"http://app1.lan", "http", "app1.lan:80"},
		{"http://0x.lan", "http", "0x.lan:80"},
		{"http://[::ffff:127.0.0.1]:2019", "http", "[::ffff:127.0.0.1]:2019"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			scheme, dial, err := ParseUpstream(tt.in)
			if tt.dial == "" {
				if err == nil {
					t.Fatalf("ParseUpstream(%q) = %q, %q, want an error", tt.in, scheme, dial)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUpstream(%q): %v", tt.in, err)
			}
			if scheme != tt.scheme || dial != tt.dial {
				t.Errorf("ParseUpstream(%q) = %q, %q, want %q, %q", tt.in, scheme, dial, tt.scheme, tt.dial)
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"example.com", true},
		{"a.b.c.example.com", true},
		{"*.example.com", true},
		{"localhost", true},
		{"xn--bcher-kva.example", true},
		{"_dmarc.example.com", true},
		{"a-b.example.com", true},
		{"192.0.2.1", true},
		{"::1", true},
		{"2001:db8::1", true},
		{strings.Repeat("a", 63) + ".com", true},
		{strings.Repeat("a.", 126) + "a", true}, // 253 characters

		{"", false},
		{strings.Repeat("a.", 126) + "ab", false}, // 254 characters
		{strings.Repeat("a", 64) + ".com", false},
		{"Example.com", false},
		{"exa mple.com", false},
		{"example.com.", false},
		{".example.com", false},
		{"a..b", false},
		{"-a.com", false},
		{"a-.com", false},
		{"a.-b.com", false},
		{"*", false},
		{"*.", false},
		{"*.*.x", false},
		{"a.*.example.com", false},
		{"*a.example.com", false},
		{"example.*", false},
		{"**.example.com", false},
		{"bücher.example", false},
		{"a/b", false},
		{"a:80", false},
		{"[::1]", false},
		{"{env.HOST}", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		name := tt.host
		if name == "" {
			name = "empty"
		}
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			err := ValidHost(tt.host)
			if tt.ok && err != nil {
				t.Errorf("ValidHost(%q) = %v, want nil", tt.host, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("ValidHost(%q) = nil, want an error", tt.host)
			}
		})
	}
}
