package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// rtuProbes numbers probe routes: an id, once used, keeps its history.
var rtuProbes atomic.Int64

// rtuT0 is the creation time of test routes (millisecond precision, as
// stored).
var rtuT0 = time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)

// rtuRoute returns a route at version with a spec naming it and the
// version, updated version minutes after rtuT0.
func rtuRoute(id string, version int, hosts ...string) StoredRoute {
	return StoredRoute{
		ID: id, Spec: fmt.Appendf(nil, `{"id":%q,"v":%d}`, id, version), Version: version, Enabled: true, Hosts: hosts,
		CreatedAt: rtuT0, UpdatedAt: rtuT0.Add(time.Duration(version) * time.Minute),
	}
}

// rtuPut stores r over prevVersion or fails the test.
func rtuPut(t *testing.T, s *Store, r StoredRoute, prevVersion int, action, actor string) {
	t.Helper()
	if err := s.PutRoute(context.Background(), r, prevVersion, action, actor, nil); err != nil {
		t.Fatalf("PutRoute(%s v%d over v%d): %v", r.ID, r.Version, prevVersion, err)
	}
}

// rtuAssertRoute fails unless route id is stored exactly as want (hosts
// aside, which the store does not return).
func rtuAssertRoute(t *testing.T, s *Store, want StoredRoute) {
	t.Helper()
	got, err := s.Route(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("Route(%s): %v", want.ID, err)
	}
	want.Hosts = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Route(%s) = %+v (spec %s), want %+v (spec %s)", want.ID, got, got.Spec, want, want.Spec)
	}
}

// rtuAssertHostOwner fails unless host is held by route owner: claiming
// it for a fresh route conflicts with owner (and stores nothing).
func rtuAssertHostOwner(t *testing.T, s *Store, host, owner string) {
	t.Helper()
	probe := rtuRoute(fmt.Sprintf("probe-%d", rtuProbes.Add(1)), 1, host)
	err := s.PutRoute(context.Background(), probe, 0, "create", "probe", nil)
	var hc *HostConflictError
	if !errors.As(err, &hc) || hc.Host != host || hc.RouteID != owner {
		if err == nil {
			t.Fatalf("host %s is free, want it held by %s", host, owner)
		}
		t.Fatalf("claiming %s: %v, want a HostConflictError naming route %s", host, err, owner)
	}
}

// rtuAssertHostFree fails unless host can be claimed; the probe route
// claiming it is deleted again.
func rtuAssertHostFree(t *testing.T, s *Store, host string) {
	t.Helper()
	ctx := context.Background()
	probe := rtuRoute(fmt.Sprintf("probe-%d", rtuProbes.Add(1)), 1, host)
	if err := s.PutRoute(ctx, probe, 0, "create", "probe", nil); err != nil {
		t.Fatalf("host %s is not free: %v", host, err)
	}
	if err := s.DeleteRoute(ctx, probe.ID, 1, "probe", rtuT0); err != nil {
		t.Fatalf("deleting the probe route: %v", err)
	}
}

// rtuIDs returns the ids of routes in order.
func rtuIDs(t *testing.T, s *Store) []string {
	t.Helper()
	routes, err := s.ListRoutes(context.Background())
	if err != nil {
		t.Fatalf("ListRoutes: %v", err)
	}
	ids := []string{}
	for _, r := range routes {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestPutRouteCreateUpdate(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		v1 := rtuRoute("r1", 1, "a.example.com")
		rtuPut(t, s, v1, 0, "create", "alice")
		rtuAssertRoute(t, s, v1)

		v2 := rtuRoute("r1", 2, "a.example.com")
		v2.Enabled = false
		rtuPut(t, s, v2, 1, "update", "bob")
		rtuAssertRoute(t, s, v2)

		tests := []struct {
			name string
			r    StoredRoute
			prev int
			want error
		}{
			{"stale version", rtuRoute("r1", 2, "a.example.com"), 1, ErrVersionConflict},
			{"future version", rtuRoute("r1", 4, "a.example.com"), 3, ErrVersionConflict},
			{"unknown id", rtuRoute("nope", 2, "n.example.com"), 1, ErrNotFound},
			{"create over an existing id", rtuRoute("r1", 1, "x.example.com"), 0, ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.PutRoute(ctx, tt.r, tt.prev, "update", "mallory", nil)
				if !errors.Is(err, tt.want) {
					t.Fatalf("PutRoute = %v, want %v", err, tt.want)
				}
				rtuAssertRoute(t, s, v2)
				if ids := rtuIDs(t, s); !reflect.DeepEqual(ids, []string{"r1"}) {
					t.Errorf("routes %v, want [r1]", ids)
				}
				vs, err := s.RouteVersions(ctx, "r1")
				if err != nil || len(vs) != 2 {
					t.Errorf("RouteVersions = %d entries (%v), want 2: a failed change must not be recorded", len(vs), err)
				}
			})
		}
		rtuAssertHostOwner(t, s, "a.example.com", "r1")
		rtuAssertHostFree(t, s, "x.example.com")
		rtuAssertHostFree(t, s, "n.example.com")
	})
}

func TestListRoutesOldestFirst(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		for i, id := range []string{"c", "a", "b"} {
			r := rtuRoute(id, 1, id+".example.com")
			r.CreatedAt = rtuT0.Add(time.Duration(i) * time.Second)
			rtuPut(t, s, r, 0, "create", "alice")
		}
		late := rtuRoute("0", 1, "zero.example.com")
		late.CreatedAt = rtuT0.Add(time.Hour)
		rtuPut(t, s, late, 0, "create", "alice")
		// An update does not move a route.
		rtuPut(t, s, rtuRoute("c", 2, "c.example.com"), 1, "update", "alice")
		if ids := rtuIDs(t, s); !reflect.DeepEqual(ids, []string{"c", "a", "b", "0"}) {
			t.Errorf("ListRoutes order %v, want [c a b 0]", ids)
		}
	})
}

func TestPutRouteHostConflict(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		r1 := rtuRoute("r1", 1, "a.example.com", "b.example.com")
		rtuPut(t, s, r1, 0, "create", "alice")
		r2 := rtuRoute("r2", 1, "c.example.com")
		rtuPut(t, s, r2, 0, "create", "alice")

		tests := []struct {
			name      string
			r         StoredRoute
			prev      int
			host, own string
		}{
			{"create with a taken host", rtuRoute("r3", 1, "new.example.com", "b.example.com"), 0, "b.example.com", "r1"},
			{"update claiming another route's host", rtuRoute("r1", 2, "a.example.com", "c.example.com"), 1, "c.example.com", "r2"},
			{"update moving all hosts onto a taken one", rtuRoute("r2", 2, "a.example.com"), 1, "a.example.com", "r1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.PutRoute(ctx, tt.r, tt.prev, "update", "mallory", nil)
				var hc *HostConflictError
				if !errors.As(err, &hc) {
					t.Fatalf("PutRoute = %v, want a *HostConflictError", err)
				}
				if hc.Host != tt.host || hc.RouteID != tt.own {
					t.Errorf("conflict on %q held by %q, want %q held by %q", hc.Host, hc.RouteID, tt.host, tt.own)
				}
				if hc.Error() == "" {
					t.Error("empty error message")
				}
				// The failed change left everything as it was.
				rtuAssertRoute(t, s, r1)
				rtuAssertRoute(t, s, r2)
				if ids := rtuIDs(t, s); !reflect.DeepEqual(ids, []string{"r1", "r2"}) {
					t.Errorf("routes %v, want [r1 r2]", ids)
				}
				rtuAssertHostOwner(t, s, "a.example.com", "r1")
				rtuAssertHostOwner(t, s, "b.example.com", "r1")
				rtuAssertHostOwner(t, s, "c.example.com", "r2")
				rtuAssertHostFree(t, s, "new.example.com")
			})
		}

		// The previous route still accepts a normal change at its version.
		rtuPut(t, s, rtuRoute("r1", 2, "a.example.com", "b.example.com", "d.example.com"), 1, "update", "alice")
		rtuAssertHostOwner(t, s, "d.example.com", "r1")
	})
}

func TestRouteHostsFreed(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		rtuPut(t, s, rtuRoute("r1", 1, "a.example.com", "b.example.com"), 0, "create", "alice")

		t.Run("on update", func(t *testing.T) {
			rtuPut(t, s, rtuRoute("r1", 2, "b.example.com", "c.example.com"), 1, "update", "alice")
			rtuAssertHostFree(t, s, "a.example.com")
			rtuAssertHostOwner(t, s, "b.example.com", "r1")
			rtuAssertHostOwner(t, s, "c.example.com", "r1")
		})
		t.Run("on delete", func(t *testing.T) {
			if err := s.DeleteRoute(ctx, "r1", 2, "alice", rtuT0); err != nil {
				t.Fatalf("DeleteRoute: %v", err)
			}
			rtuAssertHostFree(t, s, "b.example.com")
			rtuAssertHostFree(t, s, "c.example.com")
		})
		t.Run("a disabled route keeps its hosts", func(t *testing.T) {
			r := rtuRoute("r2", 1, "e.example.com")
			r.Enabled = false
			rtuPut(t, s, r, 0, "create", "alice")
			rtuAssertHostOwner(t, s, "e.example.com", "r2")
		})
	})
}

func TestRouteVersions(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		v1 := rtuRoute("r1", 1, "a.example.com")
		v2 := rtuRoute("r1", 2, "b.example.com")
		v3 := rtuRoute("r1", 3, "a.example.com")
		v3.Spec = v1.Spec
		rtuPut(t, s, v1, 0, "create", "alice")
		rtuPut(t, s, v2, 1, "update", "bob")
		rtuPut(t, s, v3, 2, "rollback to 1", "carol")
		rtuPut(t, s, rtuRoute("other", 1, "o.example.com"), 0, "create", "dave")
		deletedAt := rtuT0.Add(time.Hour)
		if err := s.DeleteRoute(ctx, "r1", 3, "erin", deletedAt); err != nil {
			t.Fatalf("DeleteRoute: %v", err)
		}

		vs, err := s.RouteVersions(ctx, "r1")
		if err != nil {
			t.Fatalf("RouteVersions: %v", err)
		}
		want := []RouteVersion{
			{RouteID: "r1", Version: 4, Action: "delete", Spec: v3.Spec, Actor: "erin", At: deletedAt},
			{RouteID: "r1", Version: 3, Action: "rollback to 1", Spec: v1.Spec, Actor: "carol", At: v3.UpdatedAt},
			{RouteID: "r1", Version: 2, Action: "update", Spec: v2.Spec, Actor: "bob", At: v2.UpdatedAt},
			{RouteID: "r1", Version: 1, Action: "create", Spec: v1.Spec, Actor: "alice", At: v1.UpdatedAt},
		}
		if !reflect.DeepEqual(vs, want) {
			t.Errorf("RouteVersions:\n got %+v\nwant %+v", vs, want)
		}

		t.Run("RouteVersionSpec", func(t *testing.T) {
			tests := []struct {
				id      string
				version int
				want    []byte // nil: ErrNotFound
			}{
				{"r1", 1, v1.Spec},
				{"r1", 2, v2.Spec},
				{"r1", 3, v1.Spec},
				{"r1", 4, nil}, // a deletion is not a state to roll back to
				{"r1", 5, nil},
				{"r1", 0, nil},
				{"other", 1, rtuRoute("other", 1).Spec},
				{"other", 2, nil},
				{"nope", 1, nil},
			}
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%s v%d", tt.id, tt.version), func(t *testing.T) {
					spec, err := s.RouteVersionSpec(ctx, tt.id, tt.version)
					if tt.want == nil {
						if !errors.Is(err, ErrNotFound) {
							t.Fatalf("RouteVersionSpec = %s, %v; want ErrNotFound", spec, err)
						}
						return
					}
					if err != nil || string(spec) != string(tt.want) {
						t.Fatalf("RouteVersionSpec = %s, %v; want %s", spec, err, tt.want)
					}
				})
			}
		})
		t.Run("unknown route has no history", func(t *testing.T) {
			vs, err := s.RouteVersions(ctx, "nope")
			if err != nil || len(vs) != 0 {
				t.Fatalf("RouteVersions(nope) = %v, %v; want none", vs, err)
			}
		})
	})
}

func TestDeleteRoute(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		r1 := rtuRoute("r1", 2, "a.example.com")
		rtuPut(t, s, rtuRoute("r1", 1, "a.example.com"), 0, "create", "alice")
		rtuPut(t, s, r1, 1, "update", "alice")

		t.Run("stale version", func(t *testing.T) {
			if err := s.DeleteRoute(ctx, "r1", 1, "bob", rtuT0); !errors.Is(err, ErrVersionConflict) {
				t.Fatalf("DeleteRoute(v1) = %v, want ErrVersionConflict", err)
			}
			rtuAssertRoute(t, s, r1)
			rtuAssertHostOwner(t, s, "a.example.com", "r1")
			if vs, _ := s.RouteVersions(ctx, "r1"); len(vs) != 2 {
				t.Errorf("%d versions, want 2: a refused delete must not be recorded", len(vs))
			}
		})
		t.Run("unknown id", func(t *testing.T) {
			if err := s.DeleteRoute(ctx, "nope", 0, "bob", rtuT0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("DeleteRoute(nope) = %v, want ErrNotFound", err)
			}
		})
		t.Run("at the current version", func(t *testing.T) {
			if err := s.DeleteRoute(ctx, "r1", 2, "bob", rtuT0); err != nil {
				t.Fatalf("DeleteRoute: %v", err)
			}
			if _, err := s.Route(ctx, "r1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Route after delete: %v, want ErrNotFound", err)
			}
			vs, err := s.RouteVersions(ctx, "r1")
			if err != nil || len(vs) != 3 || vs[0].Version != 3 || vs[0].Action != "delete" || vs[0].Actor != "bob" {
				t.Fatalf("RouteVersions after delete = %+v, %v; want a delete at version 3 by bob first", vs, err)
			}
			if err := s.DeleteRoute(ctx, "r1", 0, "bob", rtuT0); !errors.Is(err, ErrNotFound) {
				t.Errorf("second DeleteRoute = %v, want ErrNotFound", err)
			}
		})
		t.Run("any version", func(t *testing.T) {
			rtuPut(t, s, rtuRoute("r2", 1, "b.example.com"), 0, "create", "alice")
			rtuPut(t, s, rtuRoute("r2", 2, "b.example.com"), 1, "update", "alice")
			if err := s.DeleteRoute(ctx, "r2", 0, "bob", rtuT0); err != nil {
				t.Fatalf("DeleteRoute(any version): %v", err)
			}
			if ids := rtuIDs(t, s); len(ids) != 0 {
				t.Errorf("routes %v left, want none", ids)
			}
		})
	})
}

func TestPutRouteCheck(t *testing.T) {
	ctx := context.Background()
	errProvision := errors.New("handlers do not provision")
	forEachDriver(t, func(t *testing.T, s *Store) {
		t.Run("failing check on create stores nothing", func(t *testing.T) {
			calls := 0
			err := s.PutRoute(ctx, rtuRoute("r1", 1, "a.example.com"), 0, "create", "alice", func() error {
				calls++
				return errProvision
			})
			if !errors.Is(err, errProvision) {
				t.Fatalf("PutRoute = %v, want the check's error", err)
			}
			if calls != 1 {
				t.Errorf("check called %d times, want 1", calls)
			}
			if _, err := s.Route(ctx, "r1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Route(r1) = %v, want ErrNotFound", err)
			}
			if vs, _ := s.RouteVersions(ctx, "r1"); len(vs) != 0 {
				t.Errorf("%d versions recorded, want none", len(vs))
			}
			rtuAssertHostFree(t, s, "a.example.com")
		})

		v1 := rtuRoute("r1", 1, "a.example.com")
		rtuPut(t, s, v1, 0, "create", "alice")

		t.Run("failing check on update changes nothing", func(t *testing.T) {
			err := s.PutRoute(ctx, rtuRoute("r1", 2, "b.example.com"), 1, "update", "alice", func() error { return errProvision })
			if !errors.Is(err, errProvision) {
				t.Fatalf("PutRoute = %v, want the check's error", err)
			}
			rtuAssertRoute(t, s, v1)
			rtuAssertHostOwner(t, s, "a.example.com", "r1")
			rtuAssertHostFree(t, s, "b.example.com")
			if vs, _ := s.RouteVersions(ctx, "r1"); len(vs) != 1 {
				t.Errorf("%d versions recorded, want 1", len(vs))
			}
		})
		t.Run("check not reached when the version is stale", func(t *testing.T) {
			called := false
			err := s.PutRoute(ctx, rtuRoute("r1", 2, "a.example.com"), 5, "update", "alice", func() error { called = true; return nil })
			if !errors.Is(err, ErrVersionConflict) || called {
				t.Fatalf("PutRoute = %v (check called: %v), want ErrVersionConflict without calling check", err, called)
			}
		})
		t.Run("passing check commits", func(t *testing.T) {
			v2 := rtuRoute("r1", 2, "b.example.com")
			called := false
			if err := s.PutRoute(ctx, v2, 1, "update", "alice", func() error { called = true; return nil }); err != nil {
				t.Fatalf("PutRoute: %v", err)
			}
			if !called {
				t.Error("check not called")
			}
			rtuAssertRoute(t, s, v2)
			rtuAssertHostOwner(t, s, "b.example.com", "r1")
		})
	})
}
