package authz

import (
	"slices"
	"testing"
)

func TestRoleRank(t *testing.T) {
	for _, c := range []struct {
		r, min Role
		want   bool
	}{
		{Admin, Operator, true}, {Admin, Admin, true}, {Operator, Admin, false},
		{Viewer, Viewer, true}, {Viewer, Operator, false}, {Viewer, "", true},
		{"root", Viewer, false}, {"Admin", Viewer, false}, {"", Viewer, false},
	} {
		if got := c.r.AtLeast(c.min); got != c.want {
			t.Errorf("%q.AtLeast(%q) = %v, want %v", c.r, c.min, got, c.want)
		}
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
	if r, err := ParseRole("operator"); err != nil || r != Operator {
		t.Errorf("ParseRole(operator) = %q, %v", r, err)
	}
}

// TestGrantable prevents a key from doing more than its maker: a role
// grants only the scopes at or below it.
func TestGrantable(t *testing.T) {
	if got := Grantable(Viewer); !slices.Equal(got, []Scope{RoutesRead}) {
		t.Errorf("viewer grants %v", got)
	}
	if got := Grantable(Operator); !slices.Equal(got, []Scope{RoutesRead, RoutesWrite}) {
		t.Errorf("operator grants %v", got)
	}
	if got := Grantable(Admin); len(got) != 6 {
		t.Errorf("admin grants %v", got)
	}
	if got := Grantable("nobody"); len(got) != 0 {
		t.Errorf("an unknown role grants %v", got)
	}
	if _, ok := Scope("routes:delete").MinRole(); ok {
		t.Error("an unknown scope has a role")
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		have []Scope
		need Scope
		want bool
	}{
		{[]Scope{RoutesRead}, RoutesRead, true},
		{[]Scope{RoutesWrite}, RoutesRead, true},
		{[]Scope{RoutesRead}, RoutesWrite, false},
		{[]Scope{UsersWrite}, RoutesRead, false},
		{[]Scope{All}, AuditRead, true},
		{[]Scope{All}, "", false},
		{nil, RoutesRead, false},
	} {
		if got := Covers(c.have, c.need); got != c.want {
			t.Errorf("Covers(%v, %q) = %v", c.have, c.need, got)
		}
	}
}
