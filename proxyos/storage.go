package proxyos

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	"github.com/proxyos/caddy-proxyos/internal/certstore"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

func init() {
	caddy.RegisterModule(Storage{})
}

// Storage keeps Caddy's TLS assets in the proxyos database instead of the
// data directory: certificates and their private keys, ACME accounts,
// the tokens of pending ACME challenges, OCSP staples, the internal CA
// (tls internal) and the locks around obtaining and renewing
// certificates. With several nodes on one PostgreSQL database, a
// certificate is obtained once for the cluster and served by every node,
// any node answers an ACME challenge that another started, and the nodes
// take turns on each certificate. A lock whose node died is free a minute
// after its last refresh.
//
// Set it in every node's global options:
//
//	{
//		storage proxyos
//		proxyos {
//			database postgres postgres://proxyos@db/proxyos
//			secret   {env.PROXYOS_SECRET}
//		}
//	}
//
// It needs the proxyos app's database to be PostgreSQL; with SQLite
// (one node) keep Caddy's default file storage. The database then holds
// private keys: protect it (and its backups) like Caddy's data directory.
type Storage struct {
	app     *App
	storage *certstore.Storage
}

// CaddyModule returns the Caddy module information.
func (Storage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.storage.proxyos",
		New: func() caddy.Module { return new(Storage) },
	}
}

// Provision joins the proxyos app's database.
//
// Caddy loads the storage module before any app (provisionContext in
// caddy.go), so ctx.App provisions the proxyos app here, and Caddy keeps
// that one instance for the rest of the load. That is safe because the
// app's Provision does not use ctx.Storage (still unset at this point)
// and provisions no module that does: it opens the database and loads
// the managed routes, whose handlers reach only the events app and the
// proxyos app itself, never the tls or pki app (which read the storage).
func (s *Storage) Provision(ctx caddy.Context) error {
	// AppIfConfigured, not App: without a config (caddy storage export)
	// App would panic, and without the proxyos app the database would be
	// the default SQLite one anyway.
	v, err := ctx.AppIfConfigured("proxyos")
	if err != nil {
		if errors.Is(err, caddy.ErrNotConfigured) {
			return errors.New("storage proxyos: needs the proxyos global option with database postgres")
		}
		return fmt.Errorf("storage proxyos: %w", err)
	}
	s.app = v.(*App)
	if s.app.state.store.Driver() != store.Postgres {
		return errors.New("storage proxyos: needs the proxyos database to be postgres; with SQLite keep Caddy's default file storage")
	}
	s.storage, err = certstore.New(s.app.state.store, ctx.Logger())
	if err != nil {
		return fmt.Errorf("storage proxyos: %w", err)
	}
	return nil
}

// CertMagicStorage returns the storage for certmagic.
func (s *Storage) CertMagicStorage() (certmagic.Storage, error) {
	if s.storage == nil {
		return nil, errors.New("storage proxyos: not provisioned")
	}
	return s.storage, nil
}

// UnmarshalCaddyfile sets up the storage from Caddyfile tokens (the
// database is the proxyos option's):
//
//	storage proxyos
func (s *Storage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("unrecognized subdirective '%s'", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner      = (*Storage)(nil)
	_ caddy.StorageConverter = (*Storage)(nil)
	_ caddyfile.Unmarshaler  = (*Storage)(nil)
)
