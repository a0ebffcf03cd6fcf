package certs

import (
	"crypto/tls"
	"sync"
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
