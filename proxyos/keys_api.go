package proxyos

import (
	"errors"
	"net/http"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// apiKeyJSON is how the API shows a key; never the key or its digest.
type apiKeyJSON struct {
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

func toAPIKeyJSON(k store.APIKey, email string) apiKeyJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return apiKeyJSON{ID: k.ID, Name: k.Name, Scopes: k.Scopes, UserID: k.UserID, Email: email,
		CreatedAt: k.CreatedAt, ExpiresAt: opt(k.ExpiresAt), LastUsedAt: opt(k.LastUsedAt), RevokedAt: opt(k.RevokedAt)}
}

// apiListKeys lists the caller's keys, or for admins those of the user in
// ?user_id=, with the scopes the caller may grant.
func (d *Dashboard) apiListKeys(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	target, err := d.sessionTarget(w, r, id, r.URL.Query().Get("user_id"))
	if target == "" {
		return err
	}
	owner, err := d.app.state.store.UserByID(r.Context(), target)
	if err != nil {
		return d.writeUserError(w, notFoundAsUser(err))
	}
	keys, err := d.app.state.store.ListAPIKeys(r.Context(), target)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	out := make([]apiKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toAPIKeyJSON(k, owner.Email))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out, "grantable_scopes": grantableScopes(id.Role)})
	return nil
}

// apiCreateKey makes a key for the caller and answers it, this once. It
// needs the caller's password, so a stolen session cannot mint a key
// that outlives it.
func (d *Dashboard) apiCreateKey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		NewAPIKey
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	owner, err := d.app.state.store.UserByID(r.Context(), caller(r).UserID)
	if err != nil {
		return d.writeUserError(w, notFoundAsUser(err))
	}
	if err := d.app.checkOwnPassword(r.Context(), owner, body.Password, clientIP(r)); err != nil {
		return d.writeAPIError(w, err)
	}
	raw, k, err := d.app.CreateAPIKey(r.Context(), owner, body.NewAPIKey)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	kj := toAPIKeyJSON(k, owner.Email)
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "key.create", Target: k.Name,
		After: map[string]any{"id": k.ID, "name": k.Name, "scopes": k.Scopes, "expires_at": kj.ExpiresAt}})
	writeJSON(w, http.StatusCreated, map[string]any{"key": raw, "api_key": kj})
	return nil
}

// apiRevokeKey revokes one of the caller's keys, or any for admins.
// Anyone else's key answers 404 like a key that does not exist.
func (d *Dashboard) apiRevokeKey(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	k, err := d.app.state.store.APIKeyByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.UserID != id.UserID && id.Role != RoleAdmin) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such API key"})
		return nil
	}
	if err != nil {
		return d.writeAPIError(w, err)
	}
	if _, err := d.app.RevokeAPIKey(r.Context(), k.ID); err != nil {
		return d.writeAPIError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "key.revoke", Target: k.Name,
		Extra: map[string]any{"id": k.ID, "user_id": k.UserID}})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
