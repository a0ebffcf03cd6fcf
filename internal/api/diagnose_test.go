package api

import (
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/session"
)

// TestDiagnosisFixForEveryReason checks that every 401 reason has its own
// one-sentence remedy.
func TestDiagnosisFixForEveryReason(t *testing.T) {
	reasons := []session.Reason{"", session.ReasonNoCookie, session.ReasonMalformed, session.ReasonUnknownKey, session.ReasonBadSignature,
		session.ReasonExpired, session.ReasonIdleTimeout, session.ReasonRevoked, session.ReasonUserDisabled}
	seen := make(map[string]session.Reason)
	for _, r := range reasons {
		t.Run(string(r), func(t *testing.T) {
			g := Diagnosis{Scheme: "https", Reason: r, CookieKeyID: "0123abcd"}
			fix := g.fix(true)
			if fix == "" || !strings.HasSuffix(fix, ".") {
				t.Fatalf("fix %q is not a sentence", fix)
			}
			if other, dup := seen[fix]; dup {
				t.Errorf("reasons %q and %q share the fix %q", r, other, fix)
			}
			seen[fix] = r
		})
	}
	t.Run("valid session over http with https available", func(t *testing.T) {
		g := Diagnosis{Scheme: "http"}
		if fix := g.fix(true); !strings.Contains(fix, "https://") {
			t.Errorf("fix %q does not point to HTTPS", fix)
		}
		if fix := g.fix(false); !strings.HasPrefix(fix, "Nothing to fix") {
			t.Errorf("fix %q without https", fix)
		}
	})
}
