package stream

import "sync"

// ServerNames makes the changes that put server names on a shared HTTPS
// port one at a time. Routes and streams share that port by server
// name (the proxyos_streams wrapper): a route save checks that no
// stream there takes its hosts, a stream save that no enabled HTTPS
// route serves its hosts. Each holds ServerNames from its check until
// its change is stored and served, so of two changes racing for one
// name the later sees the earlier and is refused: a name never ends up
// on a stream and a route at once through this node.
//
// One ServerNames serves a node (the state its configs share), for the
// route service and the stream service alike. Changes that arrive from
// other nodes through the change log are applied without it: see the
// README's streams section. The zero value is ready to use; a nil
// *ServerNames locks nothing.
type ServerNames struct{ mu sync.Mutex }

// Lock waits until no other change checks or commits server names.
func (n *ServerNames) Lock() {
	if n != nil {
		n.mu.Lock()
	}
}

// Unlock lets the next change check and commit server names.
func (n *ServerNames) Unlock() {
	if n != nil {
		n.mu.Unlock()
	}
}
