package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Page sizes of GET /api/audit.
const (
	auditPageDefault = 50
	auditPageMax     = 500
)

// auditEntryJSON is how the API shows an audit entry.
type auditEntryJSON struct {
	ID        int64           `json:"id"`
	At        string          `json:"at"`
	Actor     string          `json:"actor"`
	ActorKind string          `json:"actor_kind"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	ClientIP  string          `json:"client_ip"`
	Outcome   string          `json:"outcome"`
	Reason    string          `json:"reason,omitempty"`
	Details   json.RawMessage `json:"details,omitempty"`
}

// audit answers audit entries, newest first:
//
//	GET /api/audit?actor=&action=&target=&since=&until=&limit=&before=
//
// since and until are RFC 3339 times (inclusive), limit is 1 to 500
// (default 50) and before the next_before of the previous page.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fail.Field(p.name, "not an RFC 3339 time such as 2025-01-31T12:00:00Z")
			}
			*p.dst = t
		}
	}
	limit := auditPageDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail.Field("limit", "must be a positive number")
		}
		limit = min(n, auditPageMax)
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fail.Field("before", "must be the next_before of a previous page")
		}
		before = n
	}
	entries, err := s.Store.ListAudit(r.Context(), f, limit+1, before)
	if err != nil {
		return err
	}
	var next *int64
	if len(entries) > limit {
		entries = entries[:limit]
		next = &entries[limit-1].ID
	}
	out := make([]auditEntryJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditEntryJSON{
			ID: e.ID, At: e.At.Format("2006-01-02T15:04:05.000Z07:00"), Actor: e.Actor, ActorKind: e.ActorKind,
			Action: e.Action, Target: e.Target, ClientIP: e.ClientIP, Outcome: e.Outcome, Reason: e.Reason, Details: e.Details,
		})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"entries": out, "next_before": next})
	return nil
}
