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

// TestUnknownKeysCounted checks what the doctor reports of cookies of a
// dropped secret: their key ids, how many and when, for at most 16 ids
// (anyone can make up key ids).
func TestUnknownKeysCounted(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	clock := testkit.NewClock()
	c := NewCache(st, audit.New(st, clock.Now, zap.NewNop), clock.Now, zap.NewNop)
	k := mustKeyring(t, testkit.Secret)
	old := mustKeyring(t, testkit.RandomSecret(t)).SignToken(keyring.NewToken())
	c.logUnknownKey(old, k)
	clock.Advance(time.Minute)
	c.logUnknownKey(old, k)
	for range maxLoggedUnknownKeys + 4 {
		c.logUnknownKey(mustKeyring(t, testkit.RandomSecret(t)).SignToken(keyring.NewToken()), k)
	}
	got := c.UnknownKeys()
	if len(got) != maxLoggedUnknownKeys {
		t.Fatalf("%d key ids, want %d", len(got), maxLoggedUnknownKeys)
	}
	if u := got[0]; u.ID != keyring.KeyIDOf(old) || u.Refusals != 2 || !u.Last.Equal(u.First.Add(time.Minute)) {
		t.Errorf("first key id: %+v", u)
	}
}
