package route

import (
	"net/http"
	"time"
)

// DefaultMaintenancePage is the page of a route in maintenance that has
// none of its own.
const DefaultMaintenancePage = `<!doctype html><meta charset="utf-8"><title>Down for maintenance</title>` +
	`<h1>Down for maintenance</h1><p>This site is being worked on and will be back shortly.</p>`

// Maintenance swaps a route to its maintenance page and back, keeping
// every other setting: while On, every request (after the route's
// access rules and force_https) gets the page with status 503 and
// Cache-Control no-store, and, when Until is set, Retry-After.
//
// From and Until schedule it: at From the route goes into maintenance,
// at Until it comes back (each a new version of the route, recorded in
// its history and the audit log, made once even with several nodes).
// Either may be alone: Until with On ends a maintenance begun by hand.
type Maintenance struct {
	On bool `json:"on"`
	// Page is the HTML answered while on. Default:
	// DefaultMaintenancePage.
	Page  string     `json:"page,omitempty"`
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// check checks m (nil is fine), named field.
func (m *Maintenance) check(field string) error {
	if m == nil {
		return nil
	}
	if len(m.Page) > 1<<20 {
		return errf(field+".page", "at most 1 MiB")
	}
	if m.From != nil && m.Until != nil && !m.Until.After(*m.From) {
		return errf(field+".until", "must be after from")
	}
	return nil
}

// Scheduled reports whether m has a schedule still to carry out.
func (m *Maintenance) Scheduled() bool {
	return m != nil && (m.From != nil || m.Until != nil)
}

// Due returns what m becomes at now by its schedule, and whether that
// is a change: past Until, off with no schedule left; else past From, on
// with Until left. Applying the result again changes nothing, so two
// nodes applying one schedule make one change.
func (m *Maintenance) Due(now time.Time) (*Maintenance, bool) {
	if m == nil {
		return nil, false
	}
	switch {
	case m.Until != nil && !now.Before(*m.Until):
		return &Maintenance{Page: m.Page}, true
	case m.From != nil && !now.Before(*m.From):
		return &Maintenance{On: true, Page: m.Page, Until: m.Until}, true
	}
	return m, false
}

// maintenanceHandler is the static response of a route in maintenance.
func maintenanceHandler(m *Maintenance) map[string]any {
	page := m.Page
	if page == "" {
		page = DefaultMaintenancePage
	}
	hdr := map[string][]string{
		"Content-Type":  {"text/html; charset=utf-8"},
		"Cache-Control": {"no-store"},
	}
	if m.Until != nil {
		hdr["Retry-After"] = []string{m.Until.UTC().Format(http.TimeFormat)}
	}
	return map[string]any{
		"handler":     "static_response",
		"status_code": http.StatusServiceUnavailable,
		"headers":     hdr,
		"body":        escape(page),
	}
}
