package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/crypto/argon2"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// testSecret is the secret of test key rings and apps. Tests assert that
// it never shows up in responses or errors.
const testSecret = "test-secret-0123456789-abcdefghij"

// testHost is the dashboard's host in handler tests.
const testHost = "dash.test"

// fakeClock is an injectable clock for expiry and idle tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustKeyring builds a key ring or fails the test.
func mustKeyring(t testing.TB, current string, previous ...string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(current, previous)
	if err != nil {
		t.Fatalf("newKeyring: %v", err)
	}
	return k
}

// randomSecret returns a fresh secret, so key ids never collide between
// tests (logUnknownKey remembers key ids process-wide).
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cheapHash is a valid argon2id modular-crypt hash of pw with tiny
// parameters, so tests that verify passwords many times stay fast.
// VerifyPassword takes the parameters from the hash.
func cheapHash(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// openStore opens a fresh SQLite store in a temporary directory and
// returns it with the path of its database file.
func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	st, err := store.Open(context.Background(), store.SQLite, path)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// addUser stores a user with a cheap password hash.
func addUser(t *testing.T, st *store.Store, email, password, role string) store.User {
	t.Helper()
	now := time.Now().UTC()
	u := store.User{
		ID: uuid.NewString(), Email: email, PasswordHash: cheapHash(password),
		Role: role, CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// setUserDisabled flips the disabled flag of a user directly in the
// database, as an admin action would.
func setUserDisabled(t *testing.T, dbPath, userID string, disabled bool) {
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

// testApp is a provisioned App with its clock and database path.
type testApp struct {
	*App
	clock  *fakeClock
	dbPath string
}

// newTestApp provisions an App with an SQLite database in a temporary
// directory, the given options applied first, and a fake clock shared by
// the app and its session cache.
func newTestApp(t *testing.T, configure ...func(*App)) *testApp {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	clock := newFakeClock()
	dbPath := filepath.Join(t.TempDir(), "proxyos.db")
	a := &App{
		Secret:   testSecret,
		Database: &Database{Driver: store.SQLite, DSN: dbPath},
		URL:      "http://" + testHost,
		now:      clock.Now,
	}
	for _, f := range configure {
		f(a)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	a.logger = zap.NewNop()
	a.state.sessions.now = clock.Now
	return &testApp{App: a, clock: clock, dbPath: dbPath}
}

// dashboard returns a Dashboard handler of the app, set up as Provision
// does.
func (a *testApp) dashboard() *Dashboard {
	d := &Dashboard{app: a.App, logger: zap.NewNop()}
	d.buildAPI()
	return d
}

// addUser stores a user with a cheap password hash in the app's store.
func (a *testApp) addUser(t *testing.T, email, password, role string) store.User {
	t.Helper()
	return addUser(t, a.state.store, email, password, role)
}

// newSession creates a session for u directly and returns its cookie.
func (a *testApp) newSession(t *testing.T, u store.User) string {
	t.Helper()
	cookie, _, err := a.state.sessions.create(context.Background(), a.keyring, u, time.Duration(a.SessionTTL), "192.0.2.1", "test")
	if err != nil {
		t.Fatalf("creating session: %v", err)
	}
	return cookie
}

// prepare gives req the context Caddy's server gives every request
// (replacer, vars) and returns it with its replacer.
func prepare(req *http.Request, w http.ResponseWriter) (*http.Request, *caddy.Replacer) {
	repl := caddy.NewReplacer()
	return caddyhttp.PrepareRequest(req, repl, w, nil), repl
}

// apiRequest builds a same-origin dashboard API request, as the
// dashboard's own pages send it.
func apiRequest(method, path, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://"+testHost+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", "http://"+testHost)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

// withCookie adds the session cookie to req.
func withCookie(req *http.Request, value string) *http.Request {
	req.Header.Add("Cookie", CookieName+"="+value)
	return req
}

// serve runs the dashboard on req and returns the recorded response.
func serve(t *testing.T, d *Dashboard, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req, _ = prepare(req, rec)
	if err := d.ServeHTTP(rec, req, nil); err != nil {
		t.Fatalf("%s %s: handler error: %v", req.Method, req.URL.Path, err)
	}
	return rec
}

// responseCookie returns the session cookie set by a response, by
// either name, or nil.
func responseCookie(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName || c.Name == HostCookieName {
			return c
		}
	}
	return nil
}

// login logs in through the API and returns the new session cookie.
func login(t *testing.T, d *Dashboard, email, password string, cookie string) string {
	t.Helper()
	req := apiRequest(http.MethodPost, "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if cookie != "" {
		withCookie(req, cookie)
	}
	rec := serve(t, d, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: status %d, body %s", rec.Code, rec.Body)
	}
	c := responseCookie(rec)
	if c == nil || c.Value == "" {
		t.Fatalf("login: no session cookie set")
	}
	return c.Value
}

// skipAllocsUnderRace skips an allocation test when the race detector
// is on.
func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
}

// forgetUser drops every cached session of a user, so the next request
// reloads role, disabled flag and revocations from the store (as after a
// change made directly in the database).
func (c *sessionCache) forgetUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.id.UserID == userID {
			delete(c.entries, k)
		}
	}
}
