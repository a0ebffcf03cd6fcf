// Package oidc logs users in to proxyos with an OpenID Connect provider
// (Authentik, Keycloak, Google, …): the authorization code flow with PKCE,
// a state bound to the browser and used once, a nonce, and the ID token
// verified with the provider's keys (fetched again when it rotates them).
// An account is found by the provider's subject once linked, else by the
// verified email; its role follows the provider's groups at each login.
// The provider is discovered when a login starts, never at start-up, so
// one that is down when Caddy starts does not stop Caddy, and one that
// went down is reported before the browser is sent to it.
package oidc

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/proxyos/caddy-proxyos/internal/authz"
)

// Provider is one OpenID provider users may log in with. The provider
// must allow the redirect URI <url>/api/auth/oidc/<name>/callback, where
// url is the proxyos app's url.
type Provider struct {
	// Name identifies the provider in URLs, the audit log and the login
	// page ("Sign in with <name>"): letters, digits, '-' and '_'.
	Name string `json:"name"`

	// Issuer is the provider's issuer URL; its discovery document is at
	// <issuer>/.well-known/openid-configuration and must name this issuer.
	Issuer string `json:"issuer"`

	// ClientID and ClientSecret identify proxyos at the provider. Keep
	// the secret out of the config with a placeholder such as
	// {env.OIDC_SECRET}; it never appears in logs, errors, the API or
	// the audit log.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`

	// Scopes to ask for. Default: openid email profile. openid is always
	// asked for. Add the scope that brings the groups claim where the
	// provider needs one (such as groups).
	Scopes []string `json:"scopes,omitempty"`

	// ClaimEmail and ClaimGroups name the ID token's claims holding the
	// email and the groups. Default: email and groups.
	ClaimEmail  string `json:"claim_email,omitempty"`
	ClaimGroups string `json:"claim_groups,omitempty"`

	// Roles maps roles (admin, operator, viewer) to the provider's groups
	// that grant them. When set, a user's role is set at each login from
	// their groups (the highest role any of them grants; default_role
	// when none does), so a user removed from a group is demoted at their
	// next login and their other sessions end. When unset, roles are
	// managed in proxyos and accounts created here get default_role.
	Roles map[string][]string `json:"roles,omitempty"`

	// DefaultRole is the role of a user whose groups grant none: admin,
	// operator, viewer, or none to refuse them. Default: viewer.
	DefaultRole string `json:"default_role,omitempty"`

	// AutoCreate creates an account at the first login of a verified
	// email that has none. Default: off, only existing accounts (matched
	// by email) log in.
	AutoCreate bool `json:"auto_create,omitempty"`

	// AllowedDomains, when set, admits only emails of these domains.
	AllowedDomains []string `json:"allowed_domains,omitempty"`
}

// RoleNone is the default_role that refuses users whose groups grant no
// role.
const RoleNone = "none"

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CallbackPath is the path, on the dashboard, of provider name's
// callback.
func CallbackPath(name string) string { return "/api/auth/oidc/" + name + "/callback" }

// withDefaults returns p with its defaults filled in.
func (p Provider) withDefaults() Provider {
	if len(p.Scopes) == 0 {
		p.Scopes = []string{"openid", "email", "profile"}
	} else if !slices.Contains(p.Scopes, "openid") {
		p.Scopes = append([]string{"openid"}, p.Scopes...)
	}
	if p.ClaimEmail == "" {
		p.ClaimEmail = "email"
	}
	if p.ClaimGroups == "" {
		p.ClaimGroups = "groups"
	}
	if p.DefaultRole == "" {
		p.DefaultRole = string(authz.Viewer)
	}
	for i, d := range p.AllowedDomains {
		p.AllowedDomains[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
	}
	return p
}

// Validate checks the configuration of the providers, without I/O. Errors
// name the provider and the field.
func Validate(ps []Provider) error {
	seen := map[string]bool{}
	for _, p := range ps {
		if !namePattern.MatchString(p.Name) {
			return fmt.Errorf("oidc: name: %q must be 1 to 64 letters, digits, '-' or '_'", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("oidc %q: name: given more than once", p.Name)
		}
		seen[p.Name] = true
		if err := p.validate(); err != nil {
			return fmt.Errorf("oidc %q: %w", p.Name, err)
		}
	}
	return nil
}

func (p Provider) validate() error {
	u, err := url.Parse(p.Issuer)
	switch {
	case p.Issuer == "":
		return fmt.Errorf("issuer: required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("issuer: %q must be an absolute https:// (or http://) URL without query or fragment", p.Issuer)
	case p.ClientID == "":
		return fmt.Errorf("client_id: required")
	}
	for role := range p.Roles {
		if !authz.Role(role).Valid() {
			return fmt.Errorf("roles: unknown role %q (want admin, operator or viewer)", role)
		}
	}
	if d := p.DefaultRole; d != "" && d != RoleNone && !authz.Role(d).Valid() {
		return fmt.Errorf("default_role: unknown role %q (want admin, operator, viewer or none)", d)
	}
	for _, d := range p.AllowedDomains {
		d = strings.TrimPrefix(strings.TrimSpace(d), "@")
		if d == "" || strings.ContainsAny(d, " @/:") {
			return fmt.Errorf("allowed_domains: %q is not a domain name", d)
		}
	}
	return nil
}

// roleFor returns the role that groups grant under p's roles: the
// highest any of them grants, else the default role (RoleNone refuses).
func (p Provider) roleFor(groups []string) string {
	for _, role := range []authz.Role{authz.Admin, authz.Operator, authz.Viewer} {
		for _, g := range p.Roles[string(role)] {
			if slices.Contains(groups, g) {
				return string(role)
			}
		}
	}
	return p.DefaultRole
}

// domainAllowed reports whether email's domain is one of p's allowed
// domains, or p allows all.
func (p Provider) domainAllowed(email string) bool {
	if len(p.AllowedDomains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(email, "@")
	return ok && slices.Contains(p.AllowedDomains, strings.ToLower(domain))
}
