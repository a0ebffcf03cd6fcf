// Package authz is proxyos's vocabulary of authority: the roles of users,
// ranked, and the scopes of API keys, with the least role that may grant
// each. The API's endpoint table says which role and scope each endpoint
// needs; this package answers whether a caller has them.
package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a user may do. Roles are ranked: each can do what the
// roles below it can.
type Role string

// The roles, from most to least privileged.
const (
	Admin    Role = "admin"    // everything
	Operator Role = "operator" // routes, and their own account
	Viewer   Role = "viewer"   // reads routes, and their own account
)

// Roles lists the roles from most to least privileged.
var Roles = []Role{Admin, Operator, Viewer}

// Rank orders the roles: Viewer 1, Operator 2, Admin 3, anything else 0.
func (r Role) Rank() int {
	switch r {
	case Admin:
		return 3
	case Operator:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// AtLeast reports whether r may do what min may. Every role is at least
// the empty role (public endpoints); an unknown role is nothing.
func (r Role) AtLeast(min Role) bool {
	if min == "" {
		return true
	}
	return r.Valid() && r.Rank() >= min.Rank()
}

// ParseRole returns the role named s, or an error listing the roles.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", fmt.Errorf("%q is not a role (admin, operator or viewer)", s)
}

// Scope is a permission an API key carries.
type Scope string

// The scopes of API keys.
const (
	RoutesRead  Scope = "routes:read"
	RoutesWrite Scope = "routes:write"
	UsersRead   Scope = "users:read"
	UsersWrite  Scope = "users:write" // users and their sessions
	AuditRead   Scope = "audit:read"
	All         Scope = "admin" // every endpoint that takes keys
)

// scopes lists every scope with the least role that may grant it: a key
// never does more than the role of the user who made it.
var scopes = []struct {
	scope Scope
	min   Role
}{
	{RoutesRead, Viewer}, {RoutesWrite, Operator},
	{UsersRead, Admin}, {UsersWrite, Admin},
	{AuditRead, Admin}, {All, Admin},
}

// MinRole returns the least role that may grant s, and false for a scope
// that does not exist.
func (s Scope) MinRole() (Role, bool) {
	for _, x := range scopes {
		if x.scope == s {
			return x.min, true
		}
	}
	return "", false
}

// Grantable lists the scopes a user of role r may give a key.
func Grantable(r Role) []Scope {
	out := []Scope{}
	for _, x := range scopes {
		if r.AtLeast(x.min) {
			out = append(out, x.scope)
		}
	}
	return out
}

// Covers reports whether a key with the scopes may call an endpoint that
// needs need: the scope itself, its ":write" sibling for a ":read" need,
// or All. An empty need means the endpoint takes no keys.
func Covers(have []Scope, need Scope) bool {
	if need == "" {
		return false
	}
	if slices.Contains(have, All) || slices.Contains(have, need) {
		return true
	}
	if res, ok := strings.CutSuffix(string(need), ":read"); ok {
		return slices.Contains(have, Scope(res+":write"))
	}
	return false
}

// Scopes converts stored scope names.
func Scopes(names []string) []Scope {
	out := make([]Scope, len(names))
	for i, n := range names {
		out[i] = Scope(n)
	}
	return out
}
