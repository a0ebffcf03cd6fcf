package route

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base := func() *Route {
		return &Route{ID: "a", Version: 3, Enabled: true, Hosts: []string{"a.example.com"}, Kind: KindProxy,
			Upstreams: []string{"http://10.0.0.1:80"}, Headers: &Headers{Response: &HeaderOps{Set: map[string]string{"X-A": "1"}}}}
	}
	for _, c := range []struct {
		name string
		edit func(*Route)
		want []FieldChange
	}{
		{"record fields ignored", func(r *Route) { r.ID, r.Version = "b", 9 }, nil},
		{"list", func(r *Route) { r.Upstreams = []string{"http://10.0.0.2:80"} },
			[]FieldChange{{"upstreams", []any{"http://10.0.0.1:80"}, []any{"http://10.0.0.2:80"}}}},
		{"nested leaf", func(r *Route) { r.Headers.Response.Set["X-A"] = "2" },
			[]FieldChange{{"headers.response.set.X-A", "1", "2"}}},
		{"object removed", func(r *Route) { r.Headers = nil },
			[]FieldChange{{"headers.response.set.X-A", "1", nil}}},
		{"flag added", func(r *Route) { r.HSTS = true }, []FieldChange{{"hsts", nil, true}}},
		// A plan of changes must not teach an operator the upstream
		// credentials a route or its locations send: values are hidden,
		// changes to them still show.
		{"request header value changed", func(r *Route) {
			r.Headers.Request = &HeaderOps{Set: map[string]string{"Authorization": "Bearer diff-secret"}}
		}, []FieldChange{{"headers.request.set.Authorization", nil, SecretMark}}},
		{"location header value changed", func(r *Route) {
			r.Locations = []Location{{Path: "/api/*", Upstreams: []string{"http://10.0.0.3:80"},
				Headers: &Headers{Request: &HeaderOps{Set: map[string]string{"X-Api-Key": "diff-loc-secret"}}}}}
		}, []FieldChange{{"locations", nil, []any{map[string]any{"path": "/api/*", "upstreams": []any{"http://10.0.0.3:80"},
			"headers": map[string]any{"request": map[string]any{"set": map[string]any{"X-Api-Key": SecretMark}}}}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.edit(b)
			if got := Diff(base(), b); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Diff = %#v, want %#v", got, c.want)
			}
		})
	}
}

// TestDiffLocationSecretOnly checks that a change of a location's request
// header value alone is a change (an import must apply it) though both
// sides show only SecretMark.
func TestDiffLocationSecretOnly(t *testing.T) {
	with := func(v string) *Route {
		return &Route{Kind: KindProxy, Locations: []Location{{Path: "/api/*",
			Headers: &Headers{Request: &HeaderOps{Set: map[string]string{"X-Api-Key": v}}}}}}
	}
	got := Diff(with("old-secret-1"), with("new-secret-2"))
	if len(got) != 1 || got[0].Field != "locations" {
		t.Fatalf("Diff = %#v, want one change of locations", got)
	}
	if s := fmt.Sprint(got); strings.Contains(s, "secret-") || !strings.Contains(s, SecretMark) {
		t.Fatalf("the change shows a header value, or no mark: %s", s)
	}
}
