package proxyos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxyos/caddy-proxyos/internal/certlimit"
)

// permNew returns a permission of an app with one wildcard route
// (*.w.example.com, exact host exact.example.com), a limit of 2 new names
// per hour on a fake clock, an empty certificate storage, and the app's
// warnings.
func permNew(t *testing.T) (*Permission, *App, *fakeClock, *certmagic.FileStorage, *observer.ObservedLogs) {
	t.Helper()
	a := newTestApp(t).App
	wild := rtuStaticRoute("", "hi", "*.w.example.com", "exact.example.com")
	if _, err := a.routes.Create(context.Background(), wild, testActor); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	a.OnDemandLimit = &OnDemandLimit{Names: 2, Interval: caddy.Duration(time.Hour)}
	a.state.certLimits = certlimit.New(2, time.Hour, clock.Now)
	a.routes.CertLimits = a.state.certLimits
	core, logs := observer.New(zap.WarnLevel)
	a.logger = zap.New(core)
	st := &certmagic.FileStorage{Path: t.TempDir()}
	return &Permission{app: a, storage: st}, a, clock, st, logs
}

// permWant fails unless CertificateAllowed allows name (want true) or
// denies it with caddytls.ErrPermissionDenied.
func permWant(t *testing.T, p *Permission, name string, want bool) error {
	t.Helper()
	err := p.CertificateAllowed(context.Background(), name)
	switch {
	case want && err != nil:
		t.Fatalf("CertificateAllowed(%s) = %v, want allowed", name, err)
	case !want && !errors.Is(err, caddytls.ErrPermissionDenied):
		t.Fatalf("CertificateAllowed(%s) = %v, want ErrPermissionDenied", name, err)
	}
	return err
}

// storeCert puts a certificate file for name in storage, as certmagic
// keeps one it obtained from the issuer issuerKey.
func storeCert(t *testing.T, st certmagic.Storage, issuerKey, name string) {
	t.Helper()
	if err := st.Store(context.Background(), certmagic.StorageKeys.SiteCert(issuerKey, name), []byte("cert")); err != nil {
		t.Fatal(err)
	}
}

// TestPermissionLimitsWildcardNames is the unbounded certificates attack:
// anonymous clients making up names under a wildcard route's host make
// the server obtain at most the route's limit of certificates per
// interval; the route's exact hosts and the names it served before are
// never refused.
func TestPermissionLimitsWildcardNames(t *testing.T) {
	p, _, clock, _, _ := permNew(t)
	permWant(t, p, "a.w.example.com", true)
	permWant(t, p, "B.W.example.com", true) // counted as b.w.example.com
	resets := clock.Now().Add(time.Hour).Format(time.RFC3339)
	for _, n := range []string{"c.w.example.com", "d.w.example.com"} {
		if err := permWant(t, p, n, false); !strings.Contains(err.Error(), "limit") || !strings.Contains(err.Error(), resets) {
			t.Errorf("refusal %q does not name the limit and its end %s", err, resets)
		}
	}

	// Names allowed before: a retried handshake, a renewal.
	permWant(t, p, "a.w.example.com", true)
	permWant(t, p, "b.w.example.com", true)
	// The exact host is one name the route's author chose.
	for range 5 {
		permWant(t, p, "exact.example.com", true)
	}
	// Hosts of no route, or a level too deep, stay refused.
	permWant(t, p, "x.y.w.example.com", false)

	clock.Advance(time.Hour)
	permWant(t, p, "c.w.example.com", true)
	permWant(t, p, "d.w.example.com", true)
	permWant(t, p, "e.w.example.com", false)
}

// TestPermissionStoredNamesNotCounted: after a restart the limiter is
// empty, and Caddy asks the permission before it loads a certificate from
// storage; a name whose certificate (or whose wildcard certificate) is in
// storage, from any issuer, is allowed without counting, so restarting
// during an attack does not refuse the names the route served.
func TestPermissionStoredNamesNotCounted(t *testing.T) {
	p, a, _, st, _ := permNew(t)
	storeCert(t, st, "proxyos", "old1.w.example.com")
	storeCert(t, st, "acme-v02.api.letsencrypt.org-directory", "old2.w.example.com")
	permWant(t, p, "new1.w.example.com", true)
	permWant(t, p, "new2.w.example.com", true)
	permWant(t, p, "new3.w.example.com", false)
	permWant(t, p, "old1.w.example.com", true)
	permWant(t, p, "old2.w.example.com", true)
	id := a.routes.Table.Lookup("old1.w.example.com").Route.ID
	if !a.state.certLimits.Known(id, "old1.w.example.com") {
		t.Errorf("a stored name is not remembered")
	}

	// Before the limit is reached, stored names do not use it up.
	p2, _, _, st2, _ := permNew(t)
	for i := range 5 {
		storeCert(t, st2, "proxyos", fmt.Sprintf("old%d.w.example.com", i))
		permWant(t, p2, fmt.Sprintf("old%d.w.example.com", i), true)
	}
	permWant(t, p2, "new1.w.example.com", true)
	permWant(t, p2, "new2.w.example.com", true)
	permWant(t, p2, "new3.w.example.com", false)

	// A wildcard certificate in storage covers every name under it.
	storeCert(t, st2, "local", "*.w.example.com")
	permWant(t, p2, "new3.w.example.com", true)
}

// TestPermissionLogsRefusalsOncePerInterval: a flood of refused
// handshakes writes one warning per route per interval, naming the route,
// the refusals and when the route resets, never one line per handshake.
func TestPermissionLogsRefusalsOncePerInterval(t *testing.T) {
	p, a, clock, _, logs := permNew(t)
	id := a.routes.Table.Lookup("x.w.example.com").Route.ID
	start := clock.Now()
	permWant(t, p, "a.w.example.com", true)
	permWant(t, p, "b.w.example.com", true)
	for i := range 20 {
		permWant(t, p, fmt.Sprintf("flood%d.w.example.com", i), false)
	}
	check := func(n, refused int, resets time.Time) {
		t.Helper()
		entries := logs.FilterMessageSnippet("on-demand certificate limit reached").All()
		if len(entries) != n {
			t.Fatalf("%d warnings, want %d: %v", len(entries), n, logs.All())
		}
		f := entries[n-1].ContextMap()
		if f["route_id"] != id || f["refused"] != int64(refused) || !f["resets_at"].(time.Time).Equal(resets) ||
			f["limit"] != int64(2) || f["interval"] != time.Hour {
			t.Errorf("warning fields %v, want route_id %s, refused %d, resets_at %s, limit 2, interval 1h", f, id, refused, resets)
		}
	}
	check(1, 1, start.Add(time.Hour))

	clock.Advance(2 * time.Hour)
	start = clock.Now()
	permWant(t, p, "c.w.example.com", true)
	permWant(t, p, "d.w.example.com", true)
	permWant(t, p, "flood-again.w.example.com", false)
	permWant(t, p, "flood-more.w.example.com", false)
	check(2, 20, start.Add(time.Hour))
}

// TestPermissionDeletedRouteForgotten: deleting a route drops its names,
// so the limiter's memory follows the routes that exist.
func TestPermissionDeletedRouteForgotten(t *testing.T) {
	p, a, _, _, _ := permNew(t)
	permWant(t, p, "a.w.example.com", true)
	lr := a.routes.Table.Lookup("a.w.example.com")
	if err := a.routes.Delete(context.Background(), lr.Route.ID, 0, testActor); err != nil {
		t.Fatal(err)
	}
	if a.state.certLimits.Known(lr.Route.ID, "a.w.example.com") {
		t.Fatalf("the deleted route's names are still remembered")
	}
	permWant(t, p, "a.w.example.com", false) // no route
}

// TestOnDemandLimitConfig: the app's defaults, an explicit limit reaching
// the shared limiter, and invalid values refused.
func TestOnDemandLimitConfig(t *testing.T) {
	a := newTestApp(t)
	if l := a.OnDemandLimit; l == nil || l.Names != DefaultOnDemandNames || time.Duration(l.Interval) != DefaultOnDemandInterval {
		t.Fatalf("default on_demand_limit %+v, want %d per %s", l, DefaultOnDemandNames, DefaultOnDemandInterval)
	}
	b := newTestApp(t, func(a *App) { a.OnDemandLimit = &OnDemandLimit{Names: 1} })
	if l := b.OnDemandLimit; l.Names != 1 || time.Duration(l.Interval) != DefaultOnDemandInterval {
		t.Fatalf("on_demand_limit %+v, want 1 per the default interval", l)
	}
	if !b.state.certLimits.Allow("r", "a.example.com").Allowed || b.state.certLimits.Allow("r", "b.example.com").Allowed {
		t.Fatalf("the shared limiter does not apply the configured limit of 1")
	}
	for _, l := range []*OnDemandLimit{{Names: -1}, {Interval: caddy.Duration(-time.Hour)}} {
		a := &App{OnDemandLimit: l}
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "on_demand_limit") {
			t.Errorf("Validate(%+v) = %v, want an on_demand_limit error", l, err)
		}
	}
}
