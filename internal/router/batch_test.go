package router

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/stream"
)

var importer = audit.Actor{Name: "alice", Kind: audit.ActorUser}

// rtbInputs turns routes into a batch.
func rtbInputs(rs ...*route.Route) []RouteInput {
	out := make([]RouteInput, len(rs))
	for i, r := range rs {
		out[i] = InputOf(r)
	}
	return out
}

// rtbState is what a test compares before and after a refused batch:
// each route's stored version, the hosts served and the change log.
func rtbState(t *testing.T, a *Service, hosts ...string) string {
	t.Helper()
	ctx := context.Background()
	rs, err := a.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s@%d %s\n", r.ID, r.Version, strings.Join(r.Hosts, ","))
	}
	for _, h := range hosts {
		if lr := a.Table.Lookup(h); lr != nil {
			b.WriteString(h + " → " + rtuBody(t, lr, h) + "\n")
		} else {
			b.WriteString(h + " not served\n")
		}
	}
	seq, err := a.Store.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "changes %d", seq)
	return b.String()
}

func TestImportAppliesAllTogether(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	keep := rtuCreate(t, a, "keep", "keep.example.com")
	change := rtuCreate(t, a, "old", "change.example.com")
	gone := rtuCreate(t, a, "gone", "gone.example.com")

	batch := rtbInputs(
		rtuStaticRoute("", "keep", "keep.example.com"),
		rtuStaticRoute("", "new", "change.example.com"),
		rtuStaticRoute("", "added", "added.example.com"),
	)
	plan, err := a.Import(ctx, batch, ImportOptions{Remove: true, Source: "json"}, importer)
	if err != nil {
		t.Fatalf("Import: %v (plan %+v)", err, plan)
	}
	if !plan.Applied || len(plan.Added) != 1 || len(plan.Changed) != 1 || len(plan.Unchanged) != 1 || len(plan.Refused) != 0 {
		t.Fatalf("plan %+v: want 1 added, 1 changed, 1 unchanged, applied", plan)
	}
	if len(plan.Removed) != 1 || plan.Removed[0].ID != gone.ID {
		t.Fatalf("removed %+v, want %s", plan.Removed, gone.ID)
	}
	ch := plan.Changed[0]
	if ch.ID != change.ID || len(ch.Changes) != 1 || ch.Changes[0].Field != "static.body" || ch.Changes[0].Before != "old" || ch.Changes[0].After != "new" {
		t.Errorf("changed %+v, want static.body old → new on %s", ch, change.ID)
	}
	rtuAssertStored(t, a, keep.ID, 1)
	rtuAssertStored(t, a, change.ID, 2)
	rtuAssertServes(t, a, "change.example.com", "new")
	rtuAssertServes(t, a, "added.example.com", "added")
	if rtuLive(a, "gone.example.com") != nil {
		t.Error("gone.example.com is still served after an import with remove")
	}
	if _, err := a.Route(ctx, gone.ID); err == nil {
		t.Errorf("route %s still stored after an import with remove", gone.ID)
	}

	entries, err := a.Store.ListAudit(ctx, store.AuditFilter{}, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range entries {
		counts[e.Action]++
	}
	if counts[string(audit.RoutesImport)] != 1 || counts[string(audit.RouteDelete)] != 1 || counts[string(audit.RouteCreate)] != 4 || counts[string(audit.RouteUpdate)] != 1 {
		t.Errorf("audit actions %v: want one import, one delete, one update, 3+1 creates", counts)
	}

	t.Run("again changes nothing", func(t *testing.T) {
		before := rtbState(t, a, "keep.example.com", "change.example.com", "added.example.com")
		plan, err := a.Import(ctx, batch, ImportOptions{Source: "json"}, importer)
		if err != nil || len(plan.Unchanged) != 3 || len(plan.Added)+len(plan.Changed) != 0 {
			t.Fatalf("second import: %v, plan %+v; want 3 unchanged", err, plan)
		}
		if after := rtbState(t, a, "keep.example.com", "change.example.com", "added.example.com"); after != before {
			t.Errorf("state changed:\n%s\nwant\n%s", after, before)
		}
	})
}

// A batch with one refused route in the middle stores and serves none of
// it: an import is all or nothing, so a half-applied migration cannot
// leave routes pointing at the wrong places.
func TestImportRefusedRouteChangesNothing(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	rtuCreate(t, a, "one", "one.example.com")
	hosts := []string{"one.example.com", "two.example.com", "three.example.com"}
	before := rtbState(t, a, hosts...)

	admin := &route.Route{Enabled: true, Hosts: []string{"bad.example.com"}, Kind: route.KindProxy, Upstreams: []string{"http://127.0.0.1:1"}}
	invalid := &route.Route{Enabled: true, Hosts: []string{"bad two.example.com"}, Kind: route.KindStatic, Static: &route.Static{}}
	for name, bad := range map[string]*route.Route{"upstream to the admin API": admin, "invalid host": invalid} {
		t.Run(name, func(t *testing.T) {
			batch := rtbInputs(
				rtuStaticRoute("", "changed", "one.example.com"),
				bad,
				rtuStaticRoute("", "two", "two.example.com"),
			)
			for _, dry := range []bool{true, false} {
				plan, err := a.Import(ctx, batch, ImportOptions{DryRun: dry, Remove: true}, importer)
				if !dry && err == nil {
					t.Fatal("Import applied a batch with a refused route")
				}
				if plan == nil || plan.Applied || len(plan.Refused) != 1 || plan.Refused[0].Index != 1 || plan.Refused[0].Field == "" {
					t.Fatalf("dry run %v: plan %+v, want routes[1] refused with a field, nothing applied", dry, plan)
				}
				if after := rtbState(t, a, hosts...); after != before {
					t.Errorf("dry run %v: state changed:\n%s\nwant\n%s", dry, after, before)
				}
			}
		})
	}
}

func TestImportDryRunChangesNothing(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	rtuCreate(t, a, "one", "one.example.com")
	hosts := []string{"one.example.com", "two.example.com"}
	before := rtbState(t, a, hosts...)
	plan, err := a.Import(ctx, rtbInputs(rtuStaticRoute("", "two", "two.example.com")), ImportOptions{DryRun: true, Remove: true}, importer)
	if err != nil || plan.Applied || len(plan.Added) != 1 || len(plan.Removed) != 1 {
		t.Fatalf("dry run: %v, plan %+v; want one added and one removed, not applied", err, plan)
	}
	if after := rtbState(t, a, hosts...); after != before {
		t.Errorf("dry run changed the state:\n%s\nwant\n%s", after, before)
	}
}

// An exported route shows its request header values as null; importing
// it back keeps the stored values, and a plan never shows them.
func TestImportKeepsSecretHeaders(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	r := &route.Route{Enabled: true, Hosts: []string{"api.example.com"}, Kind: route.KindProxy, Upstreams: []string{"http://127.0.0.1:9"},
		Headers: &route.Headers{Request: &route.HeaderOps{Set: map[string]string{"X-Api-Key": "s3cret-value"}}}}
	created, err := a.Create(ctx, r, importer)
	if err != nil {
		t.Fatal(err)
	}
	exported := InputOf(created)
	exported.Headers.Request.Set["X-Api-Key"] = nil // as the export shows it
	exported.Name = "renamed"
	plan, err := a.Import(ctx, []RouteInput{exported}, ImportOptions{}, importer)
	if err != nil || len(plan.Changed) != 1 {
		t.Fatalf("Import: %v, plan %+v", err, plan)
	}
	stored, err := a.Route(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := a.Open(stored)
	if err != nil || opened.Headers.Request.Set["X-Api-Key"] != "s3cret-value" || stored.Name != "renamed" {
		t.Errorf("stored route %+v (%v): want the secret kept and the new name", opened, err)
	}

	fresh := InputOf(created)
	v := "other-secret"
	fresh.Headers.Request.Set["X-Api-Key"] = &v
	plan, err = a.Import(ctx, []RouteInput{fresh}, ImportOptions{DryRun: true}, importer)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan.Changed[0].Changes {
		if strings.Contains(c.Field, "X-Api-Key") && (c.Before != secretMark || c.After != secretMark) {
			t.Errorf("plan shows %+v, want the values as %q", c, secretMark)
		}
	}
}

// An import may not give an HTTPS route a host that a stream takes on
// the shared HTTPS port, as a single save may not (the attack: slip a
// route in through an import to capture, or break, a stream's TLS
// connections; or a stream's host silently left to whichever wins the
// wrapper's lookup). The refusal names the field (hosts[1]) in the dry
// run's plan and in the apply's error, and nothing of the batch is
// stored or served. A stream saved between planning and applying is
// caught too: the hosts are checked again under Names.
func TestImportRefusesStreamHost(t *testing.T) {
	ctx := context.Background()
	hosts := []string{"one.example.com", "web.example.com", "git.example.com", "two.example.com"}
	for _, tc := range []struct {
		name  string
		after string // the stream takes git.example.com once this host was checked; "" before
	}{
		{"stream saved before the import", ""},
		// Planning checks one, web, git, two in order; applying checks
		// again, under Names.
		{"stream saved while the import is planned", "two.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := rtuNewApp(t)
			a.Names = new(stream.ServerNames)
			rtuCreate(t, a, "one", "one.example.com")
			var taken bool
			a.StreamHost = func(h string) string {
				if h == "git.example.com" && taken {
					return "git"
				}
				taken = taken || h == tc.after
				return ""
			}
			before := rtbState(t, a, hosts...)
			batch := rtbInputs(
				rtuStaticRoute("", "changed", "one.example.com"),
				rtuStaticRoute("", "web", "web.example.com", "git.example.com"),
				rtuStaticRoute("", "two", "two.example.com"),
			)
			for _, dry := range []bool{true, false} {
				taken = tc.after == ""
				plan, err := a.Import(ctx, batch, ImportOptions{DryRun: dry}, importer)
				if dry && err != nil {
					t.Fatalf("dry run: %v", err)
				}
				if !dry && (err == nil || !strings.Contains(err.Error(), "routes[1] hosts[1]")) {
					t.Fatalf("apply: %v, want the refusal naming routes[1] hosts[1]", err)
				}
				if plan == nil || plan.Applied || len(plan.Refused) != 1 {
					t.Fatalf("dry run %v: plan %+v, want one refusal, nothing applied", dry, plan)
				}
				if f := plan.Refused[0]; f.Index != 1 || f.Field != "hosts[1]" || !strings.Contains(f.Reason, `stream "git"`) {
					t.Errorf("dry run %v: refused %+v, want routes[1] on hosts[1] naming stream \"git\"", dry, f)
				}
				if after := rtbState(t, a, hosts...); after != before {
					t.Errorf("dry run %v: state changed:\n%s\nwant\n%s", dry, after, before)
				}
			}
			// An HTTP-only route may have the name: it is not on the
			// HTTPS port.
			plain := rtuStaticRoute("", "plain", "git.example.com")
			plain.TLS = route.TLSOff
			if plan, err := a.Import(ctx, rtbInputs(plain), ImportOptions{}, importer); err != nil || !plan.Applied {
				t.Errorf("an HTTP-only route on the stream's name: %v, plan %+v; want it applied", err, plan)
			}
		})
	}
}
