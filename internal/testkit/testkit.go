// Package testkit is what the tests of several packages share: a clock
// they move by hand, a fresh SQLite store, users with cheap password
// hashes. Only tests import it.
package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"github.com/proxyos/caddy-proxyos/internal/race"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Secret is the secret of test key rings and apps. Tests assert that it
// never shows up in responses or errors.
const Secret = "test-secret-0123456789-abcdefghij"

// Clock is a clock tests move by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// OpenStore opens a fresh SQLite store in a temporary directory and
// returns it with the path of its database file; it is closed when the
// test ends.
func OpenStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxyos.db")
	st, err := store.Open(context.Background(), store.SQLite, path)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// CheapHash is a valid argon2id modular-crypt hash of pw with tiny
// parameters, so tests that verify passwords many times stay fast; the
// verifier takes the parameters from the hash.
func CheapHash(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// AddUser stores a user with a cheap password hash.
func AddUser(t testing.TB, st *store.Store, email, password, role string) store.User {
	t.Helper()
	now := time.Now().UTC()
	u := store.User{
		ID: uuid.NewString(), Email: email, PasswordHash: CheapHash(password),
		Role: role, CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// SetUserDisabled flips the disabled flag of a user directly in the
// SQLite database at dbPath, behind the back of any cache.
func SetUserDisabled(t testing.TB, dbPath, userID string, disabled bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE users SET disabled = ? WHERE id = ?`, disabled, userID)
	if err != nil {
		t.Fatalf("disabling user: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("disabling user: %d rows changed, want 1", n)
	}
}

// RandomSecret returns a fresh secret.
func RandomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SkipAllocsUnderRace skips an allocation test when the race detector is
// on: it makes sync.Pool drop items at random.
func SkipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
}
