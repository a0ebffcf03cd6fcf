// Package certs keeps what proxyos knows about the certificates it serves
// beyond what certmagic's cache holds: the outcome of each name's latest
// issuance or renewal attempt on this node, with the CA's error verbatim.
package certs

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// maxAttempts bounds the names remembered. Issuance is only attempted for
// hosts of enabled routes, so this is far above what a node sees; past
// it, the oldest attempt is forgotten.
const maxAttempts = 100_000

// Attempt is the outcome of the latest issuance or renewal attempt of a
// certificate, keyed by its first name.
type Attempt struct {
	Name   string    `json:"name"`
	Issuer string    `json:"issuer"` // acme, internal, or another issuer's name
	At     time.Time `json:"at"`
	// Error is the issuer's error text, verbatim (for ACME: the CA's
	// problem document as certmagic reports it). Empty on success.
	Error string `json:"error,omitempty"`
	// Failures counts the failed attempts since the last success.
	Failures int `json:"failures,omitempty"`
}

// Attempts remembers the latest attempt per name. Safe for concurrent use;
// the zero value is ready.
type Attempts struct {
	mu sync.Mutex
	m  map[string]Attempt
}

// Record notes an attempt for name with issuer at a time; err nil is a
// success.
func (a *Attempts) Record(name, issuer string, at time.Time, err error) {
	name = strings.ToLower(name)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = make(map[string]Attempt)
	}
	prev, seen := a.m[name]
	if !seen && len(a.m) >= maxAttempts {
		a.forgetOldest()
	}
	at = at.UTC()
	next := Attempt{Name: name, Issuer: issuer, At: at}
	if err != nil {
		next.Error = err.Error()
		next.Failures = prev.Failures + 1
	}
	a.m[name] = next
}

// forgetOldest drops the oldest attempt. The caller holds mu.
func (a *Attempts) forgetOldest() {
	var oldest string
	var at time.Time
	for name, att := range a.m {
		if oldest == "" || att.At.Before(at) {
			oldest, at = name, att.At
		}
	}
	delete(a.m, oldest)
}

// Get returns the latest attempt for name.
func (a *Attempts) Get(name string) (Attempt, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	att, ok := a.m[strings.ToLower(name)]
	return att, ok
}

// All returns every remembered attempt, by name.
func (a *Attempts) All() []Attempt {
	a.mu.Lock()
	out := make([]Attempt, 0, len(a.m))
	for _, att := range a.m {
		out = append(out, att)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Attempt) int { return strings.Compare(x.Name, y.Name) })
	return out
}
