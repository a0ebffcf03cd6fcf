package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

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

// Scopes of API keys, and the least role that may grant each: a key can
// never do more than the role of the user who made it.
const (
	ScopeRoutesRead  = "routes:read"
	ScopeRoutesWrite = "routes:write"
	ScopeUsersRead   = "users:read"
	ScopeUsersWrite  = "users:write"
	ScopeAuditRead   = "audit:read"
	ScopeAdmin       = "admin" // every endpoint that takes keys
)

var scopeLevels = []struct {
	scope string
	level level
}{
	{ScopeRoutesRead, viewer}, {ScopeRoutesWrite, operator},
	{ScopeUsersRead, admin}, {ScopeUsersWrite, admin},
	{ScopeAuditRead, admin}, {ScopeAdmin, admin},
}

// scopeLevel returns the least role level that may grant scope, or -1
// for an unknown scope.
func scopeLevel(scope string) level {
	for _, s := range scopeLevels {
		if s.scope == scope {
			return s.level
		}
	}
	return -1
}

// grantableScopes lists the scopes a user of the role may give a key.
func grantableScopes(role string) []string {
	out := []string{}
	for _, s := range scopeLevels {
		if roleLevel(role) >= s.level {
			out = append(out, s.scope)
		}
	}
	return out
}

// scopesCover reports whether a key with scopes may call an endpoint that
// needs need: the scope itself, its ":write" sibling for a ":read" need,
// or admin. An empty need means the endpoint takes no keys.
func scopesCover(scopes []string, need string) bool {
	if need == "" {
		return false
	}
	if slices.Contains(scopes, ScopeAdmin) || slices.Contains(scopes, need) {
		return true
	}
	if res, ok := strings.CutSuffix(need, ":read"); ok {
		return slices.Contains(scopes, res+":write")
	}
	return false
}

// Reasons an API key is refused.
const (
	ReasonKeyInvalid Reason = "key_invalid" // malformed, unknown or wrong
	ReasonKeyExpired Reason = "key_expired"
	ReasonKeyRevoked Reason = "key_revoked"
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

// CreateAPIKey makes a key for owner and returns it, once, with its
// record. The key is stored as its SHA-256 digest sealed with the key
// ring.
func (a *App) CreateAPIKey(ctx context.Context, owner store.User, nk NewAPIKey) (string, store.APIKey, error) {
	name := strings.TrimSpace(nk.Name)
	switch {
	case name == "":
		return "", store.APIKey{}, &FieldError{"name", "required"}
	case len(name) > maxKeyNameLen:
		return "", store.APIKey{}, &FieldError{"name", fmt.Sprintf("at most %d characters", maxKeyNameLen)}
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		// format characters such as U+202E would let a name read as
		// something else in the list and the audit log
		return "", store.APIKey{}, &FieldError{"name", "must not contain control or formatting characters"}
	}
	if len(nk.Scopes) == 0 {
		return "", store.APIKey{}, &FieldError{"scopes", "give at least one scope"}
	}
	var scopes []string
	for _, s := range nk.Scopes {
		l := scopeLevel(s)
		if l < 0 {
			return "", store.APIKey{}, &FieldError{"scopes", fmt.Sprintf("unknown scope %q (known: %s)", s, strings.Join(grantableScopes(RoleAdmin), ", "))}
		}
		if roleLevel(owner.Role) < l {
			return "", store.APIKey{}, &FieldError{"scopes", fmt.Sprintf("role %s cannot grant %s", owner.Role, s)}
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := a.now().UTC()
	k := store.APIKey{UserID: owner.ID, Name: name, Scopes: scopes, CreatedAt: now}
	if nk.ExpiresIn != "" {
		d, err := caddy.ParseDuration(nk.ExpiresIn)
		if err != nil || d <= 0 {
			return "", store.APIKey{}, &FieldError{"expires_in", "must be a positive duration such as 720h or 30d, or empty for no expiry"}
		}
		k.ExpiresAt = now.Add(d)
	}
	idBytes := make([]byte, apiKeyIDBytes)
	secret := make([]byte, apiKeySecretLen)
	rand.Read(idBytes) //nolint:errcheck // never fails
	rand.Read(secret)  //nolint:errcheck // never fails
	k.ID = keyEncoding.EncodeToString(idBytes)
	raw := apiKeyPrefix + k.ID + keyEncoding.EncodeToString(secret)
	sealed, err := a.keyring.Seal(apiKeyDigest(raw), apiKeyContext(k.ID))
	if err != nil {
		return "", store.APIKey{}, err
	}
	k.Digest = sealed
	if err := a.state.store.CreateAPIKey(ctx, k); err != nil {
		return "", store.APIKey{}, fmt.Errorf("storing API key: %w", err)
	}
	a.logger.Info("API key created", zap.String("key_id", k.ID), zap.String("user_id", owner.ID), zap.Strings("scopes", scopes))
	return raw, k, nil
}

// keyCaller is the verified key of a request and the user it acts for.
type keyCaller struct {
	key  store.APIKey
	user store.User
}

// verifyAPIKey checks a bearer key. It answers a Reason for keys that are
// not (or no longer) valid, and an error only when the store fails.
func (a *App) verifyAPIKey(ctx context.Context, raw string) (*keyCaller, Reason, error) {
	id, ok := parseAPIKey(raw)
	if !ok {
		return nil, ReasonKeyInvalid, nil
	}
	k, err := a.state.store.APIKeyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonKeyInvalid, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading API key: %w", err)
	}
	want, err := a.keyring.Open(k.Digest, apiKeyContext(k.ID))
	if err != nil {
		var uk *keyring.UnknownKeyError
		if errors.As(err, &uk) {
			a.logger.Warn("API key sealed with a key that is not configured; make a new key",
				zap.String("api_key_id", k.ID), zap.String("key_id", uk.KeyID))
		}
		return nil, ReasonKeyInvalid, nil
	}
	if subtle.ConstantTimeCompare(want, apiKeyDigest(raw)) != 1 {
		return nil, ReasonKeyInvalid, nil
	}
	now := a.now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, ReasonKeyRevoked, nil
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return nil, ReasonKeyExpired, nil
	}
	u, err := a.state.store.UserByID(ctx, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonKeyInvalid, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading user: %w", err)
	}
	if u.Disabled {
		return nil, ReasonUserDisabled, nil
	}
	if now.Sub(k.LastUsedAt) >= keyTouchEvery {
		if err := a.state.store.TouchAPIKey(ctx, k.ID, now); err != nil {
			a.logger.Warn("recording API key use", zap.Error(err))
		}
		k.LastUsedAt = now.UTC()
	}
	return &keyCaller{key: k, user: u}, "", nil
}

// RevokeAPIKey revokes a key. It reports false when it was revoked
// already.
func (a *App) RevokeAPIKey(ctx context.Context, id string) (bool, error) {
	ok, err := a.state.store.RevokeAPIKey(ctx, id, a.now())
	if err != nil {
		return false, err
	}
	if ok {
		a.logger.Info("API key revoked", zap.String("key_id", id))
	}
	return ok, nil
}
