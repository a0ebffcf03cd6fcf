package transfer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/route"
)

// FromNPM reads the SQLite database of Nginx Proxy Manager (the
// database.sqlite of its data volume) at path, read-only, and turns its
// hosts into routes:
//
//   - proxy hosts into proxy routes (scheme, host and port of the
//     upstream; HSTS, force SSL; websockets need nothing);
//   - redirection hosts into redirect routes, 404 hosts into static
//     routes answering 404;
//   - access lists into the route's client IP lists, and their
//     basic-auth users into the dashboard login (users and passwords are
//     not imported: make route tokens with a user name for basic auth);
//   - a Let's Encrypt certificate into tls auto (obtained again); a
//     custom certificate is reported (upload it under Certificates),
//     the route gets tls auto meanwhile; no certificate gives tls off.
//
// Advanced configuration, custom locations, caching, exploit blocking
// and streams are reported, not imported.
func FromNPM(ctx context.Context, path string) (*Import, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(2000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	n := &npm{db: db, im: &Import{Routes: []*route.Route{}, Notes: []Note{}}}
	for _, step := range []func(context.Context) error{n.readCerts, n.readAccessLists, n.proxyHosts, n.redirectionHosts, n.deadHosts, n.streams} {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("reading the Nginx Proxy Manager database: %w", err)
		}
	}
	return n.im, nil
}

type npm struct {
	db    *sql.DB
	im    *Import
	certs map[int]string // id → provider (letsencrypt, other)
	lists map[int]*npmAccess
}

// npmAccess is an access list.
type npmAccess struct {
	name       string
	satisfyAny bool
	allow      []string
	deny       []string
	allowAll   bool
	users      int
}

func (n *npm) readCerts(ctx context.Context) error {
	n.certs = map[int]string{}
	rows, err := n.db.QueryContext(ctx, `SELECT id, provider FROM certificate WHERE is_deleted = 0`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id       int
			provider string
		)
		if err := rows.Scan(&id, &provider); err != nil {
			return err
		}
		n.certs[id] = provider
	}
	return rows.Err()
}

func (n *npm) readAccessLists(ctx context.Context) error {
	n.lists = map[int]*npmAccess{}
	rows, err := n.db.QueryContext(ctx, `SELECT id, name, satisfy_any FROM access_list WHERE is_deleted = 0`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id  int
			a   npmAccess
			any int
		)
		if err := rows.Scan(&id, &a.name, &any); err != nil {
			rows.Close()
			return err
		}
		a.satisfyAny = any == 1
		n.lists[id] = &a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = n.db.QueryContext(ctx, `SELECT access_list_id, address, directive FROM access_list_client ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id                 int
			address, directive string
		)
		if err := rows.Scan(&id, &address, &directive); err != nil {
			rows.Close()
			return err
		}
		if a := n.lists[id]; a != nil {
			switch {
			case address == "all" && directive == "allow":
				a.allowAll = true
			case address == "all":
				// deny all: an allow list denies everyone else already
			case directive == "allow":
				a.allow = append(a.allow, address)
			default:
				a.deny = append(a.deny, address)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return n.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM access_list_auth`).Err() // the table exists
}

func (n *npm) countUsers(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT access_list_id, COUNT(*) FROM access_list_auth GROUP BY access_list_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, count int
		if err := rows.Scan(&id, &count); err != nil {
			return err
		}
		if a := n.lists[id]; a != nil {
			a.users = count
		}
	}
	return rows.Err()
}

// npmHost is what the three kinds of host share.
type npmHost struct {
	id                       int
	domains                  []string
	enabled                  bool
	certID                   int
	sslForced, hsts, hstsSub bool
	advanced                 string
}

// source names a host in notes.
func (h *npmHost) source(kind string) string {
	return fmt.Sprintf("%s %d (%s)", kind, h.id, strings.Join(h.domains, ", "))
}

// base makes the route a host becomes, with its hosts, TLS mode and
// flags, noting what does not carry over.
func (n *npm) base(h *npmHost, kind, src string) *route.Route {
	r := &route.Route{Name: h.domains[0], Enabled: h.enabled, Hosts: h.domains, Kind: kind, TLS: route.TLSOff}
	switch provider, ok := n.certs[h.certID]; {
	case h.certID == 0:
	case !ok:
		n.im.note(src, "its certificate %d is missing from the database: tls auto obtains a new one", h.certID)
		r.TLS = route.TLSAuto
	case provider == "letsencrypt":
		r.TLS = route.TLSAuto
	default:
		n.im.note(src, "custom certificate %d not imported: upload it under Certificates; until then tls auto obtains one", h.certID)
		r.TLS = route.TLSAuto
	}
	if r.TLS != route.TLSOff {
		r.ForceHTTPS, r.HSTS = h.sslForced, h.hsts
		if h.hstsSub {
			n.im.note(src, "HSTS for subdomains not imported: proxyos sends HSTS for the route's own hosts")
		}
	}
	if strings.TrimSpace(h.advanced) != "" {
		n.im.note(src, "advanced (nginx) configuration not imported; review it by hand")
	}
	return r
}

func scanHost(h *npmHost, domains string, enabled, certID, forced, hsts, hstsSub int, advanced string) error {
	if err := json.Unmarshal([]byte(domains), &h.domains); err != nil || len(h.domains) == 0 {
		return fmt.Errorf("host %d: domain_names is not a list of names", h.id)
	}
	h.enabled, h.certID, h.sslForced, h.hsts, h.hstsSub, h.advanced = enabled == 1, certID, forced == 1, hsts == 1, hstsSub == 1, advanced
	return nil
}

func (n *npm) proxyHosts(ctx context.Context) error {
	if err := n.countUsers(ctx); err != nil {
		return err
	}
	rows, err := n.db.QueryContext(ctx, `SELECT id, domain_names, enabled, certificate_id, ssl_forced, hsts_enabled, hsts_subdomains,
		advanced_config, forward_scheme, forward_host, forward_port, access_list_id, caching_enabled, block_exploits, COALESCE(locations, '')
		FROM proxy_host WHERE is_deleted = 0 ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h                                          npmHost
			domains, advanced, scheme, host, locations string
			enabled, cert, forced, hsts, sub           int
			port, accessID, caching, exploits          int
		)
		if err := rows.Scan(&h.id, &domains, &enabled, &cert, &forced, &hsts, &sub, &advanced, &scheme, &host, &port,
			&accessID, &caching, &exploits, &locations); err != nil {
			return err
		}
		if err := scanHost(&h, domains, enabled, cert, forced, hsts, sub, advanced); err != nil {
			return err
		}
		src := h.source("proxy host")
		r := n.base(&h, route.KindProxy, src)
		r.Upstreams = []string{scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))}
		if caching == 1 {
			n.im.note(src, "asset caching not imported: proxyos does not cache")
		}
		if exploits == 1 {
			n.im.note(src, "\"block common exploits\" not imported")
		}
		if l := strings.TrimSpace(locations); l != "" && l != "[]" && l != "null" {
			n.im.note(src, "custom locations not imported: make a route per upstream or review them by hand")
		}
		if accessID != 0 {
			n.access(r, accessID, src)
		}
		n.im.Routes = append(n.im.Routes, r)
	}
	return rows.Err()
}

// access applies access list id to r: its client addresses become the
// route's IP lists (or, with "satisfy any" and users, rules that let
// those addresses in without a login), and its basic-auth users the
// dashboard login, so that nothing protected becomes public.
func (n *npm) access(r *route.Route, id int, src string) {
	a := n.lists[id]
	if a == nil {
		n.im.note(src, "access list %d is missing from the database: the route requires the dashboard login", id)
		r.Auth = &route.Auth{RequireLogin: true}
		return
	}
	allow := a.allow
	if a.allowAll {
		allow = nil
	}
	allow, deny := cidrs(allow, n.im, src), cidrs(a.deny, n.im, src)
	if a.users > 0 {
		n.im.note(src, "the %d basic-auth users of access list %q not imported: the route requires the dashboard login instead "+
			"(route tokens with a user name give basic auth)", a.users, a.name)
		r.Auth = &route.Auth{RequireLogin: true}
		if a.satisfyAny && (len(allow) > 0 || len(deny) > 0) {
			if len(deny) > 0 {
				r.Auth.Rules = append(r.Auth.Rules, accessRule("deny", deny))
			}
			if len(allow) > 0 {
				r.Auth.Rules = append(r.Auth.Rules, accessRule("allow", allow))
			}
			return
		}
	}
	if len(allow) > 0 || len(deny) > 0 {
		r.Access = &route.Access{Allow: allow, Deny: deny}
	}
}

// cidrs keeps the addresses and ranges of list, noting the others (host
// names, which nginx resolves once at start).
func cidrs(list []string, im *Import, src string) []string {
	var out []string
	for _, c := range list {
		if _, err := netip.ParsePrefix(c); err == nil {
			out = append(out, c)
		} else if _, err := netip.ParseAddr(c); err == nil {
			out = append(out, c)
		} else {
			im.note(src, "access list address %q is not an IP address or range: not imported", c)
		}
	}
	return out
}

func (n *npm) redirectionHosts(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT id, domain_names, enabled, certificate_id, ssl_forced, hsts_enabled, hsts_subdomains,
		advanced_config, forward_scheme, forward_domain_name, forward_http_code, preserve_path FROM redirection_host WHERE is_deleted = 0 ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h                                npmHost
			domains, advanced, scheme, to    string
			enabled, cert, forced, hsts, sub int
			code, preserve                   int
		)
		if err := rows.Scan(&h.id, &domains, &enabled, &cert, &forced, &hsts, &sub, &advanced, &scheme, &to, &code, &preserve); err != nil {
			return err
		}
		if err := scanHost(&h, domains, enabled, cert, forced, hsts, sub, advanced); err != nil {
			return err
		}
		src := h.source("redirection host")
		r := n.base(&h, route.KindRedirect, src)
		if scheme != "http" && scheme != "https" {
			scheme = "https"
			n.im.note(src, "the redirect keeps the request's scheme in Nginx Proxy Manager; it goes to https:// here")
		}
		switch code {
		case 301, 302, 307, 308:
		default:
			n.im.note(src, "status %d is not a redirect proxyos sends: 302 instead", code)
			code = 302
		}
		r.Redirect = &route.Redirect{To: scheme + "://" + to, Status: code, PreservePath: preserve == 1}
		n.im.Routes = append(n.im.Routes, r)
	}
	return rows.Err()
}

func (n *npm) deadHosts(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT id, domain_names, enabled, certificate_id, ssl_forced, hsts_enabled, hsts_subdomains,
		advanced_config FROM dead_host WHERE is_deleted = 0 ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h                                npmHost
			domains, advanced                string
			enabled, cert, forced, hsts, sub int
		)
		if err := rows.Scan(&h.id, &domains, &enabled, &cert, &forced, &hsts, &sub, &advanced); err != nil {
			return err
		}
		if err := scanHost(&h, domains, enabled, cert, forced, hsts, sub, advanced); err != nil {
			return err
		}
		r := n.base(&h, route.KindStatic, h.source("404 host"))
		r.Static = &route.Static{Status: 404, Body: "Not Found", ContentType: "text/plain; charset=utf-8"}
		n.im.Routes = append(n.im.Routes, r)
	}
	return rows.Err()
}

func (n *npm) streams(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT id, incoming_port, forwarding_host, forwarding_port FROM stream WHERE is_deleted = 0 ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, in, port int
			host         string
		)
		if err := rows.Scan(&id, &in, &host, &port); err != nil {
			return err
		}
		n.im.note(fmt.Sprintf("stream %d (port %d → %s)", id, in, net.JoinHostPort(host, strconv.Itoa(port))),
			"not imported: proxyos manages HTTP routes only for now")
	}
	return rows.Err()
}

func accessRule(action string, cidrs []string) access.Rule {
	return access.Rule{Action: action, CIDRs: cidrs}
}
