package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// rtuNewApp returns a route service over a fresh SQLite store, with
// routes provisioned in a real Caddy context.
func rtuNewApp(tb testing.TB) *Service {
	tb.Helper()
	tb.Setenv("XDG_DATA_HOME", tb.TempDir())
	tb.Setenv("XDG_CONFIG_HOME", tb.TempDir())
	st, _ := testkit.OpenStore(tb)
	return rtuService(tb, st, testkit.Secret)
}

// rtuService returns a route service over st with the secrets, its table
// provisioning routes in a real Caddy context; its routes stop when the
// test ends.
func rtuService(tb testing.TB, st *store.Store, secret string, previous ...string) *Service {
	tb.Helper()
	keys, err := keyring.New(secret, previous)
	if err != nil {
		tb.Fatal(err)
	}
	guard := rtuGuard()
	table := NewTable(rtuCaddyContext(tb), zap.NewNop(), guard)
	tb.Cleanup(table.Stop)
	return &Service{Table: table, Store: st, Keys: keys, Audit: audit.New(st, time.Now, zap.NewNop),
		Upstreams: guard, Tokens: NewTokens(), Now: time.Now, Logger: zap.NewNop()}
}

// rtuLive returns the live route serving host, or nil.
func rtuLive(a *Service, host string) *Live { return a.Table.Lookup(host) }

// rtuAssertServes fails unless host is live and its static body is body.
func rtuAssertServes(t *testing.T, a *Service, host, body string) {
	t.Helper()
	lr := rtuLive(a, host)
	if lr == nil {
		t.Fatalf("%s is not live, want it to serve %q", host, body)
	}
	if got := rtuBody(t, lr, host); got != body {
		t.Fatalf("%s serves %q, want %q", host, got, body)
	}
}

// rtuAssertStored fails unless route id is stored at version.
func rtuAssertStored(t *testing.T, a *Service, id string, version int) *route.Route {
	t.Helper()
	r, err := a.Route(context.Background(), id)
	if err != nil {
		t.Fatalf("Route(%s): %v", id, err)
	}
	if r.Version != version {
		t.Fatalf("stored version %d, want %d", r.Version, version)
	}
	return r
}

// rtuCreate creates a static route or fails the test.
func rtuCreate(t testing.TB, a *Service, body string, hosts ...string) *route.Route {
	t.Helper()
	r, err := a.Create(context.Background(), rtuStaticRoute("", body, hosts...), audit.Actor{Name: "alice", Kind: audit.ActorUser})
	if err != nil {
		t.Fatalf("CreateRoute(%v): %v", hosts, err)
	}
	return r
}

func TestAppRouteLifecycle(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()

	created := rtuCreate(t, a, "one", "App.Example.com")
	if created.ID == "" || created.Version != 1 || created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() {
		t.Fatalf("created route %+v: want an id, version 1 and timestamps", created)
	}
	id := created.ID
	rtuAssertStored(t, a, id, 1)
	rtuAssertServes(t, a, "app.example.com", "one")
	if st := a.Status(id); !st.Live {
		t.Errorf("RouteStatus = %+v, want live", st)
	}

	t.Run("update", func(t *testing.T) {
		next := rtuStaticRoute("", "two", "app.example.com")
		next.Version = 1
		got, err := a.Update(ctx, id, next, audit.Actor{Name: "bob", Kind: audit.ActorUser})
		if err != nil {
			t.Fatalf("UpdateRoute: %v", err)
		}
		if got.Version != 2 || got.ID != id || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("updated route: version %d id %s created %v; want 2, %s, %v", got.Version, got.ID, got.CreatedAt, id, created.CreatedAt)
		}
		rtuAssertStored(t, a, id, 2)
		rtuAssertServes(t, a, "app.example.com", "two")
	})

	t.Run("stale version", func(t *testing.T) {
		live := rtuLive(a, "app.example.com")
		stale := rtuStaticRoute("", "stale", "app.example.com")
		stale.Version = 1
		if _, err := a.Update(ctx, id, stale, audit.Actor{Name: "mallory", Kind: audit.ActorUser}); !errors.Is(err, ErrStaleVersion) {
			t.Fatalf("UpdateRoute(stale) = %v, want ErrStaleVersion", err)
		}
		if rtuLive(a, "app.example.com") != live {
			t.Error("a refused change replaced the live route")
		}
		rtuAssertStored(t, a, id, 2)
		rtuAssertServes(t, a, "app.example.com", "two")
	})

	t.Run("missing version", func(t *testing.T) {
		var fe *fail.FieldError
		if _, err := a.Update(ctx, id, rtuStaticRoute("", "x", "app.example.com"), audit.Actor{Name: "bob", Kind: audit.ActorUser}); !errors.As(err, &fe) || fe.Field != "version" {
			t.Fatalf("UpdateRoute(version 0) = %v, want a FieldError on version", err)
		}
	})

	t.Run("unknown route", func(t *testing.T) {
		r := rtuStaticRoute("", "x", "nope.example.com")
		r.Version = 1
		if _, err := a.Update(ctx, "nope", r, audit.Actor{Name: "bob", Kind: audit.ActorUser}); !errors.Is(err, ErrRouteNotFound) {
			t.Errorf("UpdateRoute(nope) = %v, want ErrRouteNotFound", err)
		}
		if _, err := a.Rollback(ctx, "nope", 1, audit.Actor{Name: "bob", Kind: audit.ActorUser}); !errors.Is(err, ErrRouteNotFound) {
			t.Errorf("RollbackRoute(nope) = %v, want ErrRouteNotFound", err)
		}
		if err := a.Delete(ctx, "nope", 0, audit.Actor{Name: "bob", Kind: audit.ActorUser}); !errors.Is(err, ErrRouteNotFound) {
			t.Errorf("DeleteRoute(nope) = %v, want ErrRouteNotFound", err)
		}
		if rtuLive(a, "nope.example.com") != nil {
			t.Error("nope.example.com became live")
		}
	})

	t.Run("rollback", func(t *testing.T) {
		got, err := a.Rollback(ctx, id, 1, audit.Actor{Name: "carol", Kind: audit.ActorUser})
		if err != nil {
			t.Fatalf("RollbackRoute: %v", err)
		}
		if got.Version != 3 {
			t.Errorf("rolled back to version %d, want 3 (a new version)", got.Version)
		}
		rtuAssertStored(t, a, id, 3)
		rtuAssertServes(t, a, "app.example.com", "one")

		var fe *fail.FieldError
		if _, err := a.Rollback(ctx, id, 9, audit.Actor{Name: "carol", Kind: audit.ActorUser}); !errors.As(err, &fe) || fe.Field != "version" {
			t.Errorf("RollbackRoute(9) = %v, want a FieldError on version", err)
		}
		rtuAssertStored(t, a, id, 3)

		hist, err := a.History(ctx, id)
		if err != nil {
			t.Fatalf("RouteHistory: %v", err)
		}
		var got3 []string
		for _, v := range hist {
			got3 = append(got3, fmt.Sprintf("%d %s %s %s", v.Version, v.Action, v.Actor, v.Route.Static.Body))
		}
		want := []string{"3 rollback to 1 carol one", "2 update bob two", "1 create alice one"}
		if !reflect.DeepEqual(got3, want) {
			t.Errorf("history %q, want %q", got3, want)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := a.Delete(ctx, id, 2, audit.Actor{Name: "dave", Kind: audit.ActorUser}); !errors.Is(err, ErrStaleVersion) {
			t.Fatalf("DeleteRoute(stale) = %v, want ErrStaleVersion", err)
		}
		rtuAssertServes(t, a, "app.example.com", "one")
		if err := a.Delete(ctx, id, 3, audit.Actor{Name: "dave", Kind: audit.ActorUser}); err != nil {
			t.Fatalf("DeleteRoute: %v", err)
		}
		if rtuLive(a, "app.example.com") != nil {
			t.Error("app.example.com still live after delete")
		}
		if st := a.Status(id); st.Live {
			t.Error("RouteStatus still live after delete")
		}
		if _, err := a.Route(ctx, id); !errors.Is(err, ErrRouteNotFound) {
			t.Errorf("Route after delete = %v, want ErrRouteNotFound", err)
		}
		hist, err := a.History(ctx, id)
		if err != nil || len(hist) != 4 || hist[0].Action != "delete" || hist[0].Actor != "dave" {
			t.Errorf("history after delete = %+v, %v; want a delete by dave first", hist, err)
		}
		// Its host is free again.
		rtuCreate(t, a, "new", "app.example.com")
		rtuAssertServes(t, a, "app.example.com", "new")
	})
}

// TestAppRouteRefusedChangeKeepsPrevious checks that a change refused for
// any reason (invalid, host taken, handlers that do not provision) leaves
// the previous route stored and live, and stores nothing new.
func TestAppRouteRefusedChangeKeepsPrevious(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	prev := rtuCreate(t, a, "prev", "a.example.com", "b.example.com")
	other := rtuCreate(t, a, "other", "c.example.com")
	live := rtuLive(a, "a.example.com")

	proxy := func(hosts ...string) *route.Route {
		return &route.Route{Enabled: true, Hosts: hosts, Kind: route.KindProxy, Upstreams: []string{"http://127.0.0.1:9"}}
	}
	// A health check path that Validate accepts but reverse_proxy cannot
	// parse: the compiled chain fails to provision. (If Validate learns
	// to refuse it, the change is still refused with a FieldError.)
	unprovisionable := func(hosts ...string) *route.Route {
		r := proxy(hosts...)
		r.LoadBalancing = &route.LoadBalancing{HealthCheck: &route.HealthCheck{Path: "/%zz"}}
		return r
	}
	tests := []struct {
		name   string
		update *route.Route // as an update of prev
		create *route.Route // as a new route
		check  func(t *testing.T, err error)
	}{
		{
			name:   "invalid host",
			update: proxy("a.example.com", "bad host"),
			create: proxy("bad host"),
			check: func(t *testing.T, err error) {
				var fe *fail.FieldError
				if !errors.As(err, &fe) || fe.Field != "hosts[1]" && fe.Field != "hosts[0]" {
					t.Errorf("error %v, want a FieldError on hosts[i]", err)
				}
			},
		},
		{
			name:   "host of another route, in another case",
			update: proxy("a.example.com", "C.Example.COM"),
			create: proxy("new.example.com", "C.EXAMPLE.COM"),
			check: func(t *testing.T, err error) {
				var hc *store.HostConflictError
				if !errors.As(err, &hc) || hc.Host != "c.example.com" || hc.RouteID != other.ID {
					t.Errorf("error %v, want a HostConflictError on c.example.com held by %s", err, other.ID)
				}
			},
		},
		{
			name:   "handlers that do not provision",
			update: unprovisionable("a.example.com", "new.example.com"),
			create: unprovisionable("new.example.com"),
			check: func(t *testing.T, err error) {
				var fe *fail.FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %v, want a FieldError", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.update.Version = 1
			_, err := a.Update(ctx, prev.ID, tt.update, audit.Actor{Name: "mallory", Kind: audit.ActorUser})
			if err == nil {
				t.Fatal("UpdateRoute accepted the change")
			}
			tt.check(t, err)
			_, err = a.Create(ctx, tt.create, audit.Actor{Name: "mallory", Kind: audit.ActorUser})
			if err == nil {
				t.Fatal("CreateRoute accepted the route")
			}
			tt.check(t, err)

			rtuAssertStored(t, a, prev.ID, 1)
			if rtuLive(a, "a.example.com") != live || rtuLive(a, "b.example.com") != live {
				t.Error("the live route changed")
			}
			rtuAssertServes(t, a, "a.example.com", "prev")
			rtuAssertServes(t, a, "c.example.com", "other")
			if rtuLive(a, "new.example.com") != nil {
				t.Error("new.example.com became live")
			}
			routes, err := a.Routes(ctx)
			if err != nil || len(routes) != 2 {
				t.Errorf("Routes = %d routes (%v), want 2", len(routes), err)
			}
			hist, err := a.History(ctx, prev.ID)
			if err != nil || len(hist) != 1 {
				t.Errorf("history has %d entries (%v), want 1", len(hist), err)
			}
		})
	}
	// The previous route still takes a good change.
	next := rtuStaticRoute("", "next", "a.example.com", "new.example.com")
	next.Version = 1
	if _, err := a.Update(ctx, prev.ID, next, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
		t.Fatalf("UpdateRoute after refusals: %v", err)
	}
	rtuAssertServes(t, a, "new.example.com", "next")
	if rtuLive(a, "b.example.com") != nil {
		t.Error("b.example.com still live after the route dropped it")
	}
}

// TestAppRouteChangeTouchesOnlyThatRoute checks the "no reload" property:
// changing, adding or deleting one route leaves every other live route
// exactly as it was (the same provisioned handlers, never cancelled).
func TestAppRouteChangeTouchesOnlyThatRoute(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	changed := rtuCreate(t, a, "a1", "a.example.com")
	rtuCreate(t, a, "b", "b.example.com", "*.b.example.com")
	rtuCreate(t, a, "c", "c.example.com")
	hosts := []string{"b.example.com", "x.b.example.com", "c.example.com"}
	before := map[string]*Live{}
	for _, h := range hosts {
		before[h] = rtuLive(a, h)
	}
	assertUntouched := func(t *testing.T) {
		t.Helper()
		for _, h := range hosts {
			if got := rtuLive(a, h); got != before[h] {
				t.Errorf("%s: live route replaced (%p, was %p)", h, got, before[h])
			}
		}
		rtuAssertServes(t, a, "b.example.com", "b")
		rtuAssertServes(t, a, "x.b.example.com", "b")
		rtuAssertServes(t, a, "c.example.com", "c")
	}

	t.Run("update", func(t *testing.T) {
		next := rtuStaticRoute("", "a2", "a.example.com", "a2.example.com")
		next.Version = 1
		if _, err := a.Update(ctx, changed.ID, next, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
			t.Fatal(err)
		}
		rtuAssertServes(t, a, "a2.example.com", "a2")
		assertUntouched(t)
	})
	t.Run("create", func(t *testing.T) {
		rtuCreate(t, a, "d", "d.example.com")
		assertUntouched(t)
	})
	t.Run("delete", func(t *testing.T) {
		if err := a.Delete(ctx, changed.ID, 0, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
			t.Fatal(err)
		}
		if rtuLive(a, "a.example.com") != nil || rtuLive(a, "a2.example.com") != nil {
			t.Error("deleted route still live")
		}
		assertUntouched(t)
	})
}

func TestAppRouteDisabled(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	r := rtuStaticRoute("", "off", "off.example.com")
	r.Enabled = false
	created, err := a.Create(ctx, r, audit.Actor{Name: "alice", Kind: audit.ActorUser})
	if err != nil {
		t.Fatalf("CreateRoute(disabled): %v", err)
	}
	rtuAssertStored(t, a, created.ID, 1)
	if rtuLive(a, "off.example.com") != nil || a.Status(created.ID).Live {
		t.Fatal("a disabled route is live")
	}

	on := rtuStaticRoute("", "on", "off.example.com")
	on.Version = 1
	if _, err := a.Update(ctx, created.ID, on, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
		t.Fatalf("enabling: %v", err)
	}
	rtuAssertServes(t, a, "off.example.com", "on")

	off := rtuStaticRoute("", "on", "off.example.com")
	off.Enabled, off.Version = false, 2
	if _, err := a.Update(ctx, created.ID, off, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
		t.Fatalf("disabling: %v", err)
	}
	if rtuLive(a, "off.example.com") != nil {
		t.Error("still live after disabling")
	}
	rtuAssertStored(t, a, created.ID, 3)

	// A disabled route still holds its hosts.
	var hc *store.HostConflictError
	if _, err := a.Create(ctx, rtuStaticRoute("", "x", "off.example.com"), audit.Actor{Name: "bob", Kind: audit.ActorUser}); !errors.As(err, &hc) {
		t.Errorf("claiming a disabled route's host: %v, want a HostConflictError", err)
	}
}

// TestAppRouteLoad checks that a new router (as after a restart or a
// config reload) serves every enabled stored route and no disabled one.
func TestAppRouteLoad(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	rtuCreate(t, a, "one", "one.example.com")
	r := rtuStaticRoute("", "off", "off.example.com")
	r.Enabled = false
	if _, err := a.Create(ctx, r, audit.Actor{Name: "alice", Kind: audit.ActorUser}); err != nil {
		t.Fatal(err)
	}
	rt := NewTable(a.Table.ctx, zap.NewNop(), a.Upstreams)
	t.Cleanup(rt.Stop)
	if err := rt.Load(ctx, a.Store, a.Open); err != nil {
		t.Fatalf("load: %v", err)
	}
	lr := rt.Lookup("one.example.com")
	if lr == nil || rtuBody(t, lr, "one.example.com") != "one" {
		t.Fatal("one.example.com not served after load")
	}
	if lr == rtuLive(a, "one.example.com") {
		t.Error("the new router shares the old router's handlers")
	}
	if rt.Lookup("off.example.com") != nil {
		t.Error("disabled route live after load")
	}
}

// BenchmarkApplyRouteChange measures UpdateRoute of one route (validate,
// compile, provision, commit, swap) with many other routes present. The
// time per change should not grow with the number of routes.
//
//	go test -bench ApplyRouteChange -run '^$' ./internal/router/
func BenchmarkApplyRouteChange(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			a := rtuNewApp(b)
			ctx := context.Background()
			rtuFillRoutes(b, a, n)
			target := rtuCreate(b, a, "v1", "target.example.com")
			version := target.Version
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := rtuStaticRoute("", fmt.Sprintf("v%d", i+2), "target.example.com")
				r.Version = version
				got, err := a.Update(ctx, target.ID, r, audit.Actor{Name: "bench", Kind: audit.ActorUser})
				if err != nil {
					b.Fatalf("UpdateRoute: %v", err)
				}
				version = got.Version
			}
			b.StopTimer()
			if lr := rtuLive(a, "target.example.com"); lr == nil || lr.Route.Version != version {
				b.Fatalf("the last change is not live")
			}
			if lr := rtuLive(a, fmt.Sprintf("r%d.example.com", n-1)); lr == nil {
				b.Fatalf("the other routes are not live")
			}
		})
	}
}

// rtuFillRoutes stores and publishes n static routes r0…r(n-1).example.com
// directly (one transaction each, no history API), as a fast setup.
func rtuFillRoutes(tb testing.TB, a *Service, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	a.Table.mu.Lock()
	defer a.Table.mu.Unlock()
	for i := range n {
		r := rtuStaticRoute(fmt.Sprintf("fill-%05d", i), "fill", fmt.Sprintf("r%d.example.com", i))
		r.Version, r.CreatedAt, r.UpdatedAt = 1, now, now
		spec, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		err = a.Store.PutRoute(ctx, store.StoredRoute{
			ID: r.ID, Spec: spec, Version: 1, Enabled: true, Hosts: r.Hosts, CreatedAt: now, UpdatedAt: now,
		}, 0, "create", "bench", nil)
		if err != nil {
			tb.Fatalf("PutRoute: %v", err)
		}
		lr, err := a.Table.compile(r)
		if err != nil {
			tb.Fatalf("compile: %v", err)
		}
		a.Table.publish(r.ID, lr)
	}
	if got := len(a.Table.byID); got != n {
		tb.Fatalf("%d live routes, want %d", got, n)
	}
	if !strings.HasPrefix(a.Table.Lookup("r0.example.com").Route.ID, "fill-") {
		tb.Fatal("fill routes not live")
	}
}

// Another node's route changes reach this node's table through Reload
// (one route) and Sync (all of them): new versions are swapped in,
// disabled and deleted routes leave, unchanged routes stay as they are.
func TestRouteReloadAndSyncFollowTheStore(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	a, b := rtuService(t, st, testkit.Secret), rtuService(t, st, testkit.Secret)
	ctx := context.Background()
	actor := audit.Actor{Name: "ada", Kind: audit.ActorUser}

	r := rtuCreate(t, a, "v1", "app.example.com")
	if err := b.Reload(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	rtuAssertServes(t, b, "app.example.com", "v1")
	first := rtuLive(b, "app.example.com")
	if err := b.Reload(ctx, r.ID); err != nil || rtuLive(b, "app.example.com") != first {
		t.Fatalf("reloading an unchanged route compiled it again (%v)", err)
	}

	up := rtuStaticRoute("", "v2", "app.example.com", "www.example.com")
	up.Version = r.Version
	r, err := a.Update(ctx, r.ID, up, actor)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	rtuAssertServes(t, b, "www.example.com", "v2")

	off := rtuStaticRoute("", "v3", "app.example.com")
	off.Version, off.Enabled = r.Version, false
	if r, err = a.Update(ctx, r.ID, off, actor); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if rtuLive(b, "app.example.com") != nil || rtuLive(b, "www.example.com") != nil {
		t.Fatal("a disabled route is still live on the other node")
	}

	// Several changes missed: Sync catches up with all of them.
	kept := rtuCreate(t, a, "kept", "kept.example.com")
	gone := rtuCreate(t, a, "gone", "gone.example.com")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	keptLive := rtuLive(b, "kept.example.com")
	rtuAssertServes(t, b, "gone.example.com", "gone")
	if err := a.Delete(ctx, gone.ID, 0, actor); err != nil {
		t.Fatal(err)
	}
	on := rtuStaticRoute("", "v4", "app.example.com")
	on.Version = r.Version
	if _, err := a.Update(ctx, r.ID, on, actor); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rtuAssertServes(t, b, "app.example.com", "v4")
	if rtuLive(b, "gone.example.com") != nil {
		t.Fatal("a deleted route is still live after Sync")
	}
	if rtuLive(b, "kept.example.com") != keptLive || kept.ID == "" {
		t.Fatal("Sync compiled an unchanged route again")
	}
	// Reload of a route deleted meanwhile removes it too.
	if err := a.Delete(ctx, kept.ID, 0, actor); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx, kept.ID); err != nil || rtuLive(b, "kept.example.com") != nil {
		t.Fatalf("a deleted route is still live after Reload (%v)", err)
	}
}
