package integration

import (
	"fmt"
	"strings"
	"testing"
)

// TestOIDCConfigRefusedAtStart: a real Caddy refuses bad oidc
// configuration when it loads it, naming the field, and never logs the
// client secret.
func TestOIDCConfigRefusedAtStart(t *testing.T) {
	const secret = "it-oidc-client-secret-4b1e"
	provider := func(lines ...string) string {
		return "url http://localhost:8080\n\t\toidc corp {\n\t\t\t" + strings.Join(lines, "\n\t\t\t") +
			"\n\t\t\tclient_secret {env.PROXYOS_IT_OIDC_SECRET}\n\t\t}"
	}
	tests := []struct {
		name, proxyos, want string
	}{
		{"missing client_id", provider("issuer https://id.example.com"), `oidc "corp": client_id: required`},
		{"bad issuer URL", provider("issuer id.example.com/realms/x", "client_id proxyos"), `oidc "corp": issuer: "id.example.com/realms/x" must be an absolute`},
		{"unknown role in roles", provider("issuer https://id.example.com", "client_id proxyos", "roles {\n\t\t\t\towner corp-owners\n\t\t\t}"),
			"roles: unknown role 'owner'"},
		{"no url", strings.Replace(provider("issuer https://id.example.com", "client_id proxyos"), "url http://localhost:8080\n\t\t", "", 1),
			"url: required with oidc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst := newInstance(t)
			inst.Env = []string{"PROXYOS_IT_OIDC_SECRET=" + secret}
			inst.Configure(func() string {
				return testCaddyfile(inst.Admin, "", tt.proxyos, fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", inst.Port("dash")))
			})
			if err := inst.TryStart(); err == nil {
				t.Fatalf("caddy started; want an error containing %q", tt.want)
			}
			log := strings.ReplaceAll(inst.Log(), `\"`, `"`)
			if !strings.Contains(log, tt.want) {
				t.Errorf("log does not contain %q:\n%s", tt.want, log)
			}
			if strings.Contains(log, secret) {
				t.Errorf("log contains the client secret:\n%s", log)
			}
		})
	}
}
