package api

import (
	"net/http"
	"time"
)

// sessionView is how the API shows a session. It never carries the token
// or its hash.
type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientIP   string    `json:"client_ip"`
	UserAgent  string    `json:"user_agent"`
	Host       string    `json:"host,omitempty"` // a login handed off to this host; ends with the session it came from
	Current    bool      `json:"current"`
}

// listSessions lists the caller's active sessions, or for admins those of
// the user in ?user_id=.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	c := caller(r)
	ss, target, err := s.Accounts.ActiveSessions(r.Context(), c, r.URL.Query().Get("user_id"))
	if err != nil {
		return err
	}
	out := make([]sessionView, 0, len(ss))
	for _, ses := range ss {
		out = append(out, sessionView{
			ID: ses.ID, CreatedAt: ses.CreatedAt, LastSeenAt: ses.LastSeenAt, ExpiresAt: ses.ExpiresAt,
			ClientIP: ses.ClientIP, UserAgent: ses.UserAgent, Host: ses.Host, Current: ses.ID == c.SessionID,
		})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"user_id": target, "sessions": out})
	return nil
}

// revokeSession revokes one session: the caller's own, or any for admins.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	c := caller(r)
	ses, err := s.Accounts.RevokeSession(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if ses.ID == c.SessionID {
		s.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAllSessions revokes every session of the caller but the current
// one, or for admins every session of the user in "user_id".
func (s *Server) revokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		UserID string `json:"user_id"`
	}
	if r.ContentLength != 0 {
		if err := Decode(w, r, &body); err != nil {
			return err
		}
	}
	n, _, err := s.Accounts.RevokeAllSessions(r.Context(), caller(r), body.UserID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}
