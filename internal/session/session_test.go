package session

import (
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/testkit"

	"context"
	"encoding/hex"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

const (
	testTTL  = 168 * time.Hour
	testIdle = 24 * time.Hour
)

// sessionFixture is a session cache over a real SQLite store with a fake
// clock and one user.
type sessionFixture struct {
	cache  *Cache
	store  *store.Store
	dbPath string
	clock  *testkit.Clock
	ring   *keyring.Keyring
	user   store.User
}

func newSessionFixture(t testing.TB) *sessionFixture {
	t.Helper()
	st, path := testkit.OpenStore(t)
	clock := testkit.NewClock()
	return &sessionFixture{
		cache: NewCache(st, audit.New(st, clock.Now, zap.NewNop), clock.Now, zap.NewNop), store: st, dbPath: path, clock: clock,
		ring: mustKeyring(t, testkit.Secret), user: testkit.AddUser(t, st, "ada@example.com", "password1", "operator"),
	}
}

// create starts a session and returns its cookie and identity.
func (f *sessionFixture) create(t testing.TB) (string, Identity) {
	t.Helper()
	cookie, id, err := f.cache.Create(context.Background(), f.ring, f.user, testTTL, "192.0.2.1", "test-agent")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return cookie, id
}

// verify verifies a cookie and fails the test on a store error.
func (f *sessionFixture) verify(t *testing.T, cookie string) (*Entry, Reason) {
	t.Helper()
	e, reason, err := f.cache.Verify(context.Background(), f.ring, cookie, testIdle)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return e, reason
}

// evict empties the cache, as a restart or another cluster node would.
func (f *sessionFixture) evict() {
	f.cache = NewCache(f.store, audit.New(f.store, f.clock.Now, zap.NewNop), f.clock.Now, zap.NewNop)
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

	want := Identity{SessionID: id.SessionID, UserID: f.user.ID, Email: "ada@example.com", Role: authz.Operator}
	if !reflect.DeepEqual(id, want) || id.SessionID == "" {
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
			if !reflect.DeepEqual(e.id, want) {
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
	cookie, _, err := f.cache.Create(context.Background(), f.ring, f.user, testTTL, "192.0.2.1", long)
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
		act  func(t *testing.T, f *sessionFixture, e *Entry)
		want Reason
	}{
		{"valid", func(*testing.T, *sessionFixture, *Entry) {}, ""},
		{"revoked", func(t *testing.T, f *sessionFixture, e *Entry) {
			if err := f.cache.Revoke(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}, ReasonRevoked},
		{"revoked, then loaded from the store", func(t *testing.T, f *sessionFixture, e *Entry) {
			if err := f.cache.Revoke(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			f.evict()
		}, ReasonRevoked},
		{"revoked in the store by another node", func(t *testing.T, f *sessionFixture, e *Entry) {
			if _, err := f.store.RevokeSession(context.Background(), e.id.SessionID, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			f.cache.ForgetUser(f.user.ID)
		}, ReasonRevoked},
		{"expired", func(_ *testing.T, f *sessionFixture, _ *Entry) {
			f.clock.Advance(testTTL)
		}, ReasonExpired},
		{"expired, then loaded from the store", func(_ *testing.T, f *sessionFixture, _ *Entry) {
			f.clock.Advance(testTTL)
			f.evict()
		}, ReasonExpired},
		{"idle", func(_ *testing.T, f *sessionFixture, _ *Entry) {
			f.clock.Advance(testIdle)
		}, ReasonIdleTimeout},
		{"just under idle", func(_ *testing.T, f *sessionFixture, _ *Entry) {
			f.clock.Advance(testIdle - time.Millisecond)
		}, ""},
		{"user disabled", func(t *testing.T, f *sessionFixture, _ *Entry) {
			testkit.SetUserDisabled(t, f.dbPath, f.user.ID, true)
			f.cache.ForgetUser(f.user.ID)
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
		if _, reason, _ := f.cache.Verify(context.Background(), f.ring, cookie, 0); reason != "" {
			t.Errorf("idle 0: reason %q, want none", reason)
		}
	})
}

// TestSessionUnknownToken checks a cookie with a valid MAC whose token the
// store does not know (deleted, or minted by a stolen key without a
// database row): it is refused as revoked.
// A cached session's MAC is checked once per cookie value and key ring.
// That is no way around the check: a forged MAC on a token that is
// cached (one learned from a log of the stored hashes would still need
// the MAC) is refused, and so is the cached session's own cookie once
// its key has left the ring (a secret rotated out), while a rotation that
// keeps the key keeps the session.
func TestSessionCheckedCookieIsNoShortcut(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	if _, reason := f.verify(t, cookie); reason != "" {
		t.Fatalf("verify: %q", reason)
	}
	tok, _ := keyring.DecodeToken(cookie)
	macAt := keyring.CookieLen - 2 // inside the MAC, all six bits significant
	forged := []byte(cookie)
	forged[macAt] = 'A'
	if cookie[macAt] == 'A' {
		forged[macAt] = 'B'
	}
	if forged[macAt] == cookie[macAt] {
		t.Fatal("forged cookie equals the real one")
	}
	for range 2 { // refused every time, before and after the real cookie
		if _, reason := f.verify(t, string(forged)); reason != ReasonBadSignature {
			t.Fatalf("a forged MAC on a cached token: reason %q, want %q", reason, ReasonBadSignature)
		}
		if _, reason := f.verify(t, cookie); reason != "" {
			t.Fatalf("the real cookie after a forged one: %q", reason)
		}
	}

	newSecret := testkit.RandomSecret(t)
	rotatedOut := mustKeyring(t, newSecret)
	if _, reason, _ := f.cache.Verify(context.Background(), rotatedOut, cookie, testIdle); reason != ReasonUnknownKey {
		t.Fatalf("the cached session's cookie after its key left the ring: reason %q, want %q", reason, ReasonUnknownKey)
	}
	kept := mustKeyring(t, newSecret, testkit.Secret)
	if _, reason, _ := f.cache.Verify(context.Background(), kept, cookie, testIdle); reason != "" {
		t.Fatalf("after a rotation that keeps the old secret: reason %q", reason)
	}
	// The same token signed with the new key works; its MAC under the
	// old key's id does not.
	resigned := kept.SignToken(tok)
	if _, reason, _ := f.cache.Verify(context.Background(), kept, resigned, testIdle); reason != "" {
		t.Fatalf("the token signed with the new key: reason %q", reason)
	}
	swapped := cookie[:keyring.KeyIDLen] + resigned[keyring.KeyIDLen:]
	if _, reason, _ := f.cache.Verify(context.Background(), kept, swapped, testIdle); reason != ReasonBadSignature {
		t.Fatalf("the new key's MAC under the old key's id: reason %q, want %q", reason, ReasonBadSignature)
	}
}

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
	other := mustKeyring(t, testkit.RandomSecret(t))
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
	_, reason, err := f.cache.Verify(context.Background(), f.ring, cookie, testIdle)
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
	if err := f.cache.Flush(context.Background()); err != nil {
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
	f.cache.Prune(testIdle)
	oldTok, _ := f.ring.ParseToken(oldCookie)
	newTok, _ := f.ring.ParseToken(newCookie)
	if _, ok := f.cache.entries[oldTok.CacheKey()]; ok {
		t.Error("idle session still cached after prune")
	}
	if _, ok := f.cache.entries[newTok.CacheKey()]; !ok {
		t.Error("active session evicted by prune")
	}

	f.clock.Advance(testTTL)
	f.cache.Prune(0)
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
	testkit.SkipAllocsUnderRace(t)
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		if _, reason, _ := f.cache.Verify(ctx, f.ring, cookie, testIdle); reason != "" {
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
				e, _, err := f.cache.Verify(ctx, f.ring, cookie, testIdle)
				if err != nil {
					t.Errorf("verify: %v", err)
					return
				}
				switch j % 25 {
				case 7:
					f.cache.Flush(ctx) //nolint:errcheck // racing flushes may both write
				case 13:
					f.cache.ForgetUser(f.user.ID)
				case 24:
					if e != nil && i == 0 {
						f.cache.Revoke(ctx, e) //nolint:errcheck // checked below
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

// mustKeyring builds a key ring or fails the test.
func mustKeyring(t testing.TB, current string, previous ...string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(current, previous)
	if err != nil {
		t.Fatalf("keyring.New: %v", err)
	}
	return k
}

// Attack: growing the session cache without bound. Sessions that went
// idle under session_idle leave the cache when it is pruned, not only at
// their absolute expiry; one still in use stays.
func TestIdleSessionsPrunedFromCache(t *testing.T) {
	f := newSessionFixture(t)
	idle, _ := f.create(t)
	used, _ := f.create(t)
	f.clock.Advance(30 * time.Minute)
	if _, r := f.verifyIdle(t, used, time.Hour); r != "" {
		t.Fatalf("session in use: %q", r)
	}
	f.clock.Advance(31 * time.Minute)
	f.cache.Prune(time.Hour)
	f.cache.mu.RLock()
	n := len(f.cache.entries)
	f.cache.mu.RUnlock()
	if n != 1 {
		t.Fatalf("%d sessions cached after one went idle, want 1 (the one in use)", n)
	}
	if _, r := f.verifyIdle(t, idle, time.Hour); r != ReasonIdleTimeout {
		t.Errorf("the pruned idle session: reason %q, want %s", r, ReasonIdleTimeout)
	}
	if _, r := f.verifyIdle(t, used, time.Hour); r != "" {
		t.Errorf("the session in use: reason %q", r)
	}
}

// verifyIdle verifies a cookie under the idle limit.
func (f *sessionFixture) verifyIdle(t *testing.T, cookie string, idle time.Duration) (*Entry, Reason) {
	t.Helper()
	e, reason, err := f.cache.Verify(context.Background(), f.ring, cookie, idle)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return e, reason
}

// Attack: minting sessions without bound by logging in again and again.
// A user keeps MaxSessionsPerUser active sessions; the least recently
// used beyond that are revoked, in the cache at once.
func TestSessionsCappedPerUser(t *testing.T) {
	f := newSessionFixture(t)
	oldest, _ := f.create(t)
	if _, reason := f.verify(t, oldest); reason != "" {
		t.Fatalf("first session: %q", reason) // cached
	}
	for range MaxSessionsPerUser - 1 {
		f.clock.Advance(time.Second)
		f.create(t)
	}
	if _, reason := f.verify(t, oldest); reason != "" {
		t.Fatalf("the oldest of %d sessions: reason %q, want valid", MaxSessionsPerUser, reason)
	}
	f.clock.Advance(time.Second)
	newest, _ := f.create(t)
	if _, reason := f.verify(t, oldest); reason != ReasonRevoked {
		t.Errorf("the oldest session after one more: reason %q, want %s", reason, ReasonRevoked)
	}
	if _, reason := f.verify(t, newest); reason != "" {
		t.Errorf("the newest session: reason %q", reason)
	}
	ss, err := f.store.ListSessions(context.Background(), f.user.ID, f.clock.Now())
	if err != nil || len(ss) != MaxSessionsPerUser {
		t.Errorf("active sessions: %d (%v), want %d", len(ss), err, MaxSessionsPerUser)
	}
}

// A session used only on another node of a cluster is not idle here:
// before refusing it as idle, the cache looks at the use the store
// recorded (the other node writes it every maintenance round); once the
// store says idle too, it is refused without asking again.
func TestSessionIdleUsesOtherNodesActivity(t *testing.T) {
	f := newSessionFixture(t)
	cookie, _ := f.create(t)
	other := NewCache(f.store, audit.New(f.store, f.clock.Now, zap.NewNop), f.clock.Now, zap.NewNop)
	if _, r, err := other.Verify(context.Background(), f.ring, cookie, testIdle); r != "" || err != nil {
		t.Fatalf("other node: %q %v", r, err)
	}
	f.clock.Advance(20 * time.Hour)
	if _, r := f.verify(t, cookie); r != "" {
		t.Fatalf("this node after 20h: %q", r)
	}
	if err := f.cache.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Hour) // 25h after the other node's last use, 5h after this one's
	if _, r, err := other.Verify(context.Background(), f.ring, cookie, testIdle); r != "" || err != nil {
		t.Fatalf("other node, session used here 5h ago: %q %v, want valid", r, err)
	}
	// Used only here again: the other node asks the store again.
	f.clock.Advance(10 * time.Hour)
	if _, r := f.verify(t, cookie); r != "" {
		t.Fatalf("this node: %q", r)
	}
	if err := f.cache.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * time.Hour) // 30h after the other node's last use
	if _, r, _ := other.Verify(context.Background(), f.ring, cookie, testIdle); r != "" {
		t.Fatalf("other node after a second stretch of use here: %q, want valid", r)
	}
	f.clock.Advance(25 * time.Hour)
	for range 2 {
		if _, r, _ := other.Verify(context.Background(), f.ring, cookie, testIdle); r != ReasonIdleTimeout {
			t.Fatalf("unused for 25h everywhere: %q, want %s", r, ReasonIdleTimeout)
		}
	}
}

// TestSessionCarriesGroups checks that a session carries its user's
// groups, from the login and from the store on a cache miss, with the
// groups header made once (role first), and that ForgetUser makes the
// next request see groups the store changed.
func TestSessionCarriesGroups(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	if err := f.store.SetUserGroups(ctx, f.user.ID, []string{"dev", "ops", "cn=x,ou=y"}); err != nil {
		t.Fatal(err)
	}
	u, err := f.store.UserByID(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.user = u
	cookie, id := f.create(t)
	if !reflect.DeepEqual(id.Groups, []string{"dev", "ops", "cn=x,ou=y"}) {
		t.Fatalf("created identity groups = %q", id.Groups)
	}
	for _, tt := range []struct {
		name  string
		setup func()
	}{{"cached", func() {}}, {"loaded from the store", f.evict}} {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			e, reason := f.verify(t, cookie)
			if reason != "" {
				t.Fatalf("verify: %s", reason)
			}
			if !e.InGroup([]string{"nope", "ops"}) || e.InGroup([]string{"OPS", "op", "admins"}) || e.InGroup(nil) {
				t.Error("InGroup does not match the groups exactly")
			}
			// the group with a comma would split in two in the header
			if got := e.GroupsHeader(); len(got) != 1 || got[0] != "operator,dev,ops" {
				t.Errorf("groups header = %q, want operator,dev,ops", got)
			}
		})
	}
	t.Run("a change reaches the sessions after ForgetUser", func(t *testing.T) {
		if err := f.store.SetUserGroups(ctx, f.user.ID, nil); err != nil {
			t.Fatal(err)
		}
		f.cache.ForgetUser(f.user.ID)
		e, reason := f.verify(t, cookie)
		if reason != "" {
			t.Fatalf("verify: %s", reason)
		}
		if e.InGroup([]string{"ops"}) || e.GroupsHeader()[0] != "operator" {
			t.Errorf("after the provider dropped the groups: groups %q, header %q", e.Identity().Groups, e.GroupsHeader())
		}
	})
}

// TestSessionVerifyWithGroupsAllocs checks that checking a session's
// groups allocates nothing.
func TestSessionVerifyWithGroupsAllocs(t *testing.T) {
	testkit.SkipAllocsUnderRace(t)
	f := newSessionFixture(t)
	if err := f.store.SetUserGroups(context.Background(), f.user.ID, []string{"a", "b", "ops"}); err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.create(t)
	f.evict()
	e, _ := f.verify(t, cookie)
	want := []string{"x", "y", "ops"}
	if n := testing.AllocsPerRun(100, func() {
		if !e.InGroup(want) || e.GroupsHeader()[0] == "" {
			t.Fatal("not in ops")
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per check, want 0", n)
	}
}
