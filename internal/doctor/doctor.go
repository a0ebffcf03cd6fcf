// Package doctor diagnoses a proxyos instance: the causes of a login that
// loops back to the login page, and the configuration and health problems
// that lead there or elsewhere (the dashboard's url, the secret, the
// database, certificates, the admin endpoint). The checks are functions
// over a snapshot of facts that the Caddy glue collects (Facts), so they
// run without Caddy; Probe adds what only a client sees, by requesting
// the dashboard like a browser. Findings never hold a secret.
package doctor

import (
	"slices"
	"time"
)

// Severity says how bad a finding is.
type Severity string

// Severities, from good to bad.
const (
	OK      Severity = "ok"
	Warning Severity = "warning"
	Problem Severity = "problem"
)

// rank orders severities.
func (s Severity) rank() int {
	switch s {
	case Problem:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// Finding is the outcome of one check: what it saw, why that matters and
// the fix, each in one sentence. ID names the check; the README's
// Troubleshooting section has an entry for each.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Saw      string   `json:"saw"`
	Why      string   `json:"why,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

// Report is the findings of one run of the checks, worst first.
type Report struct {
	At       time.Time `json:"at"`
	URL      string    `json:"url,omitempty"` // the app's url, which clients probe
	Findings []Finding `json:"findings"`
}

// Worst returns the severity of the worst finding, OK for none.
func (r Report) Worst() Severity {
	worst := OK
	for _, f := range r.Findings {
		if f.Severity.rank() > worst.rank() {
			worst = f.Severity
		}
	}
	return worst
}

// ExitCode is the exit status of `caddy proxyos doctor` for the report:
// 0 when all is well, 1 with warnings, 2 with problems.
func (r Report) ExitCode() int { return r.Worst().rank() }

// Add appends findings and keeps the report sorted worst first (stable,
// so checks keep their order within a severity).
func (r *Report) Add(fs ...Finding) {
	r.Findings = append(r.Findings, fs...)
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return b.Severity.rank() - a.Severity.rank() })
}

// Has returns the finding with the id, for tests and callers that act on
// one check.
func (r Report) Has(id string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// check is one server-side check.
type check func(f *Facts) []Finding

// checks are the server-side checks, in the order of the README's
// Troubleshooting section.
var checks = []check{
	checkURL, checkURLResolves, checkURLSite, checkDashboardHosts,
	checkSecretSource, checkSecretStrength, checkSecretFile, checkUnknownKeys,
	checkDatabase, checkMigrations, checkClock,
	checkOnDemand, checkRouteLogin, checkStreamOverlap, checkCertFailing, checkCertExpiry,
	checkAdmin,
}

// Run runs the server-side checks over the facts.
func Run(f *Facts) Report {
	r := Report{At: f.Now.UTC(), Findings: []Finding{}}
	if f.URL != nil {
		r.URL = f.URL.String()
	}
	for _, c := range checks {
		r.Add(c(f)...)
	}
	return r
}

// ok returns a finding of a check that found nothing wrong.
func ok(id, saw string) Finding { return Finding{ID: id, Severity: OK, Saw: saw} }
