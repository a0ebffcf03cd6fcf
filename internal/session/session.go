// Package session keeps proxyos's server-side sessions: created at
// login, verified on every request through an in-memory cache (a MAC
// check and a map lookup, no database round trip, no allocation),
// revoked at once everywhere in this process, and handed off to hosts
// the session cookie does not reach (see handoff.go).
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Reason says why a request is not authenticated. Reasons are part of the
// API: the 401 body carries one, and diagnose reports it.
type Reason string

// The reasons a session is refused.
const (
	ReasonNoCookie     Reason = "no_cookie"     // no session cookie (proxyos_session, on HTTPS __Host-proxyos_session) arrived
	ReasonMalformed    Reason = "malformed"     // the cookie is not a proxyos token
	ReasonUnknownKey   Reason = "unknown_key"   // signed with a secret no longer configured
	ReasonBadSignature Reason = "bad_signature" // tampered or forged
	ReasonExpired      Reason = "expired"       // past its absolute lifetime
	ReasonIdleTimeout  Reason = "idle_timeout"  // unused for longer than session_idle
	ReasonRevoked      Reason = "revoked"       // logged out or revoked
	ReasonUserDisabled Reason = "user_disabled" // the account is disabled
	ReasonOtherHost    Reason = "other_host"    // a handoff session used on another host than its own
)

// Identity is who a verified session belongs to.
type Identity struct {
	SessionID string
	UserID    string
	Email     string
	Role      authz.Role
	// Groups are the user's groups from their latest sign-in with an
	// OpenID provider (store.User.Groups); none for other users. Shared
	// by every request of the session: nothing may write to them.
	Groups []string
}

// MaxSessionsPerUser bounds the active sessions of one user, handoff
// sessions included. A new session beyond it revokes the user's least
// recently used ones (with their handoff sessions), never the new one or
// the session it was handed off from, so that no account can fill the
// sessions table or the session cache however often it logs in.
const MaxSessionsPerUser = 100

// Entry is a cached session. Immutable fields are set once; the
// rest are atomics so verification needs only a read lock.
type Entry struct {
	id        Identity
	expiresAt int64 // unix nanoseconds
	disabled  atomic.Bool
	revoked   atomic.Bool
	lastSeen  atomic.Int64 // unix nanoseconds
	flushed   atomic.Int64 // lastSeen value last written to the store
	// idle: the store confirmed that no node used the session within
	// the idle limit (see Verify), so it is not asked again.
	idle     atomic.Bool
	host     string // a handoff session is valid on this host only; "" for any
	parentID string // the session a handoff session came from

	// What proxyos_auth gives every request of this session, made once
	// from id when the session is cached, so that passing the gate need
	// not allocate: the placeholder values, already boxed, and the
	// identity header values. Like id, they never change; requests share
	// them, so nothing may write to them (see the proxyos_auth gate).
	user, email, role          any
	userHdr, emailHdr, roleHdr []string
	groupsHdr                  []string

	// checked is the latest cookie value of this session whose MAC a
	// key ring checked: the same value presented to the same key ring
	// needs no second check (an HMAC is a function of the two).
	checked atomic.Pointer[checkedCookie]
}

// checkedCookie is a cookie value and the key ring that checked its MAC.
type checkedCookie struct {
	keys  *keyring.Keyring
	value string
}

// checkedBy reports whether k checked the MAC of exactly value for this
// session. The comparison takes the same time wherever value differs.
func (e *Entry) checkedBy(k *keyring.Keyring, value string) bool {
	c := e.checked.Load()
	if c == nil || c.keys != k || len(c.value) != len(value) {
		return false
	}
	var diff byte
	for i := range len(value) {
		diff |= value[i] ^ c.value[i]
	}
	return diff == 0
}

// newEntry returns the cache entry of a session of id that
// expires at expiresAt (unix nanoseconds).
func newEntry(id Identity, expiresAt int64) *Entry {
	hdr := []string{id.UserID, id.Email, string(id.Role), GroupsHeader(id.Role, id.Groups)} // one allocation for the four
	return &Entry{
		id: id, expiresAt: expiresAt,
		user: id.UserID, email: id.Email, role: string(id.Role),
		// Capacity 1: appending to one copies it instead of writing
		// into the next value.
		userHdr: hdr[0:1:1], emailHdr: hdr[1:2:2], roleHdr: hdr[2:3:3], groupsHdr: hdr[3:4:4],
	}
}

// GroupsHeader is the value of the identity headers that list a user's
// groups (X-Proxyos-Groups, and Remote-Groups of the forward-auth
// endpoint): the role first, then the groups, comma-separated. A group
// holding a comma, which a reader of the list would split in two, is left
// out of it (the route checks of auth.groups still see it).
func GroupsHeader(role authz.Role, groups []string) string {
	var b strings.Builder
	b.WriteString(string(role))
	for _, g := range groups {
		if g == "" || g == string(role) || strings.ContainsAny(g, ",\r\n") {
			continue
		}
		b.WriteByte(',')
		b.WriteString(g)
	}
	return b.String()
}

// Cache verifies session tokens against an in-memory cache backed
// by the store. A cached session is verified with a map lookup and, once
// per cookie value and key ring, a MAC check; a miss costs a MAC check and
// one database query.
type Cache struct {
	store  *store.Store
	now    func() time.Time
	logger func() *zap.Logger

	// afterInsert, when a test sets it, runs between storing a new
	// session and caching it, where a concurrent change can land.
	afterInsert  func()
	unknownKeys  unknownKeys
	audit        *audit.Log
	handoffCodes codeLimiter

	// Loaded, when set, is told how long each read of a session from the
	// store took (a cache miss), and whether it failed.
	Loaded func(d time.Duration, err error)

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*Entry
	// gen counts changes to users and sessions made through the cache
	// (under mu), so a load that read the store before such a change does
	// not cache what it read.
	gen uint64
}

// NewCache returns a cache of the sessions in s, recording handoffs in
// log, with the clock now and the logger the function returns (the
// current config's).
func NewCache(s *store.Store, log *audit.Log, now func() time.Time, logger func() *zap.Logger) *Cache {
	return &Cache{store: s, audit: log, now: now, logger: logger, entries: make(map[[sha256.Size]byte]*Entry)}
}

// Create starts a new session for u and returns its cookie value.
func (c *Cache) Create(ctx context.Context, k *keyring.Keyring, u store.User, ttl time.Duration, clientIP, userAgent string) (string, Identity, error) {
	return c.createSession(ctx, k, Identity{UserID: u.ID, Email: u.Email, Role: authz.Role(u.Role), Groups: u.Groups}, c.now().Add(ttl), clientIP, userAgent, "", "")
}

// CreateChild starts a handoff session from parent, valid on host only
// and ending when parent ends, and returns its cookie value. A parent has
// one handoff session per host: handing off to the host again gives that
// session a new token, and the one it had stops working.
func (c *Cache) CreateChild(ctx context.Context, k *keyring.Keyring, parent store.SessionUser, host, clientIP, userAgent string) (string, Identity, error) {
	id := Identity{UserID: parent.UserID, Email: parent.Email, Role: authz.Role(parent.Role), Groups: parent.Groups}
	return c.createSession(ctx, k, id, parent.ExpiresAt, clientIP, userAgent, parent.ID, host)
}

func (c *Cache) createSession(ctx context.Context, k *keyring.Keyring, id Identity, expires time.Time, clientIP, userAgent, parentID, host string) (string, Identity, error) {
	tok := keyring.NewToken()
	key := tok.CacheKey()
	now := c.now()
	id.SessionID = uuid.NewString()
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	ss := store.Session{
		ID: id.SessionID, TokenHash: hex.EncodeToString(key[:]), UserID: id.UserID,
		CreatedAt: now, ExpiresAt: expires, LastSeenAt: now,
		ClientIP: clientIP, UserAgent: userAgent, ParentID: parentID, Host: host,
	}
	var (
		replaced string // the token hash a reused handoff session had
		err      error
	)
	if parentID == "" {
		err = c.store.CreateSession(ctx, ss)
	} else {
		id.SessionID, replaced, err = c.store.SaveChildSession(ctx, ss)
	}
	if err != nil {
		return "", Identity{}, err
	}
	if c.afterInsert != nil {
		c.afterInsert()
	}
	e := newEntry(id, expires.UnixNano())
	e.host, e.parentID = host, parentID
	e.lastSeen.Store(now.UnixNano())
	e.flushed.Store(now.UnixNano())
	c.mu.Lock()
	// A user or session change since the insert (a revocation of the
	// parent, a disabled account) may not be in e: then the first request
	// loads the session from the store instead.
	if c.gen == gen {
		c.entries[key] = e
	}
	if replaced != "" {
		// The reused session's previous token no longer verifies; a load
		// of it that read the row before the update does not cache it.
		if old, err := hex.DecodeString(replaced); err == nil && len(old) == sha256.Size {
			delete(c.entries, [sha256.Size]byte(old))
		}
		c.gen++
	}
	c.mu.Unlock()
	keep := []string{id.SessionID, parentID}
	revoked, err := c.store.CapUserSessions(ctx, id.UserID, MaxSessionsPerUser, keep, now)
	if err != nil {
		return "", Identity{}, fmt.Errorf("revoking sessions over the limit: %w", err)
	}
	if len(revoked) > 0 {
		c.MarkRevoked(id.UserID, revoked)
	}
	return k.SignToken(tok), id, nil
}

// reasonOf is the reason of a token's problem.
func reasonOf(p keyring.Problem) Reason {
	switch p {
	case keyring.UnknownKey:
		return ReasonUnknownKey
	case keyring.BadSignature:
		return ReasonBadSignature
	}
	return ReasonMalformed
}

// Verify checks a cookie value. On success it returns the identity and
// an empty reason, and records the use for idle expiry. err is non-nil
// only when the store failed on a cache miss.
func (c *Cache) Verify(ctx context.Context, k *keyring.Keyring, cookie string, idle time.Duration) (*Entry, Reason, error) {
	tok, problem := keyring.DecodeToken(cookie)
	if problem != keyring.OK {
		return nil, reasonOf(problem), nil
	}
	key := tok.CacheKey()
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	// The MAC is checked before anything is read from the store, and
	// once per cookie value and key ring for a cached session: the value
	// this key ring already checked for it is the same token signed the
	// same way. Any other value (a forged MAC on a known token, a key
	// since removed from the ring) is checked in full.
	if e == nil || !e.checkedBy(k, cookie) {
		if problem := k.CheckMAC(cookie, &tok); problem != keyring.OK {
			return nil, reasonOf(problem), nil
		}
		if e == nil {
			var err error
			if e, err = c.load(ctx, key); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil, ReasonRevoked, nil
				}
				return nil, "", err
			}
		}
		// A clone: the value may be part of a long Cookie header line.
		e.checked.Store(&checkedCookie{keys: k, value: strings.Clone(cookie)})
	}
	now := c.now().UnixNano()
	switch { // a disabled account says so even though its sessions are revoked too
	case e.disabled.Load():
		return e, ReasonUserDisabled, nil
	case e.revoked.Load():
		return e, ReasonRevoked, nil
	case now >= e.expiresAt:
		return e, ReasonExpired, nil
	case idle > 0 && now-e.lastSeen.Load() >= int64(idle):
		if e.idle.Load() || !c.seenElsewhere(ctx, key, e, now, idle) {
			return e, ReasonIdleTimeout, nil
		}
	}
	if now > e.lastSeen.Load() {
		e.lastSeen.Store(now)
	}
	return e, "", nil
}

// seenElsewhere reports whether the store records a use of e's session
// within idle of now: on another node of a cluster, which records the
// sessions it sees every maintenance round. It then takes that time as
// e's last use; when the store says idle too, e is marked idle for good.
// A failed read counts as no.
func (c *Cache) seenElsewhere(ctx context.Context, key [sha256.Size]byte, e *Entry, now int64, idle time.Duration) bool {
	su, err := c.store.SessionByTokenHash(ctx, hex.EncodeToString(key[:]))
	if err != nil {
		return false
	}
	if !su.RevokedAt.IsZero() || now-su.LastSeenAt.UnixNano() >= int64(idle) {
		e.idle.Store(true)
		return false
	}
	seen := su.LastSeenAt.UnixNano()
	if seen > e.lastSeen.Load() {
		e.lastSeen.Store(seen)
		e.flushed.Store(seen)
	}
	return true
}

// load reads a session from the store into the cache. If a user changed
// while it read (gen moved), it reads again rather than cache a stale
// role or revocation.
func (c *Cache) load(ctx context.Context, key [sha256.Size]byte) (*Entry, error) {
	for {
		c.mu.RLock()
		gen := c.gen
		c.mu.RUnlock()
		e, err := c.loadOnce(ctx, key, gen)
		if e != nil || err != nil {
			return e, err
		}
	}
}

// loadOnce reads a session and caches it unless the generation moved on,
// in which case it returns nil, nil.
func (c *Cache) loadOnce(ctx context.Context, key [sha256.Size]byte, gen uint64) (*Entry, error) {
	start := time.Now()
	su, err := c.store.SessionByTokenHash(ctx, hex.EncodeToString(key[:]))
	if c.Loaded != nil {
		c.Loaded(time.Since(start), err)
	}
	if err != nil {
		return nil, err
	}
	e := newEntry(Identity{SessionID: su.ID, UserID: su.UserID, Email: su.Email, Role: authz.Role(su.Role), Groups: su.Groups},
		su.ExpiresAt.UnixNano())
	e.host, e.parentID = su.Host, su.ParentID
	e.disabled.Store(su.Disabled)
	e.revoked.Store(!su.RevokedAt.IsZero())
	e.lastSeen.Store(su.LastSeenAt.UnixNano())
	e.flushed.Store(su.LastSeenAt.UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil, nil
	}
	if cur := c.entries[key]; cur != nil {
		return cur, nil // another request loaded it first
	}
	c.entries[key] = e
	return e, nil
}

// Revoke revokes one session in the store and the cache.
func (c *Cache) Revoke(ctx context.Context, e *Entry) error {
	ids, err := c.store.RevokeSession(ctx, e.id.SessionID, c.now())
	if err != nil {
		return err
	}
	e.revoked.Store(true)
	if len(ids) > 0 { // its handoff sessions on other hosts end with it
		c.MarkRevoked(e.id.UserID, ids)
	}
	return nil
}

// Flush writes last-seen times that changed since the previous flush.
func (c *Cache) Flush(ctx context.Context) error {
	seen := make(map[string]time.Time)
	var touched []*Entry
	c.mu.RLock()
	for _, e := range c.entries {
		if ls := e.lastSeen.Load(); ls > e.flushed.Load() {
			seen[e.id.SessionID] = time.Unix(0, ls)
			touched = append(touched, e)
		}
	}
	c.mu.RUnlock()
	if err := c.store.TouchSessions(ctx, seen); err != nil {
		return err
	}
	for _, e := range touched {
		e.flushed.Store(seen[e.id.SessionID].UnixNano())
	}
	return nil
}

// Prune drops cached sessions that expired or went idle.
func (c *Cache) Prune(idle time.Duration) {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if now >= e.expiresAt || (idle > 0 && now-e.lastSeen.Load() >= int64(idle)) {
			delete(c.entries, k)
		}
	}
}

// Len returns how many sessions are cached.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// MarkRevoked marks cached sessions of a user revoked: those with the
// given ids, or all of them when ids is nil. Marking (rather than
// dropping) the entries means a request that loaded one just before the
// revocation cannot put back a stale copy.
func (c *Cache) MarkRevoked(userID string, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++ // a load reading the store right now reads again
	for _, e := range c.entries {
		if e.id.UserID == userID && (ids == nil || slices.Contains(ids, e.id.SessionID)) {
			e.revoked.Store(true)
		}
	}
}

// MarkDisabled sets the disabled flag of a user's cached sessions.
func (c *Cache) MarkDisabled(userID string, disabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, e := range c.entries {
		if e.id.UserID == userID {
			e.disabled.Store(disabled)
		}
	}
}

// Forget drops a session and its handoff sessions from the cache,
// so the next request reloads them (with the user's current role) from
// the store.
func (c *Cache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.id.SessionID == id || e.parentID == id { // and its handoff sessions
			delete(c.entries, k)
		}
	}
}

// ForgetAll empties the cache, so every session is read again from the
// store: for a cluster node that missed changes (see cluster.Feed).
func (c *Cache) ForgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// ForgetUser drops every cached session of a user, so the next request
// of each reloads role, disabled flag and revocations from the store.
func (c *Cache) ForgetUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.id.UserID == userID {
			delete(c.entries, k)
		}
	}
}

// LastSeenOf returns the cached last-seen times of a user's sessions.
func (c *Cache) LastSeenOf(userID string) map[string]time.Time {
	seen := make(map[string]time.Time)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if e.id.UserID == userID {
			seen[e.id.SessionID] = time.Unix(0, e.lastSeen.Load()).UTC()
		}
	}
	return seen
}

// Identity returns who the session belongs to.
func (e *Entry) Identity() Identity { return e.id }

// ExpiresAt returns when the session ends at the latest.
func (e *Entry) ExpiresAt() time.Time { return time.Unix(0, e.expiresAt) }

// Host returns the host a handoff session is valid on, or "" for a
// session valid wherever its cookie goes.
func (e *Entry) Host() string { return e.host }

// Placeholders returns the values of {http.auth.user.id}, .email and
// .role, boxed once for every request of the session.
func (e *Entry) Placeholders() (user, email, role any) { return e.user, e.email, e.role }

// Headers returns the values of the X-Proxyos-User, -Email and -Role
// headers, made once for every request of the session. Requests share
// them: nothing may write to them.
func (e *Entry) Headers() (user, email, role []string) { return e.userHdr, e.emailHdr, e.roleHdr }

// GroupsHeader returns the value of the X-Proxyos-Groups header (see
// GroupsHeader), made once for every request of the session. Requests
// share it: nothing may write to it.
func (e *Entry) GroupsHeader() []string { return e.groupsHdr }

// InGroup reports whether the session's user is in one of groups (exact
// names), without allocating.
func (e *Entry) InGroup(groups []string) bool {
	for _, g := range groups {
		if slices.Contains(e.id.Groups, g) {
			return true
		}
	}
	return false
}

// VerifyCookies verifies the values of a request's session cookies
// (request.ScanCookies) for a request to host (its Host header, normalized
// only when a handoff session needs it) and returns the first
// valid session, or the reason the first cookie was refused. Trying each
// one keeps a stale host-only cookie from hiding a valid cookie_domain
// one (which would loop the login). A handoff session presented on
// another host than its own is refused with ReasonOtherHost. A cookie
// signed with a secret no longer configured is logged, once per key id.
func (c *Cache) VerifyCookies(ctx context.Context, k *keyring.Keyring, cookies request.CookieScan, host string, idle time.Duration) (*Entry, Reason, error) {
	var (
		first   Reason
		firstE  *Entry
		checked bool
	)
	for {
		cookie, ok := cookies.Next()
		if !ok {
			break
		}
		e, reason, err := c.Verify(ctx, k, cookie, idle)
		if err != nil {
			return nil, "", err
		}
		if reason == "" && e.host != "" && request.NormalizeHost(host) != e.host {
			reason = ReasonOtherHost // a handoff cookie copied to another host
		}
		if reason == "" {
			return e, "", nil
		}
		if reason == ReasonUnknownKey {
			c.logUnknownKey(cookie, k)
		}
		if !checked {
			first, firstE, checked = reason, e, true
		}
	}
	if !checked {
		return nil, ReasonNoCookie, nil
	}
	return firstE, first, nil
}

// maxLoggedUnknownKeys bounds the key ids reported and counted: anyone
// can send cookies with made-up key ids, and each must not cost a log
// line or memory.
const maxLoggedUnknownKeys = 16

// UnknownKey counts the session cookies refused because no configured
// secret made the key that signed them (reason unknown_key).
type UnknownKey struct {
	ID          string
	Refusals    int
	First, Last time.Time
}

// unknownKeys remembers the key ids reported, so a browser with an old
// cookie does not flood the log, and counts their cookies for the doctor.
type unknownKeys struct {
	mu  sync.Mutex
	ids map[string]*UnknownKey
}

// logUnknownKey counts a cookie signed with a secret no longer
// configured and logs it once per key id, for a few ids only.
func (c *Cache) logUnknownKey(cookie string, k *keyring.Keyring) {
	id := keyring.KeyIDOf(cookie)
	now := c.now()
	u := &c.unknownKeys
	u.mu.Lock()
	if u.ids == nil {
		u.ids = make(map[string]*UnknownKey)
	}
	if seen := u.ids[id]; seen != nil || len(u.ids) >= maxLoggedUnknownKeys {
		if seen != nil {
			seen.Refusals++
			seen.Last = now
		}
		u.mu.Unlock()
		return
	}
	u.ids[id] = &UnknownKey{ID: id, Refusals: 1, First: now, Last: now}
	u.mu.Unlock()
	c.logger().Warn("session cookie signed with a key that is not configured; list the old secret under previous_secrets to keep such sessions",
		zap.String("key_id", id), zap.String("current_key_id", k.CurrentID()))
}

// UnknownKeys returns the key ids of the cookies refused with reason
// unknown_key (at most 16 ids), with how many and when, by first refusal.
func (c *Cache) UnknownKeys() []UnknownKey {
	u := &c.unknownKeys
	u.mu.Lock()
	out := make([]UnknownKey, 0, len(u.ids))
	for _, k := range u.ids {
		out = append(out, *k)
	}
	u.mu.Unlock()
	slices.SortFunc(out, func(a, b UnknownKey) int { return a.First.Compare(b.First) })
	return out
}
