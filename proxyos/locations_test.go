package proxyos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// TestLocationsAllocs: through the proxyos_routes handler, a request to
// a route with four locations allocates no more than the same request to
// the same route without them, whichever location (or the default)
// serves it.
func TestLocationsAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	static := func() *route.Static { return &route.Static{Status: 200, Body: "ok", ContentType: "text/plain"} }
	plain := &route.Route{Enabled: true, Hosts: []string{"plain.test"}, Kind: route.KindStatic, TLS: route.TLSOff, Static: static()}
	withLocations := &route.Route{Enabled: true, Hosts: []string{"locations.test"}, Kind: route.KindStatic, TLS: route.TLSOff, Static: static()}
	for _, p := range []string{"/exact", "/api/v1/users/*", "/api/*", "/static*"} {
		withLocations.Locations = append(withLocations.Locations, route.Location{Path: p, Kind: route.KindStatic, Static: static()})
	}
	for _, r := range []*route.Route{plain, withLocations} {
		if _, err := a.Routes().Create(context.Background(), r, testActor); err != nil {
			t.Fatal(err)
		}
	}
	h := &RoutesHandler{app: a.App}
	fellThrough := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("fell through: no route")
		return nil
	})
	allocs := func(host, path string) float64 {
		w := &headerWriter{h: http.Header{}}
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://"+host+path, nil), w)
		serve := func() {
			if err := h.ServeHTTP(w, req, fellThrough); err != nil || w.status != 200 {
				t.Fatalf("%s%s: %d, %v", host, path, w.status, err)
			}
		}
		serve()
		return testing.AllocsPerRun(200, serve)
	}
	for _, path := range []string{"/api/v1/x", "/exact", "/Static/app.js", "/other/page"} {
		without, with := allocs("plain.test", path), allocs("locations.test", path)
		t.Logf("%s: %.1f allocations with 4 locations, %.1f without", path, with, without)
		if with > without {
			t.Errorf("%s: %.1f allocations with 4 locations, more than %.1f without", path, with, without)
		}
	}
}

// headerWriter is a ResponseWriter that keeps its headers and status,
// not the body.
type headerWriter struct {
	h      http.Header
	status int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerWriter) WriteHeader(status int)      { w.status = status }
