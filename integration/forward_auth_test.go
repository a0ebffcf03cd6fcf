package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// forwardAuthConfig returns a Caddyfile with the dashboard on
// dash.proxyos.test, two sites that ask it through Caddy's forward_auth
// (app: anyone logged in; admins: ?roles=admin), and one on a domain the
// session cookie does not reach. Caddy trusts its own loopback address
// as a proxy, so the forward_auth calls may describe the original
// request; clients in these tests come from 127.0.0.3.
func forwardAuthConfig(inst *instance, upstreamAddr string) string {
	dash, app := inst.Port("dash"), inst.Port("app")
	forward := func(uri string) string {
		return fmt.Sprintf(`forward_auth localhost:%d {
		uri %s
		header_up Host {upstream_hostport}
		copy_headers Remote-User Remote-Email Remote-Groups X-Proxyos-Role
	}`, dash, uri)
	}
	return testCaddyfile(inst.Admin,
		"servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}",
		fmt.Sprintf("url http://dash.proxyos.test:%d\n\t\tcookie_domain proxyos.test", dash),
		fmt.Sprintf("http://dash.proxyos.test:%[1]d, http://localhost:%[1]d {\n\tproxyos_dashboard\n}", dash),
		fmt.Sprintf("http://app.proxyos.test:%d {\n\t%s\n\treverse_proxy %s\n}", app, forward("/api/auth/verify"), upstreamAddr),
		fmt.Sprintf("http://admins.proxyos.test:%d {\n\t%s\n\treverse_proxy %s\n}", app, forward("/api/auth/verify?roles=admin"), upstreamAddr),
		fmt.Sprintf("http://app.elsewhere.test:%d {\n\t%s\n\treverse_proxy %s\n}", app, forward("/api/auth/verify"), upstreamAddr),
	)
}

// hostGet sends a GET for url with Host host from hc, with the headers h.
func hostGet(t testing.TB, hc *http.Client, rawURL, host string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", rawURL, host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(raw)
}

// TestForwardAuthCaddy puts the login in front of sites through Caddy's
// forward_auth and GET /api/auth/verify, as a site on another proxy
// would: browsers are sent to the login page and back, API clients get
// 401, a session gets through with its identity, and a logout ends it.
func TestForwardAuthCaddy(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	inst := newInstance(t)
	inst.Configure(func() string { return forwardAuthConfig(inst, up.Listener.Addr().String()) })
	inst.Start()
	dash, app := inst.Port("dash"), inst.Port("app")
	base := fmt.Sprintf("http://localhost:%d", dash)
	newClient(t, base).Setup(inst, "admin@example.com", "admin password")
	inst.CreateUser("ops@example.com", "operator password", "operator")
	_, adminCookie := newClient(t, base).Login("admin@example.com", "admin password")
	_, opsCookie := newClient(t, base).Login("ops@example.com", "operator password")
	hc := hostClient(t, "127.0.0.3")
	appURL := fmt.Sprintf("http://127.0.0.1:%d/page?q=1", app)
	appHost := fmt.Sprintf("app.proxyos.test:%d", app)

	t.Run("a browser without a session goes to the login page and back", func(t *testing.T) {
		resp, body := hostGet(t, hc, appURL, appHost, http.Header{"Accept": {"text/html"}})
		want := fmt.Sprintf("http://dash.proxyos.test:%d/login?return=%s", dash, url.QueryEscape("http://"+appHost+"/page?q=1"))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("got %d Location %q %s, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), body, want)
		}
	})
	t.Run("an API client without a session gets 401 with the reason", func(t *testing.T) {
		resp, body := hostGet(t, hc, appURL, appHost, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"reason":"no_cookie"`) {
			t.Fatalf("got %d %s, want 401 reason no_cookie", resp.StatusCode, body)
		}
		if n := up.requests(); n != 0 {
			t.Fatalf("the upstream got %d requests without a session", n)
		}
	})
	t.Run("a session gets through with its identity, and spoofed identity headers are replaced", func(t *testing.T) {
		// identity-header spoofing: the client names itself admin
		h := withSession(opsCookie, "Remote-User", "admin@example.com", "Remote-Groups", "admin", "X-Proxyos-Role", "admin")
		resp, body := hostGet(t, hc, appURL, appHost, h)
		if resp.StatusCode != http.StatusOK || body != "upstream ok" {
			t.Fatalf("got %d %s, want the upstream", resp.StatusCode, body)
		}
		seen := up.last(t)
		for name, want := range map[string]string{"Remote-User": "ops@example.com", "Remote-Email": "ops@example.com",
			"Remote-Groups": "operator", "X-Proxyos-Role": "operator"} {
			if got := seen.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream got %s %q, want only %q", name, got, want)
			}
		}
	})
	t.Run("roles=admin lets admins through only", func(t *testing.T) {
		adminsURL, adminsHost := fmt.Sprintf("http://127.0.0.1:%d/", app), fmt.Sprintf("admins.proxyos.test:%d", app)
		if resp, body := hostGet(t, hc, adminsURL, adminsHost, withSession(opsCookie)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("operator: %d %s, want 403", resp.StatusCode, body)
		}
		if resp, body := hostGet(t, hc, adminsURL, adminsHost, withSession(adminCookie)); resp.StatusCode != http.StatusOK {
			t.Errorf("admin: %d %s, want 200", resp.StatusCode, body)
		}
	})
	t.Run("a host the session cookie cannot reach is explained, not looped to the login page", func(t *testing.T) {
		resp, body := hostGet(t, hc, appURL, fmt.Sprintf("app.elsewhere.test:%d", app), http.Header{"Accept": {"text/html"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "cookie_domain") || resp.Header.Get("Location") != "" {
			t.Fatalf("got %d Location %q %s, want 401 naming cookie_domain", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})
	t.Run("forged X-Forwarded headers from a client that is no trusted proxy are ignored", func(t *testing.T) {
		// open redirect and host confusion: a client calls the endpoint
		// itself and describes a request to a host of its choice
		h := http.Header{"Accept": {"text/html"}, "X-Forwarded-Host": {"evil.example"},
			"X-Forwarded-Uri": {"/steal"}, "X-Forwarded-Proto": {"https"}}
		resp, body := hostGet(t, hc, fmt.Sprintf("http://127.0.0.1:%d/api/auth/verify", dash), fmt.Sprintf("dash.proxyos.test:%d", dash), h)
		if want := fmt.Sprintf("http://dash.proxyos.test:%d/login", dash); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("got %d Location %q %s, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), body, want)
		}
	})
	t.Run("a bad roles parameter is refused naming it", func(t *testing.T) {
		resp, body := hostGet(t, hc, fmt.Sprintf("http://127.0.0.1:%d/api/auth/verify?roles=owner", dash), fmt.Sprintf("localhost:%d", dash), withSession(adminCookie))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"roles"`) {
			t.Fatalf("got %d %s, want 400 naming roles", resp.StatusCode, body)
		}
	})
	t.Run("a logout ends access at once", func(t *testing.T) {
		resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/auth/logout", strings.NewReader("{}"),
			withSession(opsCookie, "Origin", base, "Content-Type", "application/json"))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, raw)
		}
		resp, body := hostGet(t, hc, appURL, appHost, withSession(opsCookie, "Accept", "application/json"))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"reason":"revoked"`) {
			t.Fatalf("after logout: %d %s, want 401 reason revoked", resp.StatusCode, body)
		}
	})
}

// TestForwardAuthNginx puts the login in front of a site served by
// nginx with auth_request and GET /api/auth/verify?mode=auth_request:
// nginx cannot pass a redirect on, so browsers get 401 with the login
// page in Location, which the site's error page turns into the redirect.
func TestForwardAuthNginx(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Fatal("nginx is not installed (scripts/deps.sh installs it)")
		}
	}
	up := newUpstream(t)
	inst := newInstance(t)
	inst.Configure(func() string {
		dash := inst.Port("dash")
		return testCaddyfile(inst.Admin,
			"servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}",
			fmt.Sprintf("url http://dash.proxyos.test:%d\n\t\tcookie_domain proxyos.test", dash),
			fmt.Sprintf("http://dash.proxyos.test:%[1]d, http://localhost:%[1]d {\n\tproxyos_dashboard\n}", dash))
	})
	inst.Start()
	dash := inst.Port("dash")
	base := fmt.Sprintf("http://localhost:%d", dash)
	newClient(t, base).Setup(inst, "admin@example.com", "admin password")
	_, cookie := newClient(t, base).Login("admin@example.com", "admin password")

	port := freePort(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		location / {
			auth_request /_proxyos_verify;
			auth_request_set $proxyos_user $upstream_http_remote_user;
			auth_request_set $proxyos_login $upstream_http_location;
			proxy_set_header Remote-User $proxyos_user;
			error_page 401 = @proxyos_login;
			proxy_pass http://%[3]s;
		}
		location = /_proxyos_verify {
			internal;
			proxy_pass http://127.0.0.1:%[4]d/api/auth/verify?mode=auth_request;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header Host localhost:%[4]d;
			proxy_set_header X-Forwarded-Method $request_method;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_set_header X-Forwarded-Host $http_host;
			proxy_set_header X-Forwarded-Uri $request_uri;
		}
		location @proxyos_login {
			if ($proxyos_login) {
				return 302 $proxyos_login;
			}
			return 401;
		}
	}
}
`, dir, port, up.Listener.Addr().String(), dash)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // already gone
		cmd.Wait()                       //nolint:errcheck // stopped
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	hc := hostClient(t, "127.0.0.3")
	siteURL := fmt.Sprintf("http://127.0.0.1:%d/page?q=1", port)
	siteHost := fmt.Sprintf("site.proxyos.test:%d", port)
	eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		status, _, err := tryGet(plainHTTP, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
		if err != nil {
			return false, err.Error()
		}
		return status != 0, ""
	})

	resp, body := hostGet(t, hc, siteURL, siteHost, http.Header{"Accept": {"text/html"}})
	want := fmt.Sprintf("http://dash.proxyos.test:%d/login?return=%s", dash, url.QueryEscape("http://"+siteHost+"/page?q=1"))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("browser without a session: %d Location %q %s, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), body, want)
	}
	if resp, body := hostGet(t, hc, siteURL, siteHost, http.Header{"Accept": {"application/json"}}); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
		t.Fatalf("API client without a session: %d Location %q %s, want 401 without Location", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if n := up.requests(); n != 0 {
		t.Fatalf("the upstream got %d requests without a session", n)
	}
	// identity-header spoofing: the client's Remote-User is replaced
	resp, body = hostGet(t, hc, siteURL, siteHost, withSession(cookie, "Remote-User", "someone-else@example.com"))
	if resp.StatusCode != http.StatusOK || body != "upstream ok" {
		t.Fatalf("with a session: %d %s, want the upstream", resp.StatusCode, body)
	}
	if got := up.last(t).Values("Remote-User"); len(got) != 1 || got[0] != "admin@example.com" {
		t.Fatalf("upstream got Remote-User %q, want only admin@example.com", got)
	}
}
