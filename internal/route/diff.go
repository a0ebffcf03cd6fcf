package route

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// FieldChange is one field that differs between two versions of a route,
// named by its JSON path (upstreams, headers.response.set.X-Frame-Options).
// Before or After is nil where the field is absent.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// SecretMark stands for a request header value in a change: those values
// are secrets (credentials for the upstream), which Diff never shows.
const SecretMark = "(secret)"

// unversioned are the fields that describe a route's record, not what
// it serves: Diff ignores them.
var unversioned = []string{"id", "version", "created_at", "updated_at", "status", "warnings"}

// Diff lists the fields in which b differs from a, field by field down to
// the leaves of objects (lists compare whole), in order of their paths.
// a and b are any values that encode as a route does (a Route, or a view
// of one with its secrets hidden); the record fields (id, version, times)
// are ignored. Request header values, the route's and its locations',
// are compared but shown as SecretMark.
func Diff(a, b any) []FieldChange {
	ma, mb := asMap(a), asMap(b)
	for _, f := range unversioned {
		delete(ma, f)
		delete(mb, f)
	}
	var out []FieldChange
	diffMaps("", ma, mb, &out)
	for i := range out {
		out[i].Before = hideSecrets(out[i].Field, out[i].Before)
		out[i].After = hideSecrets(out[i].Field, out[i].After)
	}
	return out
}

// hideSecrets returns the value v of field with its request header
// values replaced by SecretMark: a leaf of headers.request.set, or the
// header values of each location in the locations list (lists compare
// whole). v is freshly decoded, so it is changed in place.
func hideSecrets(field string, v any) any {
	switch {
	case v == nil:
		return nil
	case strings.HasPrefix(field, "headers.request.set."):
		return SecretMark
	case field == "locations":
		locs, _ := v.([]any)
		for _, l := range locs {
			lm, _ := l.(map[string]any)
			hs, _ := lm["headers"].(map[string]any)
			req, _ := hs["request"].(map[string]any)
			set, _ := req["set"].(map[string]any)
			for name, val := range set {
				if val != nil {
					set[name] = SecretMark
				}
			}
		}
	}
	return v
}

// asMap encodes v as JSON and decodes it as a generic object.
func asMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	m := map[string]any{}
	if json.Unmarshal(b, &m) != nil || m == nil {
		return map[string]any{}
	}
	return m
}

func diffMaps(prefix string, a, b map[string]any, out *[]FieldChange) {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		va, vb := a[k], b[k]
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		oa, aObj := va.(map[string]any)
		ob, bObj := vb.(map[string]any)
		switch {
		case aObj && bObj:
			diffMaps(path, oa, ob, out)
		case aObj && vb == nil:
			diffMaps(path, oa, map[string]any{}, out)
		case bObj && va == nil:
			diffMaps(path, map[string]any{}, ob, out)
		case !reflect.DeepEqual(va, vb):
			*out = append(*out, FieldChange{Field: path, Before: va, After: vb})
		}
	}
}
