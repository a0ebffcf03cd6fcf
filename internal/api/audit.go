package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/router"
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

// Overview is what needs attention, for the dashboard's overview page
// (GET /api/overview), the admin API (GET /proxyos/overview) and
// `caddy proxyos status`. Counts of people's doings only: no names of
// who failed or changed what.
type Overview struct {
	Routes struct {
		Total       int `json:"total"`
		Live        int `json:"live"`        // served, not in maintenance
		Maintenance int `json:"maintenance"` // served with the maintenance page
		NotLive     int `json:"not_live"`    // enabled but not served
		Disabled    int `json:"disabled"`
	} `json:"routes"`
	// RoutesAttention are the enabled routes in maintenance or not live.
	RoutesAttention []RouteAttention    `json:"routes_attention"`
	Unhealthy       []UnhealthyUpstream `json:"unhealthy_upstreams"`
	// Certificates are the names whose certificate expires within 14
	// days or whose last attempt failed, and the custom certificates
	// that expire soon; CertificatesError says they could not be read.
	Certificates      []CertificateAttention `json:"certificates"`
	CertificatesError string                 `json:"certificates_error,omitempty"`
	FailedLogins      int                    `json:"failed_logins_24h"`
	Changes           int                    `json:"changes_today"`
	DayStart          string                 `json:"day_start"`
	// Doctor are the doctor's findings other than ok, for admins (with
	// a session, in the dashboard) and the host.
	Doctor []doctor.Finding `json:"doctor,omitempty"`
}

// RouteAttention is an enabled route that is not serving as usual.
type RouteAttention struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	State string   `json:"state"` // maintenance or not_live
}

// UnhealthyUpstream is an upstream its route's reverse proxy holds down.
type UnhealthyUpstream struct {
	RouteID   string `json:"route_id"`
	RouteName string `json:"route_name"`
	Address   string `json:"address"`
}

// CertificateAttention is a certificate that needs attention: a served
// name's (Name) or a custom certificate's (CertificateID and Name).
type CertificateAttention struct {
	Name          string     `json:"name"`
	CertificateID string     `json:"certificate_id,omitempty"` // a custom certificate
	State         string     `json:"state"`                    // failing or expires_soon
	Error         string     `json:"error,omitempty"`          // the CA's, of a failing name
	NotAfter      *time.Time `json:"not_after,omitempty"`
}

// OverviewSources are what the overview reads. Certificates and Doctor
// may be nil: the overview then has no certificates or findings.
type OverviewSources struct {
	Routes       *router.Service
	Store        *store.Store
	Certificates Certificates
	Doctor       func(context.Context) doctor.Report
}

// DayStart reads the start of "today" of an overview: v is an RFC 3339
// time (the caller's midnight), kept within the last 24 hours (a clock
// may be off); "" is midnight UTC.
func DayStart(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return now.UTC().Truncate(24 * time.Hour), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fail.Field("day_start", "an RFC 3339 time")
	}
	switch {
	case t.Before(now.Add(-24 * time.Hour)):
		return now.Add(-24 * time.Hour), nil
	case t.After(now):
		return now, nil
	}
	return t, nil
}

// ReadOverview assembles the overview at now: routes by state, upstreams
// the reverse proxy holds unhealthy, certificates that need attention,
// failed logins of the last 24 hours, changes since dayStart and the
// doctor's findings other than ok.
func ReadOverview(ctx context.Context, src OverviewSources, now, dayStart time.Time) (*Overview, error) {
	out := &Overview{DayStart: dayStart.UTC().Format(time.RFC3339)}
	if err := overviewRoutes(ctx, src.Routes, out); err != nil {
		return nil, err
	}
	out.Certificates = []CertificateAttention{}
	if src.Certificates != nil {
		list, err := ListCertificates(ctx, src.Certificates, src.Routes)
		if err != nil {
			out.CertificatesError = "the certificates could not be read"
		}
		out.Certificates = certificatesAttention(list)
	}
	counts, err := src.Store.CountAudit(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	changes, err := src.Store.CountAudit(ctx, dayStart)
	if err != nil {
		return nil, err
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
	if src.Doctor != nil {
		for _, f := range src.Doctor(ctx).Findings {
			if f.Severity != doctor.OK {
				out.Doctor = append(out.Doctor, f)
			}
		}
	}
	return out, nil
}

// NeedsAttention reports whether something of o needs someone: a route
// enabled but not live, an upstream held down, a certificate failing or
// expiring, failed logins, a doctor's finding. Routes in maintenance are
// someone's choice: shown, not counted.
func (o *Overview) NeedsAttention() bool {
	return o.Routes.NotLive > 0 || len(o.Unhealthy) > 0 || len(o.Certificates) > 0 || o.CertificatesError != "" ||
		o.FailedLogins > 0 || len(o.Doctor) > 0
}

// overview answers the overview (see ReadOverview); changes count from
// day_start (RFC 3339, the browser's midnight; default midnight UTC),
// the doctor's findings are for admins with a session.
//
//	GET /api/overview?day_start=
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	now := s.Now()
	dayStart, err := DayStart(r.URL.Query().Get("day_start"), now)
	if err != nil {
		return err
	}
	src := OverviewSources{Routes: s.Routes, Store: s.Store, Certificates: s.Certificates}
	if c := caller(r); c.Role == authz.Admin && c.KeyID == "" {
		src.Doctor = s.Doctor
	}
	out, err := ReadOverview(r.Context(), src, now, dayStart)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// overviewRoutes counts the routes by state and lists their unhealthy
// upstreams.
func overviewRoutes(ctx context.Context, routes *router.Service, out *Overview) error {
	list, err := routes.Routes(ctx)
	if err != nil {
		return err
	}
	out.RoutesAttention = []RouteAttention{}
	out.Unhealthy = []UnhealthyUpstream{}
	for _, rt := range list {
		out.Routes.Total++
		if !rt.Enabled {
			out.Routes.Disabled++
			continue
		}
		st := routes.Status(rt.ID)
		switch {
		case !st.Live:
			out.Routes.NotLive++
			out.RoutesAttention = append(out.RoutesAttention, RouteAttention{ID: rt.ID, Name: rt.Name, Hosts: rt.Hosts, State: "not_live"})
			continue
		case rt.Maintenance != nil && rt.Maintenance.On:
			out.Routes.Maintenance++
			out.RoutesAttention = append(out.RoutesAttention, RouteAttention{ID: rt.ID, Name: rt.Name, Hosts: rt.Hosts, State: "maintenance"})
		default:
			out.Routes.Live++
		}
		for _, u := range st.Upstreams {
			if !u.Healthy {
				out.Unhealthy = append(out.Unhealthy, UnhealthyUpstream{RouteID: rt.ID, RouteName: rt.Name, Address: u.Address})
			}
		}
	}
	return nil
}

// certificatesAttention picks from list the names failing or expiring
// within 14 days and the custom certificates expiring.
func certificatesAttention(list CertificateList) []CertificateAttention {
	out := []CertificateAttention{}
	for _, e := range list.Served {
		switch {
		case e.Failing:
			a := CertificateAttention{Name: e.Name, State: "failing"}
			if e.LastAttempt != nil {
				a.Error = e.LastAttempt.Error
			}
			out = append(out, a)
		case e.ExpiresSoon && e.Certificate != nil:
			out = append(out, CertificateAttention{Name: e.Name, State: "expires_soon", NotAfter: &e.Certificate.NotAfter})
		}
	}
	for _, c := range list.Custom {
		if c.ExpiresSoon {
			out = append(out, CertificateAttention{Name: c.Name, CertificateID: c.ID, State: "expires_soon", NotAfter: &c.NotAfter})
		}
	}
	return out
}
