package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// LoginTTL bounds the time from the click on "Sign in with …" to the
// callback: a login at the provider, with its second factor, in between.
const LoginTTL = 10 * time.Minute

// Bounds of the logins in flight (each a row until its callback or
// LoginTTL), so that strangers cannot make the server store without
// bound: per client network (an IPv4 address or IPv6 /64), and in all.
const (
	MaxLoginsPerNetwork = 20
	MaxLoginsPer56      = 50  // an IPv6 /56 holds 256 /64s
	MaxLoginsPer48      = 100 // an IPv6 /48 holds 65,536: one attacker's /48 cannot fill MaxLogins
	MaxLogins           = 10000
)

// Service logs users in with the providers of one config.
type Service struct {
	Store    *store.Store
	Keys     *keyring.Keyring
	Sessions *session.Cache
	Audit    *audit.Log
	Now      func() time.Time
	Logger   func() *zap.Logger

	providers []*remote
}

// New returns the service of the providers ps (checked with Validate)
// for the dashboard at base (the app's url), reaching them with client.
// Nothing is fetched until the first login.
func New(ps []Provider, base *url.URL, client *http.Client, s Service) *Service {
	svc := &s
	for _, p := range ps {
		p = p.withDefaults()
		cb := *base
		cb.Path = CallbackPath(p.Name)
		svc.providers = append(svc.providers, &remote{Provider: p, callback: cb.String(), client: client, now: s.Now})
	}
	return svc
}

// Names lists the providers, in the config's order.
func (s *Service) Names() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, p.Name)
	}
	return out
}

func (s *Service) provider(name string) (*remote, error) {
	if s != nil {
		for _, p := range s.providers {
			if p.Name == name {
				return p, nil
			}
		}
	}
	return nil, fail.NotFound("no such sign-in provider")
}

// pending is what a login in flight keeps, sealed, until its callback.
type pending struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	ReturnTo string `json:"return_to,omitempty"`
	Handoff  string `json:"handoff_state,omitempty"` // the state a gate gave the browser, for the handoff after login
}

// Flow is where a login goes after its callback: the login page's return
// URL and handoff state, unchanged (up to a bounded length).
type Flow struct {
	ReturnTo     string
	HandoffState string
}

// bounded drops a return URL or state longer than any a browser needs.
func (f Flow) bounded() Flow {
	if len(f.ReturnTo) > 4096 {
		f.ReturnTo = ""
	}
	if len(f.HandoffState) > 256 {
		f.HandoffState = ""
	}
	return f
}

// Begin starts a login at the provider name for a browser at clientIP
// that will go to flow after it. It returns the provider's authorization
// URL and the state, which the caller binds to the browser in a cookie:
// the callback is accepted only with that cookie, once, within LoginTTL.
func (s *Service) Begin(ctx context.Context, name, clientIP string, flow Flow) (authURL, state string, err error) {
	p, err := s.provider(name)
	if err != nil {
		return "", "", err
	}
	flow, nets, now := flow.bounded(), clientNetworks(clientIP), s.Now()
	switch c, err := s.Store.CountOIDCLogins(ctx, nets, now); {
	case err != nil:
		return "", "", fmt.Errorf("counting logins in flight: %w", err)
	case c.Network >= MaxLoginsPerNetwork || c.Net56 >= MaxLoginsPer56 || c.Net48 >= MaxLoginsPer48 || c.All >= MaxLogins:
		s.Logger().Warn("too many sign-ins with providers in flight; refused", zap.String("provider", p.Name),
			zap.String("network", nets.Network), zap.Int("network_count", c.Network), zap.Int("net48_count", c.Net48), zap.Int("count", c.All))
		return "", "", &Error{Provider: p.Name, Code: CodeBusy}
	}
	state, nonce := random(), random()
	verifier := oauth2.GenerateVerifier()
	authURL, err = p.authURL(ctx, state, nonce, verifier)
	if err != nil {
		s.logRefusal(err)
		return "", "", err
	}
	data, err := json.Marshal(pending{Nonce: nonce, Verifier: verifier, ReturnTo: flow.ReturnTo, Handoff: flow.HandoffState})
	if err != nil {
		return "", "", err
	}
	hash := hashState(state)
	sealed, err := s.Keys.Seal(data, sealContext(hash))
	if err != nil {
		return "", "", err
	}
	if err := s.Store.CreateOIDCLogin(ctx, store.OIDCLogin{StateHash: hash, Provider: p.Name, Network: nets.Network, Net56: nets.Net56, Net48: nets.Net48, Data: sealed,
		ExpiresAt: now.Add(LoginTTL)}, now); err != nil {
		return "", "", fmt.Errorf("storing the login: %w", err)
	}
	return authURL, state, nil
}

// Callback is what the provider sent the browser back with, and the
// state cookie the browser brought.
type Callback struct {
	State       string // the state parameter
	Code        string
	Error       string // the provider's error parameter (access_denied, …)
	CookieState string // the state of the browser's cookie
	ClientIP    string
}

// Finish completes a login at the provider name: the state must be the
// browser's (its cookie) and a login in flight, which it uses up; the
// code is redeemed and the ID token verified; then the account is found
// (or made) and its role set from the groups. It returns the account and
// where the login goes next. A refusal is an *Error (recorded in the audit
// log), except a store failure; flow is set whenever the state was valid.
func (s *Service) Finish(ctx context.Context, name string, cb Callback) (store.User, Flow, error) {
	p, err := s.provider(name)
	if err != nil {
		return store.User{}, Flow{}, err
	}
	pd, err := s.take(ctx, p, cb)
	if err != nil {
		return store.User{}, Flow{}, err
	}
	flow := Flow{ReturnTo: pd.ReturnTo, HandoffState: pd.Handoff}
	if cb.Error != "" {
		err = &Error{Provider: p.Name, Code: CodeRefused, err: fmt.Errorf("the provider answered error %q", cb.Error)}
		return store.User{}, flow, s.refuse(ctx, p, cb.ClientIP, "", err)
	}
	c, err := p.exchange(ctx, cb.Code, pd.Verifier, pd.Nonce)
	if err != nil {
		return store.User{}, flow, s.refuse(ctx, p, cb.ClientIP, "", err)
	}
	u, err := s.login(ctx, p, c, cb.ClientIP)
	if err != nil {
		return store.User{}, flow, s.refuse(ctx, p, cb.ClientIP, c.Email, err)
	}
	return u, flow, nil
}

// take checks that the callback's state is the browser's and uses up its
// login in flight.
func (s *Service) take(ctx context.Context, p *remote, cb Callback) (pending, error) {
	stateErr := func(why string) error {
		return s.refuse(ctx, p, cb.ClientIP, "", &Error{Provider: p.Name, Code: CodeState, err: errors.New(why)})
	}
	if cb.State == "" || subtle.ConstantTimeCompare([]byte(cb.State), []byte(cb.CookieState)) != 1 {
		// A callback this browser did not start: login CSRF, or a state
		// planted by someone else.
		return pending{}, stateErr("the state is not the browser's")
	}
	hash := hashState(cb.State)
	l, err := s.Store.TakeOIDCLogin(ctx, hash, s.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return pending{}, stateErr("no login in flight with this state (expired or used)")
	case err != nil:
		return pending{}, err
	case l.Provider != p.Name:
		return pending{}, stateErr("the state is another provider's")
	}
	raw, err := s.Keys.Open(l.Data, sealContext(hash))
	if err != nil {
		return pending{}, stateErr("the login in flight cannot be opened")
	}
	var pd pending
	if err := json.Unmarshal(raw, &pd); err != nil {
		return pending{}, err
	}
	return pd, nil
}

// refuse logs and records a refused login and returns err.
func (s *Service) refuse(ctx context.Context, p *remote, clientIP, email string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	s.logRefusal(err)
	s.Audit.Record(ctx, audit.Event{Actor: audit.AnonymousFrom(clientIP), Action: audit.Login,
		Target: audit.Target(email), Outcome: audit.Failure, Reason: "oidc_" + e.Code,
		Extra: map[string]any{"method": "oidc", "provider": p.Name}})
	return err
}

func (s *Service) logRefusal(err error) {
	var e *Error
	if errors.As(err, &e) {
		s.Logger().Info("sign-in with provider refused", zap.String("provider", e.Provider), zap.String("reason", e.Code),
			zap.NamedError("cause", e.err))
	}
}

// login finds the account of verified claims c: the one linked to the
// subject, else the one with the (verified) email, which is then linked,
// else with auto_create a new one without a password. A disabled account
// is refused. With roles, the account's role follows the groups; a change
// ends its other sessions, like a role change by an admin.
func (s *Service) login(ctx context.Context, p *remote, c Claims, clientIP string) (store.User, error) {
	refuse := func(code string) error { return &Error{Provider: p.Name, Code: code} }
	email := strings.ToLower(strings.TrimSpace(c.Email))
	if c.EmailVerified != nil && !*c.EmailVerified {
		// An address the provider has not verified may be anyone's: it
		// must neither find an account nor make one.
		return store.User{}, refuse(CodeUnverified)
	}
	if len(p.AllowedDomains) > 0 && !p.domainAllowed(email) {
		return store.User{}, refuse(CodeDomain)
	}
	role := ""
	if p.Roles != nil {
		role = p.roleFor(c.Groups)
		if role == RoleNone {
			return store.User{}, refuse(CodeNoRole)
		}
	}
	now := s.Now().UTC()
	link := store.OIDCIdentity{Provider: p.Name, Subject: c.Subject, Email: email, CreatedAt: now, LastLoginAt: now}
	var u store.User
	id, err := s.Store.OIDCIdentityOf(ctx, p.Name, c.Subject)
	switch {
	case err == nil:
		if u, err = s.Store.UserByID(ctx, id.UserID); err != nil {
			return store.User{}, fmt.Errorf("reading user: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, fmt.Errorf("reading the provider's link: %w", err)
	case email == "":
		return store.User{}, refuse(CodeNoEmail)
	default:
		u, err = s.Store.UserByEmail(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound) && p.AutoCreate:
			return s.create(ctx, p, link, role, cleanGroups(c.Groups), clientIP)
		case errors.Is(err, store.ErrNotFound):
			return store.User{}, refuse(CodeUnknownUser)
		case err != nil:
			return store.User{}, fmt.Errorf("reading user: %w", err)
		}
	}
	if u.Disabled {
		return store.User{}, refuse(CodeDisabled)
	}
	if err := s.Store.SaveOIDCIdentity(ctx, store.OIDCIdentity{Provider: p.Name, Subject: c.Subject, UserID: u.ID,
		Email: orElse(email, u.Email), CreatedAt: now, LastLoginAt: now}); err != nil {
		return store.User{}, fmt.Errorf("linking the provider's account: %w", err)
	}
	if role != "" && role != u.Role {
		if u, err = s.setRole(ctx, p, u, role, clientIP); err != nil {
			return store.User{}, err
		}
	}
	if u, err = s.setGroups(ctx, p, u, cleanGroups(c.Groups), clientIP); err != nil {
		return store.User{}, err
	}
	s.Logger().Info("login", zap.String("user_id", u.ID), zap.String("provider", p.Name), zap.String("remote_ip", clientIP))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.Login, Target: u.Email, Extra: map[string]any{"method": "oidc", "provider": p.Name}})
	return u, nil
}

// create makes the account of a first login with auto_create: no
// password (it cannot log in with one until an admin sets one), the role
// of its groups or the default role.
func (s *Service) create(ctx context.Context, p *remote, link store.OIDCIdentity, role string, groups []string, clientIP string) (store.User, error) {
	if role == "" {
		role = p.DefaultRole
		if role == RoleNone {
			return store.User{}, &Error{Provider: p.Name, Code: CodeNoRole}
		}
	}
	now := link.CreatedAt
	u := store.User{ID: uuid.NewString(), Email: link.Email, Role: role, CreatedAt: now, UpdatedAt: now}
	link.UserID = u.ID
	switch err := s.Store.CreateOIDCUser(ctx, u, link); {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, fail.Conflict("", "the account was created meanwhile; sign in again")
	case err != nil:
		return store.User{}, fmt.Errorf("storing user: %w", err)
	}
	if len(groups) > 0 {
		if err := s.Store.SetUserGroups(ctx, u.ID, groups); err != nil {
			return store.User{}, fmt.Errorf("storing the user's groups: %w", err)
		}
		u.Groups = groups
	}
	actor := audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP}
	extra := map[string]any{"method": "oidc", "provider": p.Name}
	s.Logger().Info("user created", zap.String("user_id", u.ID), zap.String("email", u.Email), zap.String("role", u.Role),
		zap.String("provider", p.Name))
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.UserCreate, Target: u.Email,
		After: map[string]any{"id": u.ID, "email": u.Email, "role": u.Role, "disabled": false, "totp_enabled": false, "groups": groupsOrEmpty(groups)},
		Extra: extra})
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.Login, Target: u.Email, Extra: extra})
	return u, nil
}

// setRole stores the role the provider's groups grant u and ends u's
// sessions (the new one starts after), so the user's other browsers get
// the new role at their next login. The last admin is not demoted: the
// login goes on with the role unchanged and a warning.
func (s *Service) setRole(ctx context.Context, p *remote, u store.User, role, clientIP string) (store.User, error) {
	prev := u
	u.Role, u.UpdatedAt = role, s.Now().UTC()
	switch err := s.Store.UpdateUserKeepingAdmin(ctx, u); {
	case errors.Is(err, store.ErrLastAdmin):
		s.Logger().Warn("the provider's groups no longer make the last admin an admin; the role stays",
			zap.String("user_id", u.ID), zap.String("provider", p.Name))
		return prev, nil
	case err != nil:
		return store.User{}, fmt.Errorf("storing user: %w", err)
	}
	ids, err := s.Store.RevokeUserSessions(ctx, u.ID, "", s.Now())
	if err != nil {
		return store.User{}, fmt.Errorf("revoking sessions: %w", err)
	}
	if len(ids) > 0 {
		s.Sessions.MarkRevoked(u.ID, ids)
	}
	s.Logger().Info("role set by provider groups", zap.String("user_id", u.ID), zap.String("role", u.Role),
		zap.String("previous_role", prev.Role), zap.String("provider", p.Name), zap.Int("sessions_revoked", len(ids)))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.UserUpdate, Target: u.Email,
		Before: map[string]any{"role": prev.Role}, After: map[string]any{"role": u.Role},
		Extra: map[string]any{"method": "oidc", "provider": p.Name, "sessions_revoked": len(ids) > 0}})
	return u, nil
}

// setGroups stores the groups of u's sign-in at p when they differ from
// those of its previous one. The user's cached sessions on every node are
// dropped (the store records a change of the user), so each reloads the
// groups at its next request: a group the provider took away stops
// admitting the user's sessions at once, without a new login.
func (s *Service) setGroups(ctx context.Context, p *remote, u store.User, groups []string, clientIP string) (store.User, error) {
	if slices.Equal(u.Groups, groups) {
		return u, nil
	}
	if err := s.Store.SetUserGroups(ctx, u.ID, groups); err != nil {
		return store.User{}, fmt.Errorf("storing the user's groups: %w", err)
	}
	s.Sessions.ForgetUser(u.ID)
	prev := u.Groups
	u.Groups = groups
	s.Logger().Info("groups set by provider", zap.String("user_id", u.ID), zap.Strings("groups", groups),
		zap.Strings("previous_groups", prev), zap.String("provider", p.Name))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.UserUpdate, Target: u.Email,
		Before: map[string]any{"groups": groupsOrEmpty(prev)}, After: map[string]any{"groups": groupsOrEmpty(groups)},
		Extra: map[string]any{"method": "oidc", "provider": p.Name}})
	return u, nil
}

// Bounds of the groups kept of a sign-in: a provider may list many, and
// each session carries them.
const (
	MaxGroups   = 256
	MaxGroupLen = 256
)

// cleanGroups returns the groups of a verified ID token as proxyos keeps
// them: sorted, without duplicates, without empty names or names with
// control characters or longer than MaxGroupLen, at most MaxGroups.
// Names are kept exactly otherwise (case and spaces matter).
func cleanGroups(groups []string) []string {
	var out []string
	for _, g := range groups {
		if g == "" || len(g) > MaxGroupLen || strings.ContainsFunc(g, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			continue
		}
		out = append(out, g)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxGroups {
		out = out[:MaxGroups]
	}
	return out
}

// groupsOrEmpty is groups for the audit log, which shows none as [].
func groupsOrEmpty(groups []string) []string {
	if groups == nil {
		return []string{}
	}
	return groups
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// random returns 32 random bytes, base64url.
func random() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func sealContext(stateHash string) string { return "oidc-login:" + stateHash }

// clientNetworks are the networks a client's logins in flight are
// bounded by (see request.ClientNetworks: one holder of an IPv6 /48 has
// 65,536 /64s).
func clientNetworks(ip string) store.OIDCLogin {
	n64, n56, n48 := request.ClientNetworks(ip)
	return store.OIDCLogin{Network: n64, Net56: n56, Net48: n48}
}
