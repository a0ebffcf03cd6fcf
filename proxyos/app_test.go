package proxyos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/cluster"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// A config that is refused writes and opens nothing: no generated secret
// file, no database, for every check Validate makes. (Caddy runs
// Validate after Provision, so these checks used to come after the
// secret file and the database.)
func TestRefusedConfigWritesNothing(t *testing.T) {
	for _, c := range []struct {
		name  string
		app   App
		field string
	}{
		{"negative session_ttl", App{SessionTTL: -1}, "session_ttl"},
		{"negative audit_retention", App{AuditRetention: -1}, "audit_retention"},
		{"unknown driver", App{Database: &Database{Driver: "mysql", DSN: "x"}}, "database"},
		{"bad upstream network", App{UpstreamNetworks: &UpstreamNetworks{Allow: []string{"10.0.0.0/33"}}}, "upstream_networks"},
		{"bad upstream resolver", App{UpstreamResolvers: []string{"dns.example:port"}}, "upstream_resolvers"},
		{"bad on_demand_limit", App{OnDemandLimit: &OnDemandLimit{Names: -1}}, "on_demand_limit"},
		{"cookie_domain without the dashboard", App{URL: "https://proxy.example.com", CookieDomain: "example.net"}, "cookie_domain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			t.Setenv("XDG_DATA_HOME", data)
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			a := c.app
			err := a.Provision(ctx)
			if err == nil {
				a.Cleanup() //nolint:errcheck // the test fails anyway
				t.Fatal("Provision accepted the config")
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not name %s", err, c.field)
			}
			if _, err := os.Stat(filepath.Join(caddy.AppDataDir(), "proxyos")); !os.IsNotExist(err) {
				t.Errorf("the refused config left %s behind (stat: %v)", filepath.Join(caddy.AppDataDir(), "proxyos"), err)
			}
		})
	}
}

// Configs sharing a database share one state, which follows the latest
// config: its session_idle decides which cached sessions the maintenance
// drops, so lowering it in a reload empties the cache of sessions idle
// for longer.
func TestStateFollowsLatestConfig(t *testing.T) {
	a := newTestApp(t) // session_idle 24h
	a.newSession(t, a.addUser(t, "ada@example.com", testPassword, RoleViewer))
	a.clock.Advance(2 * time.Hour)
	a.state.maintainOnce(context.Background())
	if n := a.state.sessions.Len(); n != 1 {
		t.Fatalf("%d sessions cached after 2h idle under session_idle 24h, want 1", n)
	}

	b := newTestApp(t, func(b *App) {
		b.Database.DSN, b.now, b.SessionIdle = a.dbPath, a.clock.Now, caddy.Duration(time.Hour)
	})
	if b.state != a.state {
		t.Fatal("two configs of one database do not share their state")
	}
	a.state.maintainOnce(context.Background())
	if n := a.state.sessions.Len(); n != 0 {
		t.Fatalf("%d sessions cached after 2h idle under the new config's session_idle 1h, want 0", n)
	}
}

// With SQLite the cluster view has one node, this one, up from the start.
func TestClusterViewSingleNode(t *testing.T) {
	a := newTestApp(t, func(a *App) { a.NodeName = "solo" })
	var v cluster.View
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if v, err = a.Cluster(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(v.Nodes) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v.Database != "sqlite" || len(v.Nodes) != 1 || v.Nodes[0].Name != "solo" || !v.Nodes[0].This || v.Nodes[0].State != "up" {
		t.Fatalf("cluster view %+v", v)
	}
}

// While a reload swaps configs, a route saved, changed or deleted through
// the old config reaches the new config's table too: on PostgreSQL through
// the node's own change log entries (the feed), on SQLite through the
// route service's Saved hook.
func TestRouteSavedDuringReloadReachesTheNewConfig(t *testing.T) {
	for _, driver := range []string{store.SQLite, store.Postgres} {
		t.Run(driver, func(t *testing.T) {
			db := &Database{Driver: driver, DSN: filepath.Join(t.TempDir(), "proxyos.db")}
			if driver == store.Postgres {
				db.DSN = testkit.PostgresDSN(t)
			}
			old := newTestApp(t, func(a *App) { a.Database = db })
			next := newTestApp(t, func(a *App) { a.Database = db })
			if next.state != old.state {
				t.Fatal("the two configs do not share their state")
			}
			waitFor := func(what string, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("%s through the old config never reached the new config's table", what)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			r, err := old.routes.Create(context.Background(), rtuStaticRoute("", "saved late", "late.example.com"), testActor)
			if err != nil {
				t.Fatal(err)
			}
			waitFor("a created route", func() bool { return next.routes.Table.Lookup("late.example.com") != nil })
			if err := old.routes.Delete(context.Background(), r.ID, r.Version, testActor); err != nil {
				t.Fatal(err)
			}
			waitFor("a deleted route", func() bool { return next.routes.Table.Lookup("late.example.com") == nil })
		})
	}
}
