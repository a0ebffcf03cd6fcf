package keyring

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestNewKeyringRejectsShortSecrets(t *testing.T) {
	const short = "tooshort-secret" // 15 characters: one below the minimum
	tests := []struct {
		name     string
		current  string
		previous []string
		wantErr  string
	}{
		{"empty current", "", nil, "secret: must be at least 16 characters"},
		{"short current", short, nil, "secret: must be at least 16 characters"},
		{"short previous", testSecret, []string{testSecret + "-old", short}, "previous_secrets[1]: must be at least 16 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.current, tt.previous)
			if err == nil {
				t.Fatalf("newKeyring accepted a short secret: %v", k.IDs())
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("minimum length", func(t *testing.T) {
		if _, err := New(strings.Repeat("x", MinSecretLen), nil); err != nil {
			t.Errorf("a %d-character secret was refused: %v", MinSecretLen, err)
		}
	})
}

// TestNewKeyringErrorHidesSecret prevents secret disclosure through error
// messages, which end up in logs and API answers.
func TestNewKeyringErrorHidesSecret(t *testing.T) {
	for _, tt := range []struct {
		name     string
		current  string
		previous []string
		secret   string
	}{
		{"current", "hunter2-secret", nil, "hunter2-secret"},
		{"previous", testSecret, []string{"hunter3-secret"}, "hunter3-secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.current, tt.previous)
			if err == nil {
				t.Fatal("short secret accepted")
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestKeyringDerivation(t *testing.T) {
	a1 := mustKeyring(t, testSecret)
	a2 := mustKeyring(t, testSecret)
	b := mustKeyring(t, testSecret+"x")

	t.Run("key id stable for a secret", func(t *testing.T) {
		if a1.CurrentID() != a2.CurrentID() {
			t.Errorf("same secret gave key ids %q and %q", a1.CurrentID(), a2.CurrentID())
		}
		if !bytes.Equal(a1.current.sessionMAC, a2.current.sessionMAC) {
			t.Error("same secret gave different session keys")
		}
	})
	t.Run("key id format", func(t *testing.T) {
		id := a1.CurrentID()
		if len(id) != KeyIDLen || strings.Trim(id, "0123456789abcdef") != "" {
			t.Errorf("key id %q is not %d lower-case hex characters", id, KeyIDLen)
		}
	})
	t.Run("keys differ per secret", func(t *testing.T) {
		if a1.CurrentID() == b.CurrentID() {
			t.Errorf("different secrets share key id %q", a1.CurrentID())
		}
		if bytes.Equal(a1.current.sessionMAC, b.current.sessionMAC) {
			t.Error("different secrets share a session key")
		}
	})
	t.Run("session key is derived, not the secret", func(t *testing.T) {
		mac := a1.current.sessionMAC
		if len(mac) != 32 {
			t.Errorf("session key is %d bytes, want 32", len(mac))
		}
		if bytes.Contains(mac, []byte(testSecret[:16])) || bytes.Contains([]byte(testSecret), mac[:8]) {
			t.Error("session key contains the secret")
		}
		if strings.Contains(testSecret, a1.CurrentID()) {
			t.Error("key id is part of the secret")
		}
	})
	// Key ids and keys are persisted in every cookie: changing the
	// derivation would log everybody out on upgrade.
	t.Run("derivation is pinned", func(t *testing.T) {
		k := mustKeyring(t, "proxyos-pinned-test-secret")
		if got, want := k.CurrentID(), pinnedKeyID; got != want {
			t.Errorf("key id = %q, want %q: key derivation changed", got, want)
		}
	})
}

// pinnedKeyID is the key id of "proxyos-pinned-test-secret".
const pinnedKeyID = "0ebdf03c"

func TestKeyringIDs(t *testing.T) {
	cur, old1, old2 := testSecret, testSecret+"-old1", testSecret+"-old2"
	k := mustKeyring(t, cur, old1, old2, old1, cur) // duplicates ignored
	want := []string{mustKeyring(t, cur).CurrentID(), mustKeyring(t, old1).CurrentID(), mustKeyring(t, old2).CurrentID()}

	ids := k.IDs()
	if len(ids) != 3 {
		t.Fatalf("IDs() = %v, want 3 distinct ids", ids)
	}
	if ids[0] != want[0] || k.CurrentID() != want[0] {
		t.Errorf("IDs()[0] = %q, CurrentID() = %q, want the current key %q first", ids[0], k.CurrentID(), want[0])
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("IDs() = %v, want %v", ids, want)
	}
	for _, id := range want {
		if k.key(id) == nil {
			t.Errorf("key(%q) = nil", id)
		}
	}
	if k.key("00000000") != nil {
		t.Error("key() found a key that is not in the ring")
	}
}

// TestKeyringRotation checks that rotating the secret logs nobody out:
// tokens signed with a previous secret still verify, new tokens use the
// current secret, and dropping the old secret ends its sessions with
// unknown_key.
func TestKeyringRotation(t *testing.T) {
	oldSecret, newSecret := testSecret+"-old", testSecret+"-new"
	before := mustKeyring(t, oldSecret)
	rotated := mustKeyring(t, newSecret, oldSecret)
	dropped := mustKeyring(t, newSecret)

	tok := NewToken()
	oldCookie := before.SignToken(tok)

	got, reason := rotated.ParseToken(oldCookie)
	if reason != OK || got != tok {
		t.Fatalf("rotated ring: token signed with the previous secret gave reason %q", reason)
	}
	if _, reason := dropped.ParseToken(oldCookie); reason != UnknownKey {
		t.Errorf("ring without the old secret: reason %q, want %q", reason, UnknownKey)
	}
	newCookie := rotated.SignToken(tok)
	if KeyIDOf(newCookie) != dropped.CurrentID() {
		t.Errorf("new cookie signed with key %q, want the current key %q", KeyIDOf(newCookie), dropped.CurrentID())
	}
	if _, reason := before.ParseToken(newCookie); reason != UnknownKey {
		t.Errorf("old ring on a new cookie: reason %q, want %q", reason, UnknownKey)
	}
}
