package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/race"
)

// testSecret is the secret of test key rings. Tests assert that it never
// shows up in errors.
const testSecret = "test-secret-0123456789-abcdefghij"

// mustKeyring builds a key ring or fails the test.
func mustKeyring(t testing.TB, current string, previous ...string) *Keyring {
	t.Helper()
	k, err := New(current, previous)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

// randomSecret returns a fresh secret, so key ids never collide between
// tests.
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// skipAllocsUnderRace skips an allocation test when the race detector
// is on.
func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
}
