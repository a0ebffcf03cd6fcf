package proxyos

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestGateRevocationRace prevents a revoked session from slipping through
// the gate while the revocation is in flight (attack: keep using a stolen
// cookie by hammering the site while its owner revokes it). Gate requests
// run on many goroutines, cached and uncached, while the owner revokes the
// session through the API; every request that starts after the revocation
// answered must be refused.
func TestGateRevocationRace(t *testing.T) {
	for round := range 20 {
		a := newTestApp(t)
		d := a.dashboard()
		u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
		stolen := a.newSession(t, u)
		owner := a.newSession(t, u)
		h := a.gate()
		id := sessionIDOf(t, a, stolen)

		var (
			revoked atomic.Bool
			passed  atomic.Int64
			wg      sync.WaitGroup
			stop    = make(chan struct{})
		)
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load()
					if g == 0 && i%5 == 0 {
						a.state.sessions.Forget(id) // force a store load
					}
					req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
					withCookie(req, stolen)
					rec := httptest.NewRecorder()
					req, _ = prepare(req, rec)
					next := &nextRecorder{}
					if err := h.ServeHTTP(rec, req, next); err != nil {
						t.Errorf("gate: %v", err)
						return
					}
					if next.called && after {
						passed.Add(1)
					}
				}
			})
		}
		rec := serve(t, d, withCookie(apiRequest(http.MethodDelete, "/api/sessions/"+id, "{}"), owner))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
		}
		revoked.Store(true)
		for range 200 {
			req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
			withCookie(req, stolen)
			if _, next, _ := gate(t, h, req); next.called {
				passed.Add(1)
			}
		}
		close(stop)
		wg.Wait()
		if n := passed.Load(); n > 0 {
			t.Fatalf("round %d: %d gate requests started after the revocation passed", round, n)
		}
	}
}

// sessionIDOf returns the id of the session a cookie belongs to.
func sessionIDOf(t *testing.T, a *testApp, cookie string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://app.test/", nil)
	withCookie(req, cookie)
	e, reason, err := a.verifyRequest(req)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if e == nil {
		t.Fatalf("verify: %s", reason)
	}
	return e.Identity().SessionID
}
