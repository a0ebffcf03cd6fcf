package proxyos

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	_ "github.com/caddyserver/caddy/v2/modules/caddytls" // the tls app
	"github.com/proxyos/caddy-proxyos/internal/certstore"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// provisionWithStorage loads a Caddy config as caddy run does (storage
// first, then the apps) with storage proxyos and the given apps, and
// puts certmagic's default storage back when the test ends.
func provisionWithStorage(t *testing.T, apps map[string]any) (caddy.Context, error) {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	raw := caddy.ModuleMap{}
	for name, cfg := range apps {
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		raw[name] = b
	}
	before := certmagic.Default.Storage
	t.Cleanup(func() { certmagic.Default.Storage = before })
	return caddy.ProvisionContext(&caddy.Config{
		Admin:      &caddy.AdminConfig{Disabled: true},
		StorageRaw: json.RawMessage(`{"module": "proxyos"}`),
		AppsRaw:    raw,
	})
}

// proxyosApp returns the proxyos app of ctx and releases it at the end.
func proxyosApp(t *testing.T, ctx caddy.Context) *App {
	t.Helper()
	v, err := ctx.App("proxyos")
	if err != nil {
		t.Fatal(err)
	}
	a := v.(*App)
	t.Cleanup(func() { a.Cleanup() }) //nolint:errcheck // best effort
	return a
}

// TestStorageModuleUsesAppDatabase loads a config as Caddy does, with
// storage proxyos and a PostgreSQL proxyos app holding a managed route
// behind the login: the storage module provisions the app before any
// other (Caddy loads storage first), the app's routes are provisioned
// then, the config keeps that one app, and Caddy's storage is the
// proxyos database, which another node reads.
func TestStorageModuleUsesAppDatabase(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	proxyosCfg := map[string]any{"secret": testSecret, "database": map[string]string{"driver": store.Postgres, "dsn": dsn}}

	// A route stored by an earlier config: its handlers (reverse_proxy,
	// proxyos_auth) are provisioned while the storage module provisions.
	first, err := provisionWithStorage(t, map[string]any{"proxyos": proxyosCfg})
	if err != nil {
		t.Fatalf("first config: %v", err)
	}
	a := proxyosApp(t, first)
	if _, err := a.routes.Create(context.Background(), &route.Route{
		Enabled: true, Hosts: []string{"grafana.example.com"}, Kind: route.KindProxy, TLS: route.TLSAuto,
		Upstreams: []string{"http://10.0.0.5:3000"}, Auth: &route.Auth{RequireLogin: true},
	}, testActor); err != nil {
		t.Fatalf("creating a route: %v", err)
	}

	ctx, err := provisionWithStorage(t, map[string]any{"proxyos": proxyosCfg, "tls": map[string]any{}})
	if err != nil {
		t.Fatalf("config with storage proxyos: %v", err)
	}
	app := proxyosApp(t, ctx)
	if app.routes.Table.Lookup("grafana.example.com") == nil {
		t.Fatal("the stored route is not live after loading with storage proxyos")
	}
	stor, ok := ctx.Storage().(*certstore.Storage)
	if !ok || certmagic.Default.Storage != ctx.Storage() {
		t.Fatalf("Caddy's storage is %T (certmagic's default %T), want the proxyos storage", ctx.Storage(), certmagic.Default.Storage)
	}

	// Another node on the same database sees what this one stores.
	const key = "certificates/acme/grafana.example.com/grafana.example.com.crt"
	if err := stor.Store(context.Background(), key, []byte("certificate")); err != nil {
		t.Fatalf("Store: %v", err)
	}
	other, err := certstore.New(testkit.OpenPostgres(t, dsn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Load(context.Background(), key); err != nil || string(got) != "certificate" {
		t.Fatalf("the other node loads %q, %v", got, err)
	}
}

// TestStorageModuleNeedsPostgres: storage proxyos refuses, naming the
// option, a proxyos app on SQLite or no proxyos app at all.
func TestStorageModuleNeedsPostgres(t *testing.T) {
	tests := []struct {
		name string
		apps func(t *testing.T) map[string]any
		want string
	}{
		{"sqlite", func(t *testing.T) map[string]any {
			return map[string]any{"proxyos": map[string]any{
				"secret": testSecret, "database": map[string]string{"driver": store.SQLite, "dsn": filepath.Join(t.TempDir(), "proxyos.db")},
			}}
		}, "storage proxyos: needs the proxyos database to be postgres; with SQLite keep Caddy's default file storage"},
		{"default database", func(*testing.T) map[string]any {
			return map[string]any{"proxyos": map[string]any{"secret": testSecret}}
		}, "storage proxyos: needs the proxyos database to be postgres"},
		{"no proxyos app", func(*testing.T) map[string]any { return nil },
			"storage proxyos: needs the proxyos global option with database postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// On an error Caddy cleans up what it provisioned.
			_, err := provisionWithStorage(t, tt.apps(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("provisioning: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestStorageModuleCaddyfile(t *testing.T) {
	tests := []struct {
		input string
		ok    bool
	}{
		{"proxyos", true},
		{"proxyos extra", false},
		{"proxyos {\n\tdatabase postgres x\n}", false},
	}
	for _, tt := range tests {
		d := caddyfile.NewTestDispenser(tt.input)
		err := new(Storage).UnmarshalCaddyfile(d)
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok %v", tt.input, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %q has no position", tt.input, err)
		}
	}
}
