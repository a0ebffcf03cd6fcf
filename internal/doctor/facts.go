package doctor

import (
	"io/fs"
	"net/netip"
	"net/url"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/certs"
)

// Facts is what the checks look at: a snapshot of the configuration and
// the state of one proxyos instance, collected by the Caddy glue. It
// holds no secret, only what can be said about one.
type Facts struct {
	Now time.Time

	// URL is the app's url, nil when unset. URLAddrs are the addresses
	// its host resolves to (URLResolveErr why not), LocalAddrs those of
	// this machine's interfaces.
	URL           *url.URL
	URLAddrs      []netip.Addr
	URLResolveErr string
	LocalAddrs    []netip.Addr

	Secret   Secret
	Keys     Keys
	Database Database

	// Sites are what Caddy's HTTP servers serve: one per site (a
	// top-level route of a server) and scheme.
	Sites []Site

	// OnDemand says that some TLS automation policy gets certificates on
	// demand; Permission that the on-demand permission is proxyos's.
	OnDemand   bool
	Permission bool

	// Routes are the managed routes.
	Routes []Route

	// CertAttempts are the latest issuance attempts per name on this
	// node; Certificates the certificates served: those the
	// certificates page lists (the routes' and every uploaded one), and
	// those in Caddy's storage for the sites' own names.
	CertAttempts []certs.Attempt
	Certificates []Certificate

	Admin Admin
}

// Secret describes the configured secret, never its value.
type Secret struct {
	// Source is where the secret comes from: "generated" (the file Caddy
	// made on first run), "file" ({file.…}), "env" ({env.…}) or "config"
	// (written in the config itself).
	Source string
	// Length is its length in bytes; Classes how many of lower case,
	// upper case, digits and other characters it uses.
	Length  int
	Classes int
	// File is the secret's file for the sources generated and file.
	File *File
	// Previous is how many previous_secrets are configured.
	Previous int
}

// File describes a file holding a secret.
type File struct {
	Path    string
	Mode    fs.FileMode
	ModTime time.Time
	Err     string // why it could not be examined
}

// Keys describes the key ring and the session cookies it refused.
type Keys struct {
	Current string   // id of the current key
	IDs     []string // ids of every key, current first
	// Unknown are the key ids of session cookies refused because no
	// configured secret made them (reason unknown_key), since Caddy
	// started.
	Unknown []UnknownKey
	// ChangedAt is when a config with another current key replaced the
	// running one, in this process (zero if it did not), and ChangedFrom
	// the id of the key it replaced.
	ChangedAt   time.Time
	ChangedFrom string
}

// UnknownKey counts the session cookies refused for one unknown key id.
type UnknownKey struct {
	ID          string    `json:"id"`
	Refusals    int       `json:"refusals"`
	First, Last time.Time `json:"-"`
}

// Database describes the store's health.
type Database struct {
	Driver string
	Err    string // why it does not answer; empty when it does
	// Schema is the database's schema version, Known the newest one this
	// proxyos knows.
	Schema, Known int
	// Skew is the database's clock minus this machine's (PostgreSQL
	// only; SkewKnown false otherwise).
	Skew      time.Duration
	SkewKnown bool
}

// Site is what one of Caddy's HTTP servers serves on some ports with one
// scheme to some hosts.
type Site struct {
	Server string
	Scheme string      // http or https
	Ports  []PortRange // inclusive
	Hosts  []string    // the host matcher's; empty for any host
	// Dashboard says that the site serves proxyos_dashboard, Routes
	// that it serves proxyos_routes.
	Dashboard, Routes bool
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ First, Last int }

// Route is what the checks need of a managed route.
type Route struct {
	ID, Name string
	Hosts    []string
	Enabled  bool
	Gated    bool   // behind the login
	TLS      string // auto, internal or off
	// Streams name, for each host of an enabled HTTPS route that a
	// stream on a shared HTTPS port also serves, that stream.
	Streams map[string]string
}

// Certificate is a certificate served.
type Certificate struct {
	Names               []string
	Issuer              string // acme, internal, custom, or a storage key of Caddy's issuers (such as local)
	NotBefore, NotAfter time.Time
	// Custom says it was uploaded: nobody renews it.
	Custom bool
}

// Admin describes Caddy's admin endpoint.
type Admin struct {
	Disabled bool
	Listen   []string // the local and, if any, remote endpoint's addresses
}
