package route

import (
	"reflect"
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
