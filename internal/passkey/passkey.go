// Package passkey owns proxyos's passkeys (WebAuthn credentials): the
// two ceremonies (registering a passkey, logging in with one) with the
// Relying Party ID and origin of the dashboard's url, the challenge state
// between their two requests (stored, bound to the browser by a cookie,
// used once), the credential records sealed with the key ring, and the
// sign counters that betray a cloned credential. Who may register or
// remove a passkey, and the audit entries, are the account service's
// rules (internal/account/passkeys.go).
package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// CeremonyTTL is how long a ceremony's challenge may be answered.
const CeremonyTTL = 5 * time.Minute

// MaxName is the longest passkey name.
const MaxName = 64

// maxCeremonies bounds the ceremonies in progress, so that anonymous
// login requests cannot grow the database without end.
const maxCeremonies = 10000

// The purposes of a ceremony.
const (
	purposeRegister = "register"
	purposeLogin    = "login"         // passwordless: the passkey alone
	purposeSecond   = "second_factor" // after the password of the user
)

// Errors of a refused login, which callers record in the audit log.
var (
	// ErrInvalid is an assertion that does not verify: wrong challenge,
	// RP ID, origin, signature, or a credential of another account.
	ErrInvalid = errors.New("the passkey could not be verified")
	// ErrCloned is a sign counter that went back: two copies of the
	// credential exist.
	ErrCloned = errors.New("the passkey's signature counter went back: the credential may have been copied")
	// ErrExpired is a ceremony that is unknown, used or expired.
	ErrExpired = errors.New("the passkey request expired or was used already; try again")
	// ErrDisabled is a login of a disabled user.
	ErrDisabled = errors.New("the account is disabled")
)

// Service runs the WebAuthn ceremonies of one config.
type Service struct {
	Store  *store.Store
	Keys   *keyring.Keyring
	Now    func() time.Time
	Logger func() *zap.Logger

	rpID, origin string
	wa           *webauthn.WebAuthn
	off          string // why passkeys are off, or ""
}

// New returns the service for the dashboard's url: its host is the
// Relying Party ID and its origin the only one accepted. Without a url,
// or with an IP address for host (which WebAuthn does not allow), the
// service refuses every ceremony with the reason.
func New(st *store.Store, keys *keyring.Keyring, canonical *url.URL, now func() time.Time, logger func() *zap.Logger) *Service {
	s := &Service{Store: st, Keys: keys, Now: now, Logger: logger}
	switch {
	case canonical == nil:
		s.off = "passkeys need the dashboard's url (the proxyos app's url option)"
		return s
	case net.ParseIP(canonical.Hostname()) != nil:
		s.off = "passkeys need a domain name in the dashboard's url, not an IP address"
		return s
	}
	s.rpID, s.origin = canonical.Hostname(), canonical.Scheme+"://"+canonical.Host
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: s.rpID, RPDisplayName: "ProxyOS", RPOrigins: []string{s.origin},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		s.off = "passkeys are off: " + err.Error()
		return s
	}
	s.wa = wa
	return s
}

// RPID returns the Relying Party ID, or "" when passkeys are off.
func (s *Service) RPID() string {
	if s == nil || s.wa == nil {
		return ""
	}
	return s.rpID
}

// Available returns nil, or a *fail.ConflictError saying why passkeys
// are off.
func (s *Service) Available() error {
	if s == nil || s.wa == nil {
		msg := "passkeys are off"
		if s != nil {
			msg = s.off
		}
		return fail.Conflict("", msg)
	}
	return nil
}

// SealContext is the sealing context of the passkey record id: a record
// opens only under its own row.
func SealContext(id string) string { return "passkey:" + id }

// record is what is sealed: the credential and the user it belongs to,
// so that a record copied to another user's row does not open as theirs.
type record struct {
	UserID     string              `json:"user_id"`
	Credential webauthn.Credential `json:"credential"`
}

func (s *Service) seal(id, userID string, c webauthn.Credential) (string, error) {
	b, err := json.Marshal(record{UserID: userID, Credential: c})
	if err != nil {
		return "", err
	}
	return s.Keys.Seal(b, SealContext(id))
}

// open returns the credential of p, with the sign counter of its row.
func (s *Service) open(p store.Passkey) (webauthn.Credential, error) {
	b, err := s.Keys.Open(p.Credential, SealContext(p.ID))
	if err != nil {
		var uk *keyring.UnknownKeyError
		if errors.As(err, &uk) {
			s.Logger().Error("a passkey is sealed with a key that is not configured; add the old secret to previous_secrets or remove the passkey",
				zap.String("passkey_id", p.ID), zap.String("key_id", uk.KeyID))
		}
		return webauthn.Credential{}, fmt.Errorf("opening passkey %s: %w", p.ID, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return webauthn.Credential{}, fmt.Errorf("reading passkey %s: %w", p.ID, err)
	}
	if r.UserID != p.UserID || encodeID(r.Credential.ID) != p.CredentialID {
		return webauthn.Credential{}, fmt.Errorf("passkey %s: the record belongs to another row", p.ID)
	}
	r.Credential.Authenticator.SignCount = p.SignCount
	return r.Credential, nil
}

func encodeID(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// View is how a passkey is shown: never its credential record.
type View struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// ViewOf returns how p is shown.
func ViewOf(p store.Passkey) View {
	v := View{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt
		v.LastUsedAt = &t
	}
	return v
}

// user is a proxyos user as go-webauthn sees it. The user handle is the
// user's id: random, and what a discoverable login names.
type user struct {
	u     store.User
	creds []webauthn.Credential
	rows  []store.Passkey // the rows of creds, in the same order
}

func (w *user) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *user) WebAuthnName() string                       { return w.u.Email }
func (w *user) WebAuthnDisplayName() string                { return w.u.Email }
func (w *user) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// loadUser returns u with their passkeys. A passkey that does not open
// is left out (and logged by open).
func (s *Service) loadUser(ctx context.Context, u store.User) (*user, error) {
	rows, err := s.Store.UserPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := &user{u: u}
	for _, p := range rows {
		c, err := s.open(p)
		if err != nil {
			s.Logger().Warn("a passkey cannot be used", zap.String("passkey_id", p.ID), zap.Error(err))
			continue
		}
		w.creds, w.rows = append(w.creds, c), append(w.rows, p)
	}
	return w, nil
}

// Ceremony is a started ceremony: the id the browser keeps in a cookie
// and the options for navigator.credentials.
type Ceremony struct {
	ID      string `json:"-"`
	Options any    `json:"options"`
}

// ceremonyData is what a challenge row keeps.
type ceremonyData struct {
	Session webauthn.SessionData `json:"session"`
	Name    string               `json:"name,omitempty"`
}

// begin stores the state of a ceremony and returns its id.
func (s *Service) begin(ctx context.Context, purpose, userID, sessionID string, data ceremonyData) (string, error) {
	if n, err := s.Store.CountPasskeyChallenges(ctx, s.Now()); err != nil {
		return "", err
	} else if n >= maxCeremonies {
		return "", &fail.RateLimitedError{RetryAfter: CeremonyTTL, What: "passkey requests in progress"}
	}
	raw := make([]byte, 32)
	rand.Read(raw) //nolint:errcheck // never fails
	id := base64.RawURLEncoding.EncodeToString(raw)
	b, err := json.Marshal(data)
	if err != nil {
		return "", err
	}
	err = s.Store.PutPasskeyChallenge(ctx, store.PasskeyChallenge{ID: ceremonyKey(id), Purpose: purpose, UserID: userID,
		SessionID: sessionID, Data: string(b), ExpiresAt: s.Now().Add(CeremonyTTL)}, s.Now())
	return id, err
}

// take returns the state of the ceremony id, once.
func (s *Service) take(ctx context.Context, id string) (store.PasskeyChallenge, ceremonyData, error) {
	if id == "" || len(id) > 100 {
		return store.PasskeyChallenge{}, ceremonyData{}, ErrExpired
	}
	c, err := s.Store.TakePasskeyChallenge(ctx, ceremonyKey(id), s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.PasskeyChallenge{}, ceremonyData{}, ErrExpired
	}
	if err != nil {
		return store.PasskeyChallenge{}, ceremonyData{}, err
	}
	var d ceremonyData
	if err := json.Unmarshal([]byte(c.Data), &d); err != nil {
		return store.PasskeyChallenge{}, ceremonyData{}, err
	}
	return c, d, nil
}

// ceremonyKey is how a ceremony id is stored: hashed, so that reading
// the database does not give a browser's id.
func ceremonyKey(id string) string {
	sum := sha256.Sum256([]byte("proxyos passkey ceremony v1:" + id))
	return hex.EncodeToString(sum[:])
}
