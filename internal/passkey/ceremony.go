package passkey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// BeginRegistration starts registering a passkey named name for u, from
// the session sessionID: a discoverable credential (so that it can log
// in alone), excluding the authenticators u registered already. The
// caller has checked who may register (see account).
func (s *Service) BeginRegistration(ctx context.Context, u store.User, sessionID, name string) (Ceremony, error) {
	if err := s.Available(); err != nil {
		return Ceremony{}, err
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return Ceremony{}, fail.Field("name", "name the passkey, such as the device it is on")
	case len(name) > MaxName:
		return Ceremony{}, fail.Field("name", "at most %d characters", MaxName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Ceremony{}, fail.Field("name", "no control characters")
	}
	w, err := s.loadUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	creation, sd, err := s.wa.BeginRegistration(w,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()),
	)
	if err != nil {
		return Ceremony{}, fmt.Errorf("starting passkey registration: %w", err)
	}
	id, err := s.begin(ctx, purposeRegister, u.ID, sessionID, ceremonyData{Session: *sd, Name: name})
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{ID: id, Options: creation}, nil
}

// FinishRegistration checks the authenticator's response to the
// registration ceremonyID, which u must have begun from the same
// session, and stores the passkey.
func (s *Service) FinishRegistration(ctx context.Context, u store.User, sessionID, ceremonyID string, response []byte) (store.Passkey, error) {
	if err := s.Available(); err != nil {
		return store.Passkey{}, err
	}
	c, d, err := s.take(ctx, ceremonyID)
	if errors.Is(err, ErrExpired) {
		return store.Passkey{}, fail.Conflict("", err.Error())
	}
	if err != nil {
		return store.Passkey{}, err
	}
	if c.Purpose != purposeRegister || c.UserID != u.ID || c.SessionID != sessionID {
		return store.Passkey{}, fail.Forbidden("", "this passkey request was started by another session; start again")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Passkey{}, fail.Field("credential", "not a passkey registration response")
	}
	w, err := s.loadUser(ctx, u)
	if err != nil {
		return store.Passkey{}, err
	}
	cred, err := s.wa.CreateCredential(w, d.Session, parsed)
	if err != nil {
		s.Logger().Info("passkey registration refused", zap.String("user_id", u.ID), zap.String("why", protocolDetails(err)))
		return store.Passkey{}, fail.Field("credential", "the passkey could not be verified")
	}
	p := store.Passkey{ID: uuid.NewString(), UserID: u.ID, Name: d.Name, CredentialID: encodeID(cred.ID),
		SignCount: cred.Authenticator.SignCount, CreatedAt: s.Now()}
	if p.Credential, err = s.seal(p.ID, u.ID, *cred); err != nil {
		return store.Passkey{}, err
	}
	switch err := s.Store.CreatePasskey(ctx, p); {
	case errors.Is(err, store.ErrConflict):
		return store.Passkey{}, fail.Conflict("", "this passkey is registered already")
	case err != nil:
		return store.Passkey{}, fmt.Errorf("storing passkey: %w", err)
	}
	return p, nil
}

// BeginLogin starts a login with a passkey: of u, whose password was
// checked, as the second factor; or, for u nil, a passkey alone, which
// must then verify its user (a PIN or biometric) and names its account.
func (s *Service) BeginLogin(ctx context.Context, u *store.User) (Ceremony, error) {
	if err := s.Available(); err != nil {
		return Ceremony{}, err
	}
	var (
		assertion *protocol.CredentialAssertion
		sd        *webauthn.SessionData
		purpose   = purposeLogin
		userID    string
		err       error
	)
	if u == nil {
		assertion, sd, err = s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		w, lerr := s.loadUser(ctx, *u)
		if lerr != nil {
			return Ceremony{}, lerr
		}
		if len(w.creds) == 0 {
			return Ceremony{}, fail.Conflict("", "this account has no passkey")
		}
		purpose, userID = purposeSecond, u.ID
		assertion, sd, err = s.wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	}
	if err != nil {
		return Ceremony{}, fmt.Errorf("starting passkey login: %w", err)
	}
	id, err := s.begin(ctx, purpose, userID, "", ceremonyData{Session: *sd})
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{ID: id, Options: assertion}, nil
}

// Login is the outcome of a login with a passkey. User is set as soon as
// it is known, also when the login is refused, for the audit log.
type Login struct {
	User         store.User
	Passkey      store.Passkey
	SecondFactor bool // the passkey followed the password
}

// FinishLogin checks the authenticator's response to the login
// ceremonyID and records the passkey's new sign counter. It refuses with
// ErrExpired, ErrInvalid (also for a credential of another account than
// the one the response names, or than the password's), ErrDisabled or
// ErrCloned (a sign counter that did not go up).
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, response []byte) (Login, error) {
	if err := s.Available(); err != nil {
		return Login{}, err
	}
	c, d, err := s.take(ctx, ceremonyID)
	if err != nil {
		return Login{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Login{}, ErrInvalid
	}
	var (
		w    *user
		cred *webauthn.Credential
		out  Login
	)
	switch c.Purpose {
	case purposeLogin:
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			p, err := s.Store.PasskeyByCredentialID(ctx, encodeID(rawID))
			if err != nil {
				return nil, fmt.Errorf("unknown credential: %w", err)
			}
			if !bytes.Equal([]byte(p.UserID), userHandle) {
				return nil, errors.New("the credential belongs to another account than its user handle names")
			}
			u, err := s.Store.UserByID(ctx, p.UserID)
			if err != nil {
				return nil, err
			}
			if w, err = s.loadUser(ctx, u); err != nil {
				return nil, err
			}
			return w, nil
		}
		_, cred, err = s.wa.ValidatePasskeyLogin(handler, d.Session, parsed)
	case purposeSecond:
		u, uerr := s.Store.UserByID(ctx, c.UserID)
		if uerr != nil {
			return Login{}, ErrInvalid
		}
		if w, err = s.loadUser(ctx, u); err != nil {
			return Login{}, err
		}
		out.SecondFactor = true
		cred, err = s.wa.ValidateLogin(w, d.Session, parsed)
	default:
		return Login{}, ErrExpired
	}
	if w != nil {
		out.User = w.u
	}
	if err != nil {
		s.Logger().Info("passkey login refused", zap.String("user_id", out.User.ID), zap.String("why", protocolDetails(err)))
		return out, ErrInvalid
	}
	i := -1
	for j := range w.creds {
		if bytes.Equal(w.creds[j].ID, cred.ID) {
			i = j
		}
	}
	if i < 0 {
		return out, ErrInvalid
	}
	out.Passkey = w.rows[i]
	switch {
	case w.u.Disabled:
		return out, ErrDisabled
	case cred.Authenticator.CloneWarning:
		s.Logger().Warn("passkey refused: its sign counter went back, the credential may have been copied",
			zap.String("user_id", w.u.ID), zap.String("passkey_id", out.Passkey.ID),
			zap.Uint32("stored", out.Passkey.SignCount), zap.Uint32("presented", parsed.Response.AuthenticatorData.Counter))
		return out, ErrCloned
	}
	sealed, err := s.seal(out.Passkey.ID, w.u.ID, *cred)
	if err != nil {
		return out, err
	}
	now := s.Now()
	ok, err := s.Store.UsePasskey(ctx, out.Passkey.ID, out.Passkey.SignCount, cred.Authenticator.SignCount, sealed, now)
	if err != nil {
		return out, fmt.Errorf("storing passkey use: %w", err)
	}
	if !ok {
		// Another login moved the counter since this one read it: one
		// of two copies presented at once.
		return out, ErrCloned
	}
	out.Passkey.SignCount, out.Passkey.LastUsedAt = cred.Authenticator.SignCount, now
	return out, nil
}

// protocolDetails is what the log says of a refused ceremony: the
// library's details, which name a check, never key material.
func protocolDetails(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details
	}
	return err.Error()
}
