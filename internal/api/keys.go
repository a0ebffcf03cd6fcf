package api

import (
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/account"
)

// listKeys lists the caller's keys, or for admins those of the user in
// ?user_id=, with the scopes the caller may grant.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, grantable, err := s.Accounts.APIKeys(r.Context(), caller(r), r.URL.Query().Get("user_id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"keys": keys, "grantable_scopes": grantable})
	return nil
}

// createKey makes a key for the caller and answers it, this once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		account.NewAPIKey
		Password string `json:"password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	raw, k, err := s.Accounts.CreateKey(r.Context(), caller(r), body.NewAPIKey, body.Password)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"key": raw, "api_key": k})
	return nil
}

// revokeKey revokes one of the caller's keys, or any for admins.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.RevokeKey(r.Context(), caller(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
