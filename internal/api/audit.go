package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
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

// overviewJSON is what needs attention, for the overview page.
type overviewJSON struct {
	Routes struct {
		Total    int `json:"total"`
		Live     int `json:"live"`
		NotLive  int `json:"not_live"` // enabled but not served
		Disabled int `json:"disabled"`
	} `json:"routes"`
	Unhealthy    []unhealthyJSON  `json:"unhealthy_upstreams"`
	FailedLogins int              `json:"failed_logins_24h"`
	Changes      int              `json:"changes_today"`
	DayStart     string           `json:"day_start"`
	Doctor       []doctor.Finding `json:"doctor,omitempty"` // admins with a session only
}

// unhealthyJSON is an upstream its route's reverse proxy holds down.
type unhealthyJSON struct {
	RouteID   string `json:"route_id"`
	RouteName string `json:"route_name"`
	Address   string `json:"address"`
}

// overview answers what needs attention: routes by state, upstreams the
// reverse proxy holds unhealthy, failed logins of the last 24 hours,
// changes since day_start (RFC 3339, the browser's midnight, kept within
// the last 24 hours; default midnight UTC) and, for admins with a session, the
// doctor's findings other than ok. Counts only: no names of who failed
// or changed what.
//
//	GET /api/overview?day_start=
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	now := s.Now()
	dayStart := now.UTC().Truncate(24 * time.Hour)
	if v := r.URL.Query().Get("day_start"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fail.Field("day_start", "an RFC 3339 time")
		}
		// A browser's clock may be off: a day at most.
		switch dayStart = t; {
		case t.Before(now.Add(-24 * time.Hour)):
			dayStart = now.Add(-24 * time.Hour)
		case t.After(now):
			dayStart = now
		}
	}
	var out overviewJSON
	out.DayStart = dayStart.UTC().Format(time.RFC3339)
	if err := s.overviewRoutes(r, &out); err != nil {
		return err
	}
	counts, err := s.Store.CountAudit(r.Context(), now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	changes, err := s.Store.CountAudit(r.Context(), dayStart)
	if err != nil {
		return err
	}
	for _, c := range counts {
		if c.Action == string(audit.Login) && c.Outcome == audit.Failure {
			out.FailedLogins += c.N
		}
	}
	for _, c := range changes {
		if audit.IsChange(c.Action) && c.Outcome == audit.Success {
			out.Changes += c.N
		}
	}
	if c := caller(r); c.Role == authz.Admin && c.KeyID == "" && s.Doctor != nil {
		for _, f := range s.Doctor(r.Context()).Findings {
			if f.Severity != doctor.OK {
				out.Doctor = append(out.Doctor, f)
			}
		}
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// overviewRoutes counts the routes by state and lists their unhealthy
// upstreams.
func (s *Server) overviewRoutes(r *http.Request, out *overviewJSON) error {
	routes, err := s.Routes.Routes(r.Context())
	if err != nil {
		return err
	}
	out.Unhealthy = []unhealthyJSON{}
	for _, rt := range routes {
		out.Routes.Total++
		if !rt.Enabled {
			out.Routes.Disabled++
			continue
		}
		st := s.Routes.Status(rt.ID)
		if !st.Live {
			out.Routes.NotLive++
			continue
		}
		out.Routes.Live++
		for _, u := range st.Upstreams {
			if !u.Healthy {
				out.Unhealthy = append(out.Unhealthy, unhealthyJSON{RouteID: rt.ID, RouteName: rt.Name, Address: u.Address})
			}
		}
	}
	return nil
}
