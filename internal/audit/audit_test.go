package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

func TestIsSecretName(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"password", true},
		{"Password", true},
		{"password_hash", true},
		{"new_password", true},
		{"secret", true},
		{"totp_secret", true},
		{"previous_secrets", true},
		{"token", true},
		{"token_hash", true},
		{"session_token", true},
		{"setup_code", true},
		{"key", true},
		{"api_key", true},
		{"X-Api-Key", true},
		{"Authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"recovery_codes", true},
		{"password_changed", false},
		{"email", false},
		{"role", false},
		{"hosts", false},
		{"key_id", false},
		{"X-Frame-Options", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSecretName(tt.name); got != tt.want {
				t.Errorf("isSecretName(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestAuditDetails(t *testing.T) {
	type user struct {
		Email        string `json:"email"`
		Role         string `json:"role"`
		PasswordHash string `json:"password_hash"`
	}
	tests := []struct {
		name          string
		before, after any
		extra         map[string]any
		want          string
	}{
		{"nothing", nil, nil, nil, "null"},
		{"nil pointer is nothing", (*struct{ A int })(nil), nil, nil, "null"},
		{"created", nil, user{"a@example.com", "admin", "$argon2id$x"}, nil,
			`{"after":{"email":"a@example.com","role":"admin"}}`},
		{"only changed fields", user{"a@example.com", "viewer", "$1"}, user{"a@example.com", "admin", "$2"}, nil,
			`{"after":{"role":"admin"},"before":{"role":"viewer"}}`},
		{"extra kept, secrets dropped", nil, nil, map[string]any{"password_changed": true, "password": "hunter2hunter2"},
			`{"password_changed":true}`},
		{"nested headers", nil, map[string]any{"headers": map[string]any{"set": map[string]any{"Authorization": "Bearer x", "X-Env": "prod"}}}, nil,
			`{"after":{"headers":{"set":{"X-Env":"prod"}}}}`},
		{"in lists", nil, map[string]any{"items": []any{map[string]any{"token": "t", "name": "n"}}}, nil,
			`{"after":{"items":[{"name":"n"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Details(tt.before, tt.after, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			if s := string(got); s != tt.want && !(got == nil && tt.want == "null") {
				t.Errorf("auditDetails = %s, want %s", s, tt.want)
			}
		})
	}
}

// TestAnonymousBudget bounds what clients who are not logged in can make
// the audit log store, from however many networks: beyond the budget,
// entries are counted and recorded as one entry.
func TestAnonymousBudget(t *testing.T) {
	st, err := store.Open(context.Background(), store.SQLite, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l := New(st, func() time.Time { return now }, zap.NewNop)
	entries := func() []store.AuditEntry {
		es, err := st.ListAudit(context.Background(), store.AuditFilter{}, 2000, 0)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	ev := Event{Actor: AnonymousFrom("192.0.2.1"), Action: Login, Target: "x@example.com", Outcome: Failure}
	for range anonAuditBurst + 50 {
		l.Record(context.Background(), ev)
	}
	if n := len(entries()); n != anonAuditBurst {
		t.Fatalf("%d entries, want the burst of %d", n, anonAuditBurst)
	}
	// A logged-in actor is never held back.
	l.Record(context.Background(), Event{Actor: Actor{Name: "ada@example.com", Kind: ActorUser}, Action: Logout})
	l.FlushSuppressed(context.Background(), now)
	es := entries()
	if len(es) != anonAuditBurst+2 || es[0].Action != string(Suppressed) || string(es[0].Details) != `{"suppressed":50}` {
		t.Fatalf("after the flush: %d entries, newest %+v", len(es), es[0])
	}
	now = now.Add(time.Second)
	l.Record(context.Background(), ev)
	if n := len(entries()); n != anonAuditBurst+3 {
		t.Fatalf("%d entries after the budget refilled, want %d", n, anonAuditBurst+3)
	}
}
