package router

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// TestMaintenanceSwitch puts a route into maintenance and back: its page
// is live at once, and its own settings come back unchanged, each switch
// a version in its history.
func TestMaintenanceSwitch(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	r := rtuCreate(t, a, "the app", "m.example.com")
	alice := audit.Actor{Name: "alice", Kind: audit.ActorUser}
	page := "<h1>later</h1>"
	on, err := a.SetMaintenance(ctx, r.ID, MaintenanceInput{On: true, Page: &page}, alice)
	if err != nil {
		t.Fatal(err)
	}
	rtuAssertServes(t, a, "m.example.com", page)
	if on.Static == nil || on.Static.Body != "the app" {
		t.Fatalf("maintenance lost the route's settings: %+v", on.Static)
	}
	off, err := a.SetMaintenance(ctx, r.ID, MaintenanceInput{On: false, Version: on.Version}, alice)
	if err != nil {
		t.Fatal(err)
	}
	rtuAssertServes(t, a, "m.example.com", "the app")
	if off.Maintenance == nil || off.Maintenance.Page != page || off.Maintenance.On {
		t.Errorf("off keeps the page for next time: %+v", off.Maintenance)
	}
	vs, err := a.History(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Action != "maintenance off" || vs[1].Action != "maintenance on" {
		t.Errorf("history %q, %q", vs[0].Action, vs[1].Action)
	}
	if _, err := a.SetMaintenance(ctx, r.ID, MaintenanceInput{On: true, Version: on.Version}, alice); !errors.As(err, new(*fail.ConflictError)) {
		t.Errorf("stale version: %v, want a conflict", err)
	}
	past := time.Now().Add(-time.Minute)
	var fe *fail.FieldError
	if _, err := a.SetMaintenance(ctx, r.ID, MaintenanceInput{Until: &past}, alice); !errors.As(err, &fe) || fe.Field != "until" {
		t.Errorf("until in the past: %v, want a field error on until", err)
	}
}

// TestMaintenanceScheduleOnce runs a schedule with two services on one
// store (two nodes, or two configs of one): each step is made exactly
// once, and a service that missed the window makes one change, off.
func TestMaintenanceScheduleOnce(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	st, _ := testkit.OpenStore(t)
	clock := testkit.NewClock()
	a, b := rtuService(t, st, testkit.Secret), rtuService(t, st, testkit.Secret)
	a.Now, b.Now = clock.Now, clock.Now
	ctx := context.Background()
	r := rtuCreate(t, a, "the app", "s.example.com")
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	from, until := clock.Now().Add(time.Minute), clock.Now().Add(2*time.Minute)
	if _, err := a.SetMaintenance(ctx, r.ID, MaintenanceInput{From: &from, Until: &until}, audit.Actor{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	step := func(want int, body string) {
		t.Helper()
		a.RunSchedules(ctx)
		b.RunSchedules(ctx)
		if err := a.Reload(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		rtuAssertStored(t, a, r.ID, want)
		rtuAssertServes(t, a, "s.example.com", body)
	}
	step(2, "the app")
	clock.Advance(time.Minute)
	step(3, route.DefaultMaintenancePage)
	clock.Advance(time.Minute)
	step(4, "the app")
	vs, _ := a.History(ctx, r.ID)
	if vs[0].Actor != "maintenance schedule" || vs[0].Action != "maintenance off" || vs[1].Action != "maintenance on" {
		t.Errorf("history: %+v", vs[:2])
	}
}
