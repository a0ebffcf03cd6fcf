package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestListModules checks that the built binary carries every proxyos
// module, as `xcaddy build --with github.com/proxyos/caddy-proxyos` would.
func TestListModules(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(caddyBin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	listed := make(map[string]bool)
	for _, line := range strings.Split(string(out), "\n") {
		listed[strings.TrimSpace(line)] = true
	}
	for _, id := range []string{"proxyos", "http.handlers.proxyos_dashboard", "http.handlers.proxyos_auth", "admin.api.proxyos"} {
		if !listed[id] {
			t.Errorf("caddy list-modules does not list %s", id)
		}
	}
}

// TestConfigErrors checks that a wrong configuration stops Caddy at
// start-up with an error naming the field, never with a half-working
// dashboard, and that the error does not echo a secret.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	const shortSecret = "tooShort-s3cr3t" // 15 characters
	tests := []struct {
		name    string
		proxyos string
		auth    string   // lines inside proxyos_auth
		env     []string // extra environment
		want    string   // in the log
	}{
		{name: "postgres without secret", proxyos: "database postgres postgres://proxyos@127.0.0.1:1/proxyos", want: "secret: required with database postgres"},
		{name: "unknown database driver", proxyos: "database mysql proxyos@tcp(127.0.0.1)/proxyos", want: "database: unknown driver 'mysql'"},
		{name: "url not absolute", proxyos: "url localhost:8080", want: `url: "localhost:8080" must be an absolute`},
		{name: "url relative path", proxyos: "url /dashboard", want: `url: "/dashboard" must be an absolute`},
		{name: "url with path", proxyos: "url http://localhost:8080/proxyos", want: "url: \"http://localhost:8080/proxyos\" must not have a path"},
		{name: "short secret", proxyos: "secret " + shortSecret, want: "secret: must be at least 16 characters"},
		{name: "short previous secret", proxyos: "secret a-long-enough-secret-value\n\t\tprevious_secrets " + shortSecret, want: "previous_secrets[0]: must be at least 16 characters"},
		{name: "secret from unset variable", proxyos: "secret {env.PROXYOS_IT_UNSET_SECRET}", want: "secret: resolves to an empty value"},
		{name: "zero session_idle", proxyos: "session_idle 0s", want: "session_idle: must be positive"},
		{name: "cookie_domain outside url", proxyos: "url http://localhost:8080\n\t\tcookie_domain example.com", want: `cookie_domain: "example.com" does not contain the dashboard host "localhost"`},
		{name: "unknown option", proxyos: "secrets x", want: "unrecognized subdirective 'secrets'"},
		{name: "unknown role", auth: "roles superuser", want: "roles: 'superuser' is not a role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst := newInstance(t)
			inst.Env = tt.env
			inst.Configure(func() string {
				return testCaddyfile(inst.Admin, "", tt.proxyos,
					fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", inst.Port("dash")),
					fmt.Sprintf("http://localhost:%d {\n\tproxyos_auth {\n\t\t%s\n\t}\n\trespond ok\n}", inst.Port("app"), tt.auth))
			})
			if err := inst.TryStart(); err == nil {
				t.Fatalf("caddy started; want an error containing %q", tt.want)
			}
			log := strings.ReplaceAll(inst.Log(), `\"`, `"`) // JSON log lines escape quotes
			if !strings.Contains(log, tt.want) {
				t.Errorf("log does not contain %q:\n%s", tt.want, log)
			}
			if strings.Contains(log, shortSecret) {
				t.Errorf("log contains the secret %q:\n%s", shortSecret, log)
			}
		})
	}
}
