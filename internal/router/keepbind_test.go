package router

import (
	"strings"
	"testing"
)

// TestKeptHeaderValueStaysWithItsUpstreams prevents someone who may edit
// a route but was never told its upstream credential from reading it by
// moving the route (or one of its locations) to an upstream of their
// own while sending null to keep the sealed value: a null keeps a value
// only while the requests go where the value was given for.
func TestKeptHeaderValueStaysWithItsUpstreams(t *testing.T) {
	a := rtuNewApp(t)
	good := rtlUpstream(t)
	evil := rtlUpstream(t)
	const host = "loc.example.com"

	// The route's own X-Api-Key, and its location /api/*'s.
	spec := func(up, locUp, tls, key, locKey string) string {
		return `{"name":"l","hosts":["` + host + `"],"kind":"proxy","upstreams":["` + up + `"]` + tls + `,
			"headers":{"request":{"set":{"X-Api-Key":` + key + `}}},
			"locations":[{"path":"/api/*","upstreams":["` + locUp + `"],"headers":{"request":{"set":{"X-Api-Key":` + locKey + `}}}}]}`
	}
	r, err := rtlSave(t, a, "", 0, spec(good, good, "", `"route-key-1"`, `"loc-key-1"`))
	if err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, a, host, "/"); got != "key=route-key-1" {
		t.Fatalf("before: %q", got)
	}

	for _, c := range []struct {
		name, doc, field string
	}{
		{"the route's upstreams", spec(evil, good, "", "null", "null"), "headers.request.set"},
		{"another upstream added", spec(good+`","`+evil, good, "", "null", "null"), "headers.request.set"},
		{"the upstream's certificate no longer verified", spec(good, good, `,"upstream_tls":{"skip_verify":true}`, "null", "null"), "headers.request.set"},
		{"upstream_host", strings.Replace(spec(good, good, "", "null", "null"), `"kind"`, `"upstream_host":"other.example","kind"`, 1), "headers.request.set"},
		{"the location's upstreams", spec(good, evil, "", "null", "null"), "locations[0].headers.request.set.X-Api-Key"},
	} {
		_, err := rtlSave(t, a, r.ID, r.Version, c.doc)
		rtlWantField(t, c.name, err, c.field)
		if !strings.Contains(err.Error(), "give its value again") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Nothing moved: both values still go to the good upstream only.
	if got := rtlGet(t, a, host, "/"); got != "key=route-key-1" {
		t.Fatalf("after refusals, route: %q", got)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key=loc-key-1" {
		t.Fatalf("after refusals, location: %q", got)
	}

	// The same upstreams written in another case and order keep the values.
	r, err = rtlSave(t, a, r.ID, r.Version, spec(strings.ToUpper(good), good, "", "null", "null"))
	if err != nil {
		t.Fatalf("same upstreams: %v", err)
	}
	// Whoever gives the value again may move it.
	r, err = rtlSave(t, a, r.ID, r.Version, spec(evil, evil, "", `"route-key-2"`, `"loc-key-2"`))
	if err != nil {
		t.Fatalf("values given again: %v", err)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key=loc-key-2" {
		t.Fatalf("moved with a new value: %q", got)
	}
	_ = r
}
