package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// API keys look like "pxos_" + 16 characters of key id + 48 characters of
// secret (240 random bits), all in lower-case base32, so a key is one
// word that survives copying, shells and URLs, and its id needs no
// separator.
const (
	apiKeyPrefix    = "pxos_"
	apiKeyIDBytes   = 10
	apiKeySecretLen = 30
	apiKeyIDChars   = apiKeyIDBytes * 8 / 5
	apiKeyLen       = len(apiKeyPrefix) + apiKeyIDChars + apiKeySecretLen*8/5
	maxKeyNameLen   = 100
	keyTouchEvery   = time.Minute // last_used_at is written at most this often
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Key is how every surface shows an API key; never the key or its digest.
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	UserID     string     `json:"user_id"`
	Email      string     `json:"email"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func KeyView(k store.APIKey, email string) Key {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return Key{ID: k.ID, Name: k.Name, Scopes: k.Scopes, UserID: k.UserID, Email: email,
		CreatedAt: k.CreatedAt, ExpiresAt: opt(k.ExpiresAt), LastUsedAt: opt(k.LastUsedAt), RevokedAt: opt(k.RevokedAt)}
}

// Reasons an API key is refused.
const (
	ReasonKeyInvalid session.Reason = "key_invalid" // malformed, unknown or wrong
	ReasonKeyExpired session.Reason = "key_expired"
	ReasonKeyRevoked session.Reason = "key_revoked"
)

// parseAPIKey checks the shape of a key and returns its id. It never
// fails on what could be a real key and never accepts what cannot be.
func parseAPIKey(raw string) (string, bool) {
	if len(raw) != apiKeyLen || !strings.HasPrefix(raw, apiKeyPrefix) {
		return "", false
	}
	for i := len(apiKeyPrefix); i < len(raw); i++ {
		c := raw[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return "", false
		}
	}
	return raw[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyIDChars], true
}

func apiKeyContext(id string) string { return "apikey:" + id }

// apiKeyDigest is what is stored, sealed, for a key.
func apiKeyDigest(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

// NewAPIKey describes a key to make.
type NewAPIKey struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn string   `json:"expires_in,omitempty"` // a duration like 720h or 30d; "" never expires
}

// createKey makes a key for owner and returns it, once, with its
// record. The key is stored as its SHA-256 digest sealed with the key
// ring.
func (s *Service) createKey(ctx context.Context, owner store.User, nk NewAPIKey) (string, store.APIKey, error) {
	name := strings.TrimSpace(nk.Name)
	switch {
	case name == "":
		return "", store.APIKey{}, fail.Field("name", "required")
	case len(name) > maxKeyNameLen:
		return "", store.APIKey{}, fail.Field("name", "at most %d characters", maxKeyNameLen)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		// format characters such as U+202E would let a name read as
		// something else in the list and the audit log
		return "", store.APIKey{}, fail.Field("name", "must not contain control or formatting characters")
	}
	if len(nk.Scopes) == 0 {
		return "", store.APIKey{}, fail.Field("scopes", "give at least one scope")
	}
	var scopes []string
	for _, name := range nk.Scopes {
		min, ok := authz.Scope(name).MinRole()
		if !ok {
			return "", store.APIKey{}, fail.Field("scopes", "unknown scope %q (known: %s)", name, scopeList(authz.Grantable(authz.Admin)))
		}
		if !authz.Role(owner.Role).AtLeast(min) {
			return "", store.APIKey{}, fail.Field("scopes", "role %s cannot grant %s", owner.Role, name)
		}
		if !slices.Contains(scopes, name) {
			scopes = append(scopes, name)
		}
	}
	now := s.Now().UTC()
	k := store.APIKey{UserID: owner.ID, Name: name, Scopes: scopes, CreatedAt: now}
	if nk.ExpiresIn != "" {
		d, err := parseDuration(nk.ExpiresIn)
		if err != nil || d <= 0 {
			return "", store.APIKey{}, fail.Field("expires_in", "must be a positive duration such as 720h or 30d, or empty for no expiry")
		}
		k.ExpiresAt = now.Add(d)
	}
	idBytes := make([]byte, apiKeyIDBytes)
	secret := make([]byte, apiKeySecretLen)
	rand.Read(idBytes) //nolint:errcheck // never fails
	rand.Read(secret)  //nolint:errcheck // never fails
	k.ID = keyEncoding.EncodeToString(idBytes)
	raw := apiKeyPrefix + k.ID + keyEncoding.EncodeToString(secret)
	sealed, err := s.Keys.Seal(apiKeyDigest(raw), apiKeyContext(k.ID))
	if err != nil {
		return "", store.APIKey{}, err
	}
	k.Digest = sealed
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return "", store.APIKey{}, fmt.Errorf("storing API key: %w", err)
	}
	s.Logger().Info("API key created", zap.String("key_id", k.ID), zap.String("user_id", owner.ID), zap.Strings("scopes", scopes))
	return raw, k, nil
}

// KeyCaller is the verified key of a request and the user it acts for.
type KeyCaller struct {
	Key  store.APIKey
	User store.User
}

// VerifyKey checks a bearer key. It answers a Reason for keys that are
// not (or no longer) valid, and an error only when the store fails.
func (s *Service) VerifyKey(ctx context.Context, raw string) (*KeyCaller, session.Reason, error) {
	id, ok := parseAPIKey(raw)
	if !ok {
		return nil, ReasonKeyInvalid, nil
	}
	k, err := s.Store.APIKeyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonKeyInvalid, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading API key: %w", err)
	}
	want, err := s.Keys.Open(k.Digest, apiKeyContext(k.ID))
	if err != nil {
		var uk *keyring.UnknownKeyError
		if errors.As(err, &uk) {
			s.Logger().Warn("API key sealed with a key that is not configured; make a new key",
				zap.String("api_key_id", k.ID), zap.String("key_id", uk.KeyID))
		}
		return nil, ReasonKeyInvalid, nil
	}
	if subtle.ConstantTimeCompare(want, apiKeyDigest(raw)) != 1 {
		return nil, ReasonKeyInvalid, nil
	}
	now := s.Now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, ReasonKeyRevoked, nil
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return nil, ReasonKeyExpired, nil
	}
	u, err := s.Store.UserByID(ctx, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonKeyInvalid, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading user: %w", err)
	}
	if u.Disabled {
		return nil, session.ReasonUserDisabled, nil
	}
	if now.Sub(k.LastUsedAt) >= keyTouchEvery {
		if err := s.Store.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.Logger().Warn("recording API key use", zap.Error(err))
		}
		k.LastUsedAt = now.UTC()
	}
	return &KeyCaller{Key: k, User: u}, "", nil
}

// revokeKey revokes a key. It reports false when it was revoked
// already.
func (s *Service) revokeKey(ctx context.Context, id string) (bool, error) {
	ok, err := s.Store.RevokeAPIKey(ctx, id, s.Now())
	if err != nil {
		return false, err
	}
	if ok {
		s.Logger().Info("API key revoked", zap.String("key_id", id))
	}
	return ok, nil
}

// scopeList joins scopes for a message.
func scopeList(ss []authz.Scope) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// APIKeys lists the API keys of the caller, or for admins of the user
// userID, with their owner's email and the scopes the caller may grant.
func (s *Service) APIKeys(ctx context.Context, c Caller, userID string) ([]Key, []authz.Scope, error) {
	target, err := s.target(ctx, c, userID)
	if err != nil {
		return nil, nil, err
	}
	owner, err := s.Store.UserByID(ctx, target)
	if err != nil {
		return nil, nil, notFoundAsUser(err)
	}
	keys, err := s.Store.ListAPIKeys(ctx, target)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyView(k, owner.Email))
	}
	return out, authz.Grantable(c.Role), nil
}

// CreateKey makes a key for the caller and returns it, this once, with
// its view. It needs the caller's password, so a stolen session cannot
// mint a key that outlives it, and never an API key.
func (s *Service) CreateKey(ctx context.Context, c Caller, nk NewAPIKey, password string) (string, Key, error) {
	if c.ViaKey() || c.IsHost() {
		return "", Key{}, fail.Forbidden("", "API keys are made by their owner, logged in to the dashboard")
	}
	owner, err := s.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return "", Key{}, notFoundAsUser(err)
	}
	if err := s.confirmOwn(ctx, c, owner, password); err != nil {
		return "", Key{}, err
	}
	raw, k, err := s.createKey(ctx, owner, nk)
	if err != nil {
		return "", Key{}, err
	}
	kv := KeyView(k, owner.Email)
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.KeyCreate, Target: k.Name,
		After: map[string]any{"id": k.ID, "name": k.Name, "scopes": k.Scopes, "expires_at": kv.ExpiresAt}})
	return raw, kv, nil
}

// RevokeKey revokes one of the caller's keys, or any for admins. Anyone
// else's key is a *fail.NotFoundError like a key that does not exist.
func (s *Service) RevokeKey(ctx context.Context, c Caller, id string) error {
	k, err := s.Store.APIKeyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.UserID != c.UserID && !c.Role.AtLeast(authz.Admin)) {
		return fail.NotFound("no such API key")
	}
	if err != nil {
		return err
	}
	if _, err := s.revokeKey(ctx, k.ID); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.KeyRevoke, Target: k.Name,
		Extra: map[string]any{"id": k.ID, "user_id": k.UserID}})
	return nil
}

// parseDuration is time.ParseDuration with days ("30d", "1d12h") as
// well, as Caddy reads durations.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for {
		i := strings.IndexByte(rest, 'd')
		if i < 0 {
			break
		}
		j := i
		for j > 0 && (rest[j-1] >= '0' && rest[j-1] <= '9' || rest[j-1] == '.') {
			j--
		}
		if j == i {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days, err := strconv.ParseFloat(rest[j:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += time.Duration(days * float64(24*time.Hour))
		rest = rest[:j] + rest[i+1:]
	}
	if rest == "" {
		return total, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return total + d, nil
}
