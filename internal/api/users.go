package api

import (
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/account"
)

// listUsers lists every account.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.Accounts.Users(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

// createUser creates an account (see account.Service.CreateUser for who
// may).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		account.NewUser
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	u, err := s.Accounts.CreateUser(r.Context(), caller(r), body.NewUser, body.ConfirmPassword)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, u)
	return nil
}

// getUser shows one account.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Accounts.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}

// updateUser changes an account (see account.Service.UpdateUser).
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		account.UserChange
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	u, err := s.Accounts.UpdateUser(r.Context(), caller(r), r.PathValue("id"), body.UserChange, body.ConfirmPassword)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, u)
	return nil
}

// deleteUser deletes an account.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.DeleteUser(r.Context(), caller(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
