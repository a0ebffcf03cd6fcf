package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

const (
	testTTL  = 168 * time.Hour
	testIdle = 24 * time.Hour
)

// sessionFixture is a session cache over a real SQLite store with a fake
// clock and one user.
type sessionFixture struct {
	cache  *sessionCache
	store  *store.Store
	dbPath string
	clock  *fakeClock
	ring   *keyring.Keyring
	user   store.User
}

func newSessionFixture(t *testing.T) *sessionFixture {
	t.Helper()
	st, path := openStore(t)
	clock := newFakeClock()
	return &sessionFixture{
		cache: newSessionCache(st, clock.Now), store: st, dbPath: path, clock: clock,
		ring: mustKeyring(t, testSecret), user: addUser(t, st, "ada@example.com", "password1", RoleOperator),
	}
}

// create starts a session and returns its cookie and identity.
func (f *sessionFixture) create(t *testing.T) (string, Identity) {
	t.Helper()
	cookie, id, err := f.cache.create(context.Background(), f.ring, f.user, testTTL, "192.0.2.1", "test-agent")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return cookie, id
}

// verify verifies a cookie and fails the test on a store error.
func (f *sessionFixture) verify(t *testing.T, cookie string) (*sessionEntry, Reason) {
	t.Helper()
	e, reason, err := f.cache.verify(context.Background(), f.ring, cookie, testIdle)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return e, reason
}

// evict empties the cache, as a restart or another cluster node would.
func (f *sessionFixture) evict() {
	f.cache = newSessionCache(f.store, f.clock.Now)
}

// stored loads the session row of a cookie from the store.
func (f *sessionFixture) stored(t *testing.T, cookie string) store.SessionUser {
	t.Helper()
	tok, reason := f.ring.ParseToken(cookie)
	if reason != keyring.OK {
		t.Fatalf("parseToken: %s", reason)
	}
	su, err := f.store.SessionByTokenHash(context.Background(), tok.Hash())
	if err != nil {
		t.Fatalf("SessionByTokenHash: %v", err)
	}
	return su
}

func TestSessionCreateVerify(t *testing.T) {
	f := newSessionFixture(t)
	cookie, id := f.create(t)

	want := Identity{SessionID: id.SessionID, UserID: f.user.ID, Email: "ada@example.com", Role: RoleOperator}
	if id != want || id.SessionID == "" {
		t.Fatalf("create returned identity %+v, want %+v", id, want)
	}
	for _, tt := range []struct {
		name  string
		setup func()
	}{
		{"cached", func() {}},
		{"loaded from the store", f.evict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			e, reason := f.verify(t, cookie)
			if reason != "" || e == nil {
				t.Fatalf("verify: reason %q", reason)
			}
			if e.id != want {
				t.Errorf("identity = %+v, want %+v", e.id, want)
			}
			if got := time.Unix(0, e.expiresAt); !got.Equal(f.clock.Now().Add(testTTL)) {
				t.Errorf("expires at %v, want now + ttl", got)
			}
		})
	}

	t.Run("store keeps only a hash of the token", func(t *testing.T) {
		su := f.stored(t, cookie)
		tok, _ := f.ring.ParseToken(cookie)
		if su.TokenHash == hex.EncodeToString(tok[:]) || su.TokenHash != tok.Hash() {
			t.Errorf("stored token hash %q is not the SHA-256 of the token", su.TokenHash)
		}
		if su.ID != id.SessionID || su.UserID != f.user.ID || su.ClientIP != "192.0.2.1" || su.UserAgent != "test-agent" {
			t.Errorf("stored session = %+v", su.Session)
		}
	})
}

func TestSessionCreateTruncatesUserAgent(t *testing.T) {
	f := newSessionFixture(t)
	long := string(make([]byte, 2000))
	cookie, _, err := f.cache.create(context.Background(), f.ring, f.user, testTTL, "192.0.2.1", long)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if n := len(f.stored(t, cookie).UserAgent); n != 512 {
		t.Errorf("stored user agent is %d bytes, want 512", n)
	}
}

func TestSessionReasons(t *testing.T) {
	tests := []struct {
		name string
		// act changes the world after the session was created.
		act  func(t *testing.T, f *sessionFixture, e *sessionEntry)
		want Reason
	}{
		{"valid", func(*testing.T, *sessionFixture, *sessionEntry) {}, ""},
		{"revoked", func(t *testing.T, f *sessionFixture, e *sessionEntry) {
			if err := f.cache.revoke(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}, ReasonRevoked},
		{"revoked, then loaded from the store", func(t *testing.T, f *sessionFixture, e *sessionEntry) {
			if err := f.cache.revoke(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			f.evict()
		}, ReasonRevoked},
		{"revoked in the store by another node", func(t *testing.T, f *sessionFixture, e *sessionEntry) {
			if _, err := f.store.RevokeSession(context.Background(), e.id.SessionID, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			f.cache.forgetUser(f.user.ID)
		}, ReasonRevoked},
		{"expired", func(_ *testing.T, f *sessionFixture, _ *sessionEntry) {
			f.clock.Advance(testTTL)
		}, ReasonExpired},
		{"expired, then loaded from the store", func(_ *testing.T, f *sessionFixture, _ *sessionEntry) {
			f.clock.Advance(testTTL)
			f.evict()
		}, ReasonExpired},
		{"idle", func(_ *testing.T, f *sessionFixture, _ *sessionEntry) {
			f.clock.Advance(testIdle)
		}, ReasonIdleTimeout},
		{"just under idle", func(_ *testing.T, f *sessionFixture, _ *sessionEntry) {
			f.clock.Advance(testIdle - time.Millisecond)
		}, ""},
		{"user disabled", func(t *testing.T, f *sessionFixture, _ *sessionEntry) {
			setUserDisabled(t, f.dbPath, f.user.ID, true)
			f.cache.forgetUser(f.user.ID)
		}, ReasonUserDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSessionFixture(t)
			cookie, _ := f.create(t)
			e, reason := f.verify(t, cookie)
			if reason != "" {
				t.Fatalf("fresh session: reason %q", reason)
			}
			tt.act(t, f, e)
			if _, reason := f.verify(t, cookie); reason != tt.want {
				t.Errorf("reason = %q, want %q", reason, tt.want)
			}
		})
	}
}

// TestSessionExpiresWhileActive checks the absolute lifetime: a session
// used every hour still ends after session_ttl.
func TestSessionExpiresWhileActive(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	for elapsed := time.Hour; elapsed < testTTL; elapsed += time.Hour {
		f.clock.Advance(time.Hour)
		if _, reason := f.verify(t, cookie); reason != "" {
			t.Fatalf("after %v of activity: reason %q", elapsed, reason)
		}
	}
	f.clock.Advance(time.Hour)
	if _, reason := f.verify(t, cookie); reason != ReasonExpired {
		t.Errorf("after ttl: reason %q, want %q", reason, ReasonExpired)
	}
}

// TestSessionIdleResetByUse checks that each use restarts the idle timer.
func TestSessionIdleResetByUse(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	for range 3 {
		f.clock.Advance(testIdle - time.Minute)
		if _, reason := f.verify(t, cookie); reason != "" {
			t.Fatalf("used within session_idle: reason %q", reason)
		}
	}
	t.Run("idle check disabled", func(t *testing.T) {
		f.clock.Advance(2 * testIdle) // still within session_ttl
		if _, reason, _ := f.cache.verify(context.Background(), f.ring, cookie, 0); reason != "" {
			t.Errorf("idle 0: reason %q, want none", reason)
		}
	})
}

// TestSessionUnknownToken checks a cookie with a valid MAC whose token the
// store does not know (deleted, or minted by a stolen key without a
// database row): it is refused as revoked.
func TestSessionUnknownToken(t *testing.T) {
	f := newSessionFixture(t)
	cookie := f.ring.SignToken(keyring.NewToken())
	e, reason := f.verify(t, cookie)
	if reason != ReasonRevoked || e != nil {
		t.Errorf("verify = %v, %q; want nil, %q", e, reason, ReasonRevoked)
	}
}

func TestSessionParseReasons(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	other := mustKeyring(t, randomSecret(t))
	tests := []struct {
		name, cookie string
		want         Reason
	}{
		{"malformed", "garbage", ReasonMalformed},
		{"unknown key", other.SignToken(keyring.NewToken()), ReasonUnknownKey},
		{"bad signature", cookie[:keyring.CookieLen-3] + "AAA", ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, reason := f.verify(t, tt.cookie); reason != tt.want {
				t.Errorf("reason %q, want %q", reason, tt.want)
			}
		})
	}
}

func TestSessionStoreError(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	f.evict()
	f.store.Close()
	_, reason, err := f.cache.verify(context.Background(), f.ring, cookie, testIdle)
	if err == nil {
		t.Fatalf("verify with a closed store: reason %q, no error", reason)
	}
}

func TestSessionFlush(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	created := f.clock.Now()

	f.clock.Advance(10 * time.Minute)
	used := f.clock.Now()
	if _, reason := f.verify(t, cookie); reason != "" {
		t.Fatalf("verify: %q", reason)
	}
	if got := f.stored(t, cookie).LastSeenAt; !got.Equal(created) {
		t.Fatalf("last seen written before flush: %v", got)
	}
	if err := f.cache.flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := f.stored(t, cookie).LastSeenAt; !got.Equal(used) {
		t.Errorf("after flush: last seen %v, want %v", got, used)
	}

	t.Run("loaded session keeps its activity", func(t *testing.T) {
		f.evict()
		f.clock.Advance(testIdle - 5*time.Minute) // idle since creation, active since use
		if _, reason := f.verify(t, cookie); reason != "" {
			t.Errorf("reason %q: flushed activity was lost", reason)
		}
	})
}

func TestSessionPrune(t *testing.T) {
	f := newSessionFixture(t)
	oldCookie, _ := f.create(t)
	f.clock.Advance(testIdle / 2)
	newCookie, _ := f.create(t)
	if n := len(f.cache.entries); n != 2 {
		t.Fatalf("%d cached sessions, want 2", n)
	}

	f.clock.Advance(testIdle/2 + time.Minute)
	f.cache.prune(testIdle)
	oldTok, _ := f.ring.ParseToken(oldCookie)
	newTok, _ := f.ring.ParseToken(newCookie)
	if _, ok := f.cache.entries[oldTok.CacheKey()]; ok {
		t.Error("idle session still cached after prune")
	}
	if _, ok := f.cache.entries[newTok.CacheKey()]; !ok {
		t.Error("active session evicted by prune")
	}

	f.clock.Advance(testTTL)
	f.cache.prune(0)
	if n := len(f.cache.entries); n != 0 {
		t.Errorf("%d sessions cached after they expired", n)
	}
	if _, reason := f.verify(t, oldCookie); reason != ReasonExpired {
		t.Errorf("pruned session reloaded with reason %q, want %q", reason, ReasonExpired)
	}
}

// TestSessionVerifyCachedAllocs guards the hot path: verifying a cached
// session is a MAC check and a map lookup, without allocating.
func TestSessionVerifyCachedAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		if _, reason, _ := f.cache.verify(ctx, f.ring, cookie, testIdle); reason != "" {
			t.Fatalf("reason %q", reason)
		}
	})
	if n != 0 {
		t.Errorf("cached verify allocates %.1f times per call", n)
	}
}

// TestSessionConcurrent runs verification, revocation, flushes and
// evictions at once; the race detector checks the cache's locking.
func TestSessionConcurrent(t *testing.T) {
	f := newSessionFixture(t)
	cookies := make([]string, 4)
	for i := range cookies {
		cookies[i], _ = f.create(t)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				cookie := cookies[(i+j)%len(cookies)]
				e, _, err := f.cache.verify(ctx, f.ring, cookie, testIdle)
				if err != nil {
					t.Errorf("verify: %v", err)
					return
				}
				switch j % 25 {
				case 7:
					f.cache.flush(ctx) //nolint:errcheck // racing flushes may both write
				case 13:
					f.cache.forgetUser(f.user.ID)
				case 24:
					if e != nil && i == 0 {
						f.cache.revoke(ctx, e) //nolint:errcheck // checked below
					}
				}
			}
		})
	}
	wg.Wait()
	f.evict()
	revoked := 0
	for _, c := range cookies {
		if _, reason := f.verify(t, c); reason == ReasonRevoked {
			revoked++
		}
	}
	if revoked == 0 {
		t.Error("no revocation reached the store")
	}
}

// Attack: growing the session cache without bound. Sessions that went
// idle under the config's session_idle leave the cache at the next
// maintenance run, not only at their absolute expiry; one still in use
// stays.
func TestIdleSessionsPrunedFromCache(t *testing.T) {
	a := newTestApp(t, func(a *App) { a.SessionIdle = caddy.Duration(time.Hour) })
	u := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	idle, used := a.newSession(t, u), a.newSession(t, u)
	use := func(cookie string) Reason {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://"+testHost+"/", nil)
		withCookie(req, cookie)
		_, reason, err := a.verifyRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		return reason
	}
	a.clock.Advance(30 * time.Minute)
	if r := use(used); r != "" {
		t.Fatalf("session in use: %q", r)
	}
	a.clock.Advance(31 * time.Minute)
	a.state.pruneSessionCache()
	a.state.sessions.mu.RLock()
	n := len(a.state.sessions.entries)
	a.state.sessions.mu.RUnlock()
	if n != 1 {
		t.Fatalf("%d sessions cached after one went idle, want 1 (the one in use)", n)
	}
	if r := use(idle); r != ReasonIdleTimeout {
		t.Errorf("the pruned idle session: reason %q, want %s", r, ReasonIdleTimeout)
	}
	if r := use(used); r != "" {
		t.Errorf("the session in use: reason %q", r)
	}
}

// Attack: minting sessions without bound by logging in again and again.
// A user keeps MaxSessionsPerUser active sessions; the least recently
// used beyond that are revoked, in the cache at once.
func TestSessionsCappedPerUser(t *testing.T) {
	a := newTestApp(t)
	u := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	oldest := a.newSession(t, u)
	if e, reason, _ := a.state.sessions.verify(context.Background(), a.keyring, oldest, 0); e == nil || reason != "" {
		t.Fatalf("first session: %q", reason) // cached
	}
	for range MaxSessionsPerUser - 1 {
		a.clock.Advance(time.Second)
		a.newSession(t, u)
	}
	if _, reason, _ := a.state.sessions.verify(context.Background(), a.keyring, oldest, 0); reason != "" {
		t.Fatalf("the oldest of %d sessions: reason %q, want valid", MaxSessionsPerUser, reason)
	}
	a.clock.Advance(time.Second)
	newest := a.newSession(t, u)
	if _, reason, _ := a.state.sessions.verify(context.Background(), a.keyring, oldest, 0); reason != ReasonRevoked {
		t.Errorf("the oldest session after one more: reason %q, want %s", reason, ReasonRevoked)
	}
	if _, reason, _ := a.state.sessions.verify(context.Background(), a.keyring, newest, 0); reason != "" {
		t.Errorf("the newest session: reason %q", reason)
	}
	if ss, err := a.ActiveSessions(context.Background(), u.ID); err != nil || len(ss) != MaxSessionsPerUser {
		t.Errorf("active sessions: %d (%v), want %d", len(ss), err, MaxSessionsPerUser)
	}
}
