package certs

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"
)

// KeyContext is the sealing context of a custom certificate's private
// key (see keyring.Seal): a sealed key copied to another certificate's
// row does not open.
func KeyContext(id string) string { return "certificate:" + id }

// Served holds the custom certificates a node serves, by id: what a TLS
// handshake for a route with tls custom gets, read without I/O. A
// replaced or deleted certificate is gone from it at once. Safe for
// concurrent use; the zero value is ready.
type Served struct {
	mu sync.RWMutex
	m  map[string]*tls.Certificate
}

// Put serves c as certificate id, replacing any before.
func (s *Served) Put(id string, c *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*tls.Certificate)
	}
	s.m[id] = c
}

// Delete stops serving certificate id.
func (s *Served) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// Get returns certificate id, or nil.
func (s *Served) Get(id string) *tls.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[id]
}

// Reset serves exactly all, for a node that reloads every certificate.
func (s *Served) Reset(all map[string]*tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = all
}

// Leaves returns the leaf of each certificate served, by id.
func (s *Served) Leaves() map[string]*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]*x509.Certificate, len(s.m))
	for id, c := range s.m {
		if c != nil && c.Leaf != nil {
			out[id] = c.Leaf
		}
	}
	return out
}

// WarnEvery is how often an expiring custom certificate is logged.
const WarnEvery = 24 * time.Hour

// Expiring decides when to log that a custom certificate expires soon:
// once per WarnEvery per certificate, while it is within ExpiryWarning
// of its expiry. A replacement is a new certificate, warned about
// afresh. Safe for concurrent use; the zero value is ready.
type Expiring struct {
	mu   sync.Mutex
	last map[string]time.Time // by id and serial
}

// Due reports whether to warn now about certificate id, whose leaf is
// leaf, and if so counts the warning as given.
func (x *Expiring) Due(id string, leaf *x509.Certificate, now time.Time) bool {
	if !ExpiresSoon(leaf.NotAfter, now) {
		return false
	}
	key := id + "/" + leaf.SerialNumber.Text(16)
	x.mu.Lock()
	defer x.mu.Unlock()
	if at, ok := x.last[key]; ok && now.Sub(at) < WarnEvery {
		return false
	}
	if x.last == nil {
		x.last = make(map[string]time.Time)
	}
	for k, at := range x.last {
		if now.Sub(at) >= 2*WarnEvery {
			delete(x.last, k) // replaced or deleted since
		}
	}
	x.last[key] = now
	return true
}
