// Package caddyfile adds the proxyos global option and directives to the
// Caddyfile. It holds parsing only; every option maps to a JSON field of
// the proxyos modules.
package caddyfile

import (
	"errors"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/errorpage"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("proxyos", parseApp)
	httpcaddyfile.RegisterHandlerDirective("proxyos_dashboard", parseDashboard)
	httpcaddyfile.RegisterHandlerDirective("proxyos_auth", parseAuth)
	httpcaddyfile.RegisterHandlerDirective("proxyos_routes", parseRoutes)
	httpcaddyfile.RegisterDirectiveOrder("proxyos_routes", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("proxyos_auth", httpcaddyfile.After, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("proxyos_dashboard", httpcaddyfile.Before, "reverse_proxy")
}

// parseApp sets up the proxyos app from the global option:
//
//	proxyos {
//		secret           <secret>
//		previous_secrets <secret...>
//		database         sqlite|postgres <path|url>
//		url              <https://dashboard.example.com>
//		session_ttl      <duration>
//		session_idle     <duration>
//		cookie_domain    <domain>
//		audit_retention  <duration>
//		upstream_networks {
//			allow <cidr...>
//			deny  <cidr...>
//		}
//		upstream_resolvers <host[:port]...>
//		stream_ports       <port|first-last...>
//		on_demand_limit    <names> <interval>
//		node_name          <name>
//		password_login     on|off
//		error_page <status...> {
//			body <html>
//			file <path>
//		}
//		oidc <name> {
//			issuer          <url>
//			client_id       <id>
//			client_secret   <secret>
//			scopes          <scope...>
//			claim_email     <claim>
//			claim_groups    <claim>
//			roles {
//				admin    <group...>
//				operator <group...>
//				viewer   <group...>
//			}
//			default_role    admin|operator|viewer|none
//			auto_create     on|off
//			allowed_domains <domain...>
//		}
//	}
//
// The block is optional. Each subdirective but oidc (one per provider)
// and error_page (one per set of statuses) may appear once, so a second secret cannot silently replace the first.
func parseApp(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(proxyos.App)
	d.Next() // option name
	if existing != nil {
		return nil, d.Err("proxyos: option given more than once; use one block")
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		if seen[d.Val()] && d.Val() != "previous_secrets" && d.Val() != "oidc" && d.Val() != "error_page" {
			return nil, d.Errf("%s: given more than once", d.Val())
		}
		seen[d.Val()] = true
		switch d.Val() {
		case "secret":
			if err := oneArg(d, &app.Secret); err != nil {
				return nil, err
			}
		case "previous_secrets":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.PreviousSecrets = append(app.PreviousSecrets, args...)
		case "database":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.ArgErr()
			}
			if args[0] != "sqlite" && args[0] != "postgres" {
				return nil, d.Errf("database: unknown driver '%s' (want sqlite or postgres)", args[0])
			}
			app.Database = &proxyos.Database{Driver: args[0], DSN: args[1]}
		case "url":
			if err := oneArg(d, &app.URL); err != nil {
				return nil, err
			}
		case "node_name":
			if err := oneArg(d, &app.NodeName); err != nil {
				return nil, err
			}
		case "session_ttl":
			if err := durationArg(d, &app.SessionTTL); err != nil {
				return nil, err
			}
		case "session_idle":
			if err := durationArg(d, &app.SessionIdle); err != nil {
				return nil, err
			}
		case "cookie_domain":
			if err := oneArg(d, &app.CookieDomain); err != nil {
				return nil, err
			}
		case "audit_retention":
			if err := durationArg(d, &app.AuditRetention); err != nil {
				return nil, err
			}
		case "upstream_networks":
			n, err := parseUpstreamNetworks(d)
			if err != nil {
				return nil, err
			}
			app.UpstreamNetworks = n
		case "upstream_resolvers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.UpstreamResolvers = args
		case "stream_ports":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.StreamPorts = args
		case "password_login":
			on, err := onOff(d)
			if err != nil {
				return nil, err
			}
			app.PasswordLogin = &on
		case "oidc":
			p, err := parseOIDC(d)
			if err != nil {
				return nil, err
			}
			app.OIDC = append(app.OIDC, p)
		case "error_page":
			if err := parseErrorPage(d, app); err != nil {
				return nil, err
			}
		case "on_demand_limit":
			l, err := parseOnDemandLimit(d)
			if err != nil {
				return nil, err
			}
			app.OnDemandLimit = l
		default:
			return nil, d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	return httpcaddyfile.App{
		Name:  "proxyos",
		Value: caddyconfig.JSON(app, nil),
	}, nil
}

// parseErrorPage reads one error_page of the proxyos option (see
// parseApp): the statuses it answers, and its body or file.
func parseErrorPage(d *caddyfile.Dispenser, app *proxyos.App) error {
	statuses := d.RemainingArgs()
	if len(statuses) == 0 {
		return d.ArgErr()
	}
	page := new(proxyos.ErrorPage)
	for d.NextBlock(1) {
		switch d.Val() {
		case "body":
			if err := oneArg(d, &page.Body); err != nil {
				return err
			}
		case "file":
			if err := oneArg(d, &page.File); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	if (page.Body == "") == (page.File == "") {
		return d.Err("error_page: give body or file")
	}
	if app.ErrorPages == nil {
		app.ErrorPages = make(map[string]*proxyos.ErrorPage)
	}
	for _, st := range statuses {
		if err := errorpage.Check(st, "-"); err != nil {
			return d.Errf("error_page: %v", err)
		}
		if app.ErrorPages[st] != nil {
			return d.Errf("error_page: %s given more than once", st)
		}
		app.ErrorPages[st] = page
	}
	return nil
}

// parseOIDC reads one OpenID provider of the oidc option (see parseApp).
// Each subdirective may appear once, except roles' lines, which add up.
func parseOIDC(d *caddyfile.Dispenser) (oidc.Provider, error) {
	var p oidc.Provider
	if !d.NextArg() {
		return p, d.ArgErr()
	}
	p.Name = d.Val()
	if d.NextArg() {
		return p, d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		if seen[key] {
			return p, d.Errf("oidc %s: %s: given more than once", p.Name, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "issuer":
			err = oneArg(d, &p.Issuer)
		case "client_id":
			err = oneArg(d, &p.ClientID)
		case "client_secret":
			err = oneArg(d, &p.ClientSecret)
		case "claim_email":
			err = oneArg(d, &p.ClaimEmail)
		case "claim_groups":
			err = oneArg(d, &p.ClaimGroups)
		case "default_role":
			err = oneArg(d, &p.DefaultRole)
		case "scopes":
			p.Scopes, err = someArgs(d)
		case "allowed_domains":
			p.AllowedDomains, err = someArgs(d)
		case "auto_create":
			p.AutoCreate, err = onOff(d)
		case "roles":
			p.Roles, err = parseOIDCRoles(d)
		default:
			return p, d.Errf("unrecognized subdirective '%s'", key)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// parseOIDCRoles reads the roles block of an oidc provider: a line per
// role with the groups that grant it.
//
//	roles {
//		admin    <group...>
//		operator <group...>
//		viewer   <group...>
//	}
func parseOIDCRoles(d *caddyfile.Dispenser) (map[string][]string, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	roles := map[string][]string{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		role := d.Val()
		if !authz.Role(role).Valid() {
			return nil, d.Errf("roles: unknown role '%s' (want admin, operator or viewer)", role)
		}
		groups, err := someArgs(d)
		if err != nil {
			return nil, err
		}
		roles[role] = append(roles[role], groups...)
	}
	return roles, nil
}

// someArgs returns the remaining arguments of a line, at least one.
func someArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

// onOff reads the one argument on or off of a line.
func onOff(d *caddyfile.Dispenser) (bool, error) {
	key, v := d.Val(), ""
	if err := oneArg(d, &v); err != nil {
		return false, err
	}
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, d.Errf("%s: want on or off, not '%s'", key, v)
}

// parseUpstreamNetworks reads the block of the upstream_networks option:
//
//	upstream_networks {
//		allow <cidr...>
//		deny  <cidr...>
//	}
//
// allow and deny may each appear more than once; their networks add up.
func parseUpstreamNetworks(d *caddyfile.Dispenser) (*proxyos.UpstreamNetworks, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	n := new(proxyos.UpstreamNetworks)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		kind := d.Val()
		args := d.RemainingArgs()
		if len(args) == 0 {
			return nil, d.ArgErr()
		}
		switch kind {
		case "allow":
			n.Allow = append(n.Allow, args...)
		case "deny":
			n.Deny = append(n.Deny, args...)
		default:
			return nil, d.Errf("unrecognized subdirective '%s'", kind)
		}
	}
	return n, nil
}

// parseOnDemandLimit reads the arguments of the on_demand_limit option:
// at most <names> new names per route per <interval>.
//
//	on_demand_limit <names> <interval>
func parseOnDemandLimit(d *caddyfile.Dispenser) (*proxyos.OnDemandLimit, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return nil, d.Errf("on_demand_limit: '%s' is not a number of names of at least 1", args[0])
	}
	dur, err := caddy.ParseDuration(args[1])
	if err != nil {
		return nil, d.Errf("on_demand_limit: %v", err)
	}
	if dur <= 0 {
		return nil, d.Errf("on_demand_limit: interval must be positive")
	}
	return &proxyos.OnDemandLimit{Names: n, Interval: caddy.Duration(dur)}, nil
}

// parseDashboard sets up the dashboard handler:
//
//	proxyos_dashboard [<matcher>]
func parseDashboard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	if h.NextBlock(0) {
		return nil, h.Errf("unrecognized subdirective '%s'", h.Val())
	}
	return new(proxyos.Dashboard), nil
}

// parseRoutes sets up the handler of managed routes:
//
//	proxyos_routes [<matcher>]
//
// It takes the global https_port option into account for redirects to
// HTTPS.
func parseRoutes(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	if h.NextBlock(0) {
		return nil, h.Errf("unrecognized subdirective '%s'", h.Val())
	}
	rh := new(proxyos.RoutesHandler)
	if port, ok := h.Option("https_port").(int); ok {
		rh.HTTPSPort = port
	}
	return rh, nil
}

// parseAuth sets up the session gate and its access rules:
//
//	proxyos_auth [<matcher>] {
//		roles   <role...>
//		emails  <email...>
//		groups  <group...>
//		allow   [<path>] [<method...>] [<cidr...>]
//		deny    [<path>] [<method...>] [<cidr...>]
//		login   [<path>] [<method...>] [<cidr...>]
//		default allow|deny|login
//	}
//
// Each allow, deny or login line is one rule, in order (first match
// wins); its arguments are told apart by their shape: a path starts
// with / or *, a method is in upper case, anything else is an IP
// address or CIDR range.
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(proxyos.Auth)
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "roles":
			roles := h.RemainingArgs()
			if len(roles) == 0 {
				return nil, h.ArgErr()
			}
			for _, r := range roles {
				if !authz.Role(r).Valid() {
					return nil, h.Errf("roles: '%s' is not a role (admin, operator or viewer)", r)
				}
			}
			a.Roles = append(a.Roles, roles...)
		case "emails":
			emails := h.RemainingArgs()
			if len(emails) == 0 {
				return nil, h.ArgErr()
			}
			for _, e := range emails {
				if !strings.Contains(e, "@") {
					return nil, h.Errf("emails: '%s' is not an email address", e)
				}
			}
			a.Emails = append(a.Emails, emails...)
		case "groups":
			groups := h.RemainingArgs()
			if len(groups) == 0 {
				return nil, h.ArgErr()
			}
			a.Groups = append(a.Groups, groups...)
		case "allow", "deny", "login":
			r, err := parseRule(h.Dispenser)
			if err != nil {
				return nil, err
			}
			a.Rules = append(a.Rules, r)
		case "default":
			if err := oneArg(h.Dispenser, &a.Default); err != nil {
				return nil, err
			}
			if _, ok := access.ParseAction(a.Default); !ok {
				return nil, h.Errf("default: '%s' is not an action (allow, deny or login)", a.Default)
			}
		default:
			return nil, h.Errf("unrecognized subdirective '%s'", h.Val())
		}
	}
	return a, nil
}

// parseRule reads an access rule: the action is the current token, the
// arguments are a path, methods and CIDR ranges, told apart by shape.
func parseRule(d *caddyfile.Dispenser) (access.Rule, error) {
	r := access.Rule{Action: d.Val()}
	for _, arg := range d.RemainingArgs() {
		switch {
		case strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "*"):
			if r.Path != "" {
				return r, d.Errf("%s: one path per rule; write a rule per path", r.Action)
			}
			r.Path = arg
		case strings.ToUpper(arg) == arg && strings.Trim(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "":
			r.Methods = append(r.Methods, arg)
		default:
			r.CIDRs = append(r.CIDRs, arg)
		}
	}
	if err := access.Check([]access.Rule{r}); err != nil {
		var ae *access.Error
		if errors.As(err, &ae) {
			return r, d.Errf("%s: %s: %s", r.Action, strings.TrimPrefix(ae.Field, "[0]."), ae.Message)
		}
		return r, d.Errf("%s: %v", r.Action, err)
	}
	return r, nil
}

// oneArg reads exactly one argument of the current subdirective into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// durationArg reads exactly one duration argument into dst.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s: %v", name, err)
	}
	if dur <= 0 {
		return d.Errf("%s: must be positive", name)
	}
	*dst = caddy.Duration(dur)
	return nil
}
