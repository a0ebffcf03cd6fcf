package session

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// TestLogUnknownKeyOnce checks that a browser with a cookie of a dropped
// secret is reported once per key id, not on every request.
func TestLogUnknownKeyOnce(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	logger := zap.New(core)
	st, _ := testkit.OpenStore(t)
	c := NewCache(st, audit.New(st, time.Now, zap.NewNop), time.Now, func() *zap.Logger { return logger })
	k := mustKeyring(t, testkit.Secret)
	old1 := mustKeyring(t, testkit.RandomSecret(t)).SignToken(keyring.NewToken())
	old2 := mustKeyring(t, testkit.RandomSecret(t)).SignToken(keyring.NewToken())
	for range 3 {
		c.logUnknownKey(old1, k)
		c.logUnknownKey(old2, k)
	}
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d log entries, want one per key id", len(entries))
	}
	for i, want := range []string{keyring.KeyIDOf(old1), keyring.KeyIDOf(old2)} {
		fields := entries[i].ContextMap()
		if fields["key_id"] != want || fields["current_key_id"] != k.CurrentID() {
			t.Errorf("entry %d fields %v, want key_id %q", i, fields, want)
		}
		for _, v := range fields {
			if s, _ := v.(string); strings.Contains(old1, s) && len(s) > keyring.KeyIDLen {
				t.Errorf("log contains cookie material %q", s)
			}
		}
	}
}
