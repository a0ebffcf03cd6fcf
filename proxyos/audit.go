package proxyos

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// DefaultAuditRetention is how long audit entries are kept by default.
const DefaultAuditRetention = 90 * 24 * time.Hour

// Kinds of actors in the audit log.
const (
	ActorUser     = "user"      // someone using the dashboard
	ActorAPIKey   = "api_key"   // an API key; the name is its owner's email
	ActorAdminAPI = "admin_api" // Caddy's admin API, and so the CLI
	ActorSystem   = "system"    // proxyos itself
)

// Outcomes of audited actions.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Reasons of failed logins and setups in the audit log.
const (
	auditBadCredentials  = "bad_credentials"
	auditWrongSetupCode  = "wrong_setup_code"
	auditTooManyFailures = "too_many_failures"
)

// Audit actions of the login rate limits. A refused attempt is never an
// entry of its own: a lock is one entry when it starts and one, with the
// number of attempts it refused, when it ends.
const (
	AuditLoginLock    = "login.lock"       // a limit locked after too many failures
	AuditLoginRefused = "login.refused"    // attempts a lock refused, recorded when it ended
	AuditSuppressed   = "audit.suppressed" // entries of anonymous clients beyond their budget
)

// anonymous is the actor of actions by someone not logged in.
const anonymous = "anonymous"

// Actor is who changes something and from where, as the audit log and the
// route history record it.
type Actor struct {
	Name     string // the user's email (also for their API keys), or "admin API"
	Kind     string // ActorUser, ActorAPIKey, ActorAdminAPI or ActorSystem
	ClientIP string // as Caddy computes it, trusted proxies included
	KeyID    string // the API key used, if any; recorded under "via"
	KeyName  string
}

// AdminAPIActor is the actor of changes made through Caddy's admin API
// (and the caddy proxyos commands, which use it); remoteAddr is the admin
// request's.
func AdminAPIActor(remoteAddr string) Actor {
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	return Actor{Name: "admin API", Kind: ActorAdminAPI, ClientIP: ip}
}

// auditEvent is one thing to record. Before and After are any values
// that marshal to JSON objects; when both are set only the fields that
// differ are kept. Secrets are removed from both and from Extra.
type auditEvent struct {
	Actor   Actor
	Action  string
	Target  string
	Outcome string // OutcomeSuccess when empty
	Reason  string
	Before  any
	After   any
	Extra   map[string]any
}

// audit records ev. The action it describes has happened already, so a
// failure to record is logged and does not fail it; the entry is written
// even when the request that caused it has gone.
func (a *App) audit(ctx context.Context, ev auditEvent) {
	now := a.now()
	if ev.Actor.Name == anonymous && ev.Actor.Kind == ActorUser && !a.state.auditBudget.allow(now) {
		return
	}
	a.state.record(ctx, now, ev)
}

// record writes ev as of the time at.
func (s *state) record(ctx context.Context, at time.Time, ev auditEvent) {
	if ev.Outcome == "" {
		ev.Outcome = OutcomeSuccess
	}
	if ev.Actor.KeyID != "" {
		// not "…_key": names ending so are redacted as secrets
		extra := map[string]any{"via": map[string]string{"api_key_id": ev.Actor.KeyID, "api_key_name": ev.Actor.KeyName}}
		for k, v := range ev.Extra {
			extra[k] = v
		}
		ev.Extra = extra
	}
	details, err := auditDetails(ev.Before, ev.After, ev.Extra)
	if err != nil {
		s.logger.Error("encoding audit details", zap.String("action", ev.Action), zap.Error(err))
	}
	_, err = s.store.AddAudit(context.WithoutCancel(ctx), store.AuditEntry{
		At: at.UTC(), Actor: ev.Actor.Name, ActorKind: ev.Actor.Kind, Action: ev.Action,
		Target: ev.Target, ClientIP: ev.Actor.ClientIP, Outcome: ev.Outcome, Reason: ev.Reason, Details: details,
	})
	if err != nil {
		s.logger.Error("recording audit entry", zap.String("action", ev.Action), zap.String("target", ev.Target), zap.Error(err))
	}
}

// auditDetails builds the details JSON of an entry: {"before", "after",
// …extra}, redacted and diffed; nil when there is nothing to say.
func auditDetails(before, after any, extra map[string]any) (json.RawMessage, error) {
	b, err := toJSONMap(before)
	if err != nil {
		return nil, err
	}
	af, err := toJSONMap(after)
	if err != nil {
		return nil, err
	}
	if b != nil && af != nil {
		b, af = diffMaps(b, af)
	}
	d := make(map[string]any)
	for k, v := range extra {
		d[k] = v
	}
	d = redactMap(d)
	if len(b) > 0 {
		d["before"] = b
	}
	if len(af) > 0 {
		d["after"] = af
	}
	if len(d) == 0 {
		return nil, nil
	}
	return json.Marshal(d)
}

// toJSONMap turns v into its JSON object form, with secrets removed.
func toJSONMap(v any) (map[string]any, error) {
	if v == nil || reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return redactMap(m), nil
}

// diffMaps keeps the top-level fields whose values differ.
func diffMaps(before, after map[string]any) (map[string]any, map[string]any) {
	b, a := make(map[string]any), make(map[string]any)
	for k, v := range before {
		if w, ok := after[k]; !ok || !reflect.DeepEqual(v, w) {
			b[k] = v
		}
	}
	for k, v := range after {
		if w, ok := before[k]; !ok || !reflect.DeepEqual(v, w) {
			a[k] = v
		}
	}
	return b, a
}

// secretNames are field names whose values never reach the audit log.
// Names are compared in lower case with dashes as underscores, so header
// names such as Authorization and X-Api-Key are caught too.
var secretNames = map[string]bool{
	"password": true, "password_hash": true, "secret": true, "token": true,
	"setup_code": true, "key": true, "authorization": true, "proxy_authorization": true,
	"cookie": true, "set_cookie": true, "recovery_codes": true, "previous_secrets": true,
}

// secretSuffixes mark names such as new_password, totp_secret, api_key.
var secretSuffixes = []string{"_password", "_hash", "_secret", "_secrets", "_token", "_key"}

// isSecretName reports whether a field of this name holds a secret.
func isSecretName(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	if secretNames[n] {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// redactMap removes every field with a secret's name from m, at any depth.
func redactMap(m map[string]any) map[string]any {
	for k, v := range m {
		if isSecretName(k) {
			delete(m, k)
			continue
		}
		m[k] = redactValue(v)
	}
	return m
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return redactMap(v)
	case []any:
		for i := range v {
			v[i] = redactValue(v[i])
		}
	}
	return v
}

// auditTarget is how an email someone typed is recorded: trimmed, lower
// case and cut to the longest valid address.
func auditTarget(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > 254 {
		email = email[:254]
	}
	return email
}

// auditUser is a user as the audit log shows it: never the password hash.
type auditUser struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
	TOTP     bool   `json:"totp_enabled"`
}

func toAuditUser(u store.User) auditUser {
	return auditUser{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, TOTP: u.TOTPEnabled}
}

// auditPruneEvery is how often old audit entries are deleted.
const auditPruneEvery = time.Hour

// pruneAudit deletes audit entries older than the retention, at most once
// per auditPruneEvery. Only the maintenance loop calls it.
func (s *state) pruneAudit(ctx context.Context, now time.Time) {
	if !s.lastAuditPrune.IsZero() && now.Sub(s.lastAuditPrune) < auditPruneEvery {
		return
	}
	retention := time.Duration(s.auditRetention.Load())
	if retention <= 0 {
		return
	}
	s.lastAuditPrune = now
	n, err := s.store.PruneAudit(ctx, now.Add(-retention))
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("pruning audit log", zap.Error(err))
		}
		return
	}
	if n > 0 {
		s.logger.Info("audit log pruned", zap.Int64("entries", n), zap.Duration("retention", retention))
	}
}
