package router

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

const (
	rtlSecret1 = "rtl-key-1-9c0e2f7a41b3"
	rtlSecret2 = "rtl-key-2-5d8b1a6c07e4"
)

// rtlUpstream starts an upstream that answers with the X-Api-Key header
// it received.
func rtlUpstream(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "key="+r.Header.Get("X-Api-Key")) //nolint:errcheck
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// rtlGet serves GET path on host through the live route and returns the
// body.
func rtlGet(t *testing.T, a *Service, host, path string) string {
	t.Helper()
	lr := a.Table.Lookup(host)
	if lr == nil {
		t.Fatalf("%s is not live", host)
	}
	rec := httptest.NewRecorder()
	// reverse_proxy reads the server from the request context.
	req := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodGet, "http://"+host+path, nil), caddy.NewReplacer(), rec, &caddyhttp.Server{})
	if err := lr.Handler.ServeHTTP(rec, req); err != nil {
		t.Fatalf("serving %s%s: %v", host, path, err)
	}
	return rec.Body.String()
}

// rtlInput decodes a route as the APIs take it.
func rtlInput(t *testing.T, doc string) *RouteInput {
	t.Helper()
	in := new(RouteInput)
	if err := json.Unmarshal([]byte(doc), in); err != nil {
		t.Fatal(err)
	}
	return in
}

// rtlSpec is a route with a location /api/* (locations[1]) whose
// X-Api-Key is key (a JSON value: a quoted string or null).
func rtlSpec(up, apiPath, key string) string {
	return `{"name":"l","hosts":["loc.example.com"],"kind":"proxy","upstreams":["` + up + `"],
		"locations":[{"path":"/open/*","upstreams":["` + up + `"]},
		{"path":"` + apiPath + `","upstreams":["` + up + `"],"headers":{"request":{"set":{"X-Api-Key":` + key + `}}}}]}`
}

// rtlSave resolves doc against the stored route id ("" for a new route)
// and saves it at version.
func rtlSave(t *testing.T, a *Service, id string, version int, doc string) (*route.Route, error) {
	t.Helper()
	ctx := context.Background()
	in := rtlInput(t, doc)
	var prev *route.Route
	if id != "" {
		var err error
		if prev, err = a.Route(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	r, err := in.Resolve(prev)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return a.Create(ctx, r, importer)
	}
	r.Version = version
	return a.Update(ctx, id, r, importer)
}

// rtlWantField fails unless err is a field error on field.
func rtlWantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var fe *fail.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("%s: error %v, want one on %s", what, err, field)
	}
}

// TestLocationHeaderValuesAreSecrets prevents an operator-role viewer, a
// routes:read key or a reader of an export from learning the upstream
// credential a location sends (a different API key per path): the
// value is sealed in the store (bound to the route, the location's path
// and the header), null in every answer, version and audit entry, kept
// when a client sends null back for the same path, sent only on the
// location's path, and restored by a rollback.
func TestLocationHeaderValuesAreSecrets(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	up := rtlUpstream(t)
	const host = "loc.example.com"

	created, err := rtlSave(t, a, "", 0, rtlSpec(up, "/api/*", `"`+rtlSecret1+`"`))
	if err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("the location's upstream got %q, want the location's value", got)
	}
	for _, p := range []string{"/open/x", "/"} {
		if got := rtlGet(t, a, host, p); got != "key=" {
			t.Fatalf("%s: the upstream got %q: the value leaks to another path", p, got)
		}
	}

	// At rest: the raw rows hold the value sealed with the current key.
	rtlWantSealed(t, a, created.ID, a.Keys.CurrentID(), rtlSecret1)

	// wantHidden fails unless what shows no value, and with null, the
	// header as null (the audit log leaves nulls out).
	wantHidden := func(what string, v any, null bool) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), rtlSecret1) || strings.Contains(string(b), rtlSecret2) {
			t.Fatalf("%s shows a location's request header value: %s", what, b)
		}
		if null && !strings.Contains(string(b), `"X-Api-Key":null`) {
			t.Fatalf("%s does not show the location's header as null: %s", what, b)
		}
	}
	wantHidden("the route's answer", a.WithStatus(created), true)

	// The form's way of saving: the answer, nulls and all, back with a
	// change elsewhere; the path in another case is the same location.
	b, _ := json.Marshal(a.WithStatus(created))
	doc := strings.Replace(string(b), `"/api/*"`, `"/API/*"`, 1)
	if _, err := rtlSave(t, a, created.ID, 1, doc); err != nil {
		t.Fatalf("saving the answer back: %v", err)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("after saving nulls back the location's upstream got %q", got)
	}

	// A new value; then the history and audit log show neither.
	if _, err := rtlSave(t, a, created.ID, 2, rtlSpec(up, "/api/*", `"`+rtlSecret2+`"`)); err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key="+rtlSecret2 {
		t.Fatalf("after a new value the location's upstream got %q", got)
	}
	vs, err := a.History(ctx, created.ID)
	if err != nil || len(vs) != 3 {
		t.Fatalf("history: %v, %d versions", err, len(vs))
	}
	wantHidden("the versions", vs, true)
	entries, err := a.Store.ListAudit(ctx, store.AuditFilter{}, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantHidden("the audit log", entries, false)
	named := false
	for _, e := range entries {
		named = named || strings.Contains(string(e.Details), `"X-Api-Key (location /api/*)"`)
	}
	if !named {
		t.Errorf("no audit entry names the location's changed header: %+v", entries)
	}

	// null where the stored location has no such header, or for a
	// location renamed, is an error naming the field.
	_, err = rtlSave(t, a, created.ID, 3, rtlSpec(up, "/v2/*", "null"))
	rtlWantField(t, "null on a renamed location", err, "locations[1].headers.request.set.X-Api-Key")
	_, err = rtlSave(t, a, created.ID, 3, strings.Replace(rtlSpec(up, "/api/*", "null"), "X-Api-Key", "X-Other", 1))
	rtlWantField(t, "null for another header", err, "locations[1].headers.request.set.X-Other")

	// A sealed value opens only where it was sealed: moved to another
	// location it is refused, not sent to that location's upstream.
	stored, err := a.Route(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	moved := *stored
	moved.Locations = slices.Clone(stored.Locations)
	moved.Locations[0].Headers, moved.Locations[1].Headers = moved.Locations[1].Headers, nil
	if _, err := a.Update(ctx, created.ID, &moved, importer); err == nil {
		t.Fatal("a location's sealed value moved to another location opened")
	} else {
		rtlWantField(t, "a moved sealed value", err, "locations[0].headers.request.set.X-Api-Key")
	}

	// Rollback brings back the first value.
	if _, err := a.Rollback(ctx, created.ID, 1, importer); err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, a, host, "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("after rollback the location's upstream got %q, want the first value", got)
	}

	// Another node over the same store serves it as this one does.
	other := rtuService(t, a.Store, testkit.Secret)
	if err := other.Reload(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, other, host, "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("another node's location upstream got %q", got)
	}

	// A location removed takes its value with it: null no longer keeps.
	if _, err := rtlSave(t, a, created.ID, 4, `{"name":"l","hosts":["loc.example.com"],"kind":"proxy","upstreams":["`+up+`"]}`); err != nil {
		t.Fatal(err)
	}
	_, err = rtlSave(t, a, created.ID, 5, rtlSpec(up, "/api/*", "null"))
	rtlWantField(t, "null after the location was removed", err, "locations[1].headers.request.set.X-Api-Key")
}

// rtlWantSealed fails unless every stored spec of route id (the route and
// its versions) that holds a location header value holds it sealed with
// key keyID, and no spec holds plain in the clear.
func rtlWantSealed(t *testing.T, a *Service, id, keyID, plain string) {
	t.Helper()
	specs, err := a.Store.RouteSpecs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rs := range specs {
		if rs.RouteID != id {
			continue
		}
		if strings.Contains(string(rs.Spec), plain) {
			t.Fatalf("version %d of the route is stored with a location's header value in the clear", rs.Version)
		}
		var r route.Route
		if err := json.Unmarshal(rs.Spec, &r); err != nil {
			t.Fatal(err)
		}
		for _, l := range r.Locations {
			for _, v := range headerSet(l.Headers) {
				n++
				if !keyring.IsSealed(v) || !strings.HasPrefix(v, "v1."+keyID+".") {
					t.Fatalf("version %d stores a location's value as %q, want sealed with key %s", rs.Version, v, keyID)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no stored location header value")
	}
}

// TestLocationSecretsAcrossRotation checks that a location's request
// header values are re-sealed with the new key at start-up, the route's
// versions too, so the old secret can be dropped and the location still
// sends its credential.
func TestLocationSecretsAcrossRotation(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	const secretA, secretB = "rtl-secret-A-0f3b7c9d1e2a", "rtl-secret-B-6e1d2c8a9b0f"
	ctx := context.Background()
	up := rtlUpstream(t)

	a := rtuService(t, st, secretA)
	created, err := rtlSave(t, a, "", 0, rtlSpec(up, "/api/*", `"`+rtlSecret1+`"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtlSave(t, a, created.ID, 1, strings.Replace(rtlSpec(up, "/api/*", "null"), `"name":"l"`, `"name":"l2"`, 1)); err != nil {
		t.Fatal(err)
	}
	rtlWantSealed(t, a, created.ID, a.Keys.CurrentID(), rtlSecret1)

	b := rtuService(t, st, secretB, secretA)
	b.Reseal(ctx)
	rtlWantSealed(t, b, created.ID, b.Keys.CurrentID(), rtlSecret1)

	c := rtuService(t, st, secretB)
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rtlGet(t, c, "loc.example.com", "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("with only the new secret the location's upstream got %q", got)
	}
	if _, err := c.Rollback(ctx, created.ID, 1, importer); err != nil {
		t.Fatalf("rolling back to a re-sealed version: %v", err)
	}
}

// An import plan must not teach an operator the credential a location
// sends: a dry run that changes it shows the change, values hidden; an
// exported route (values null) imported back keeps them.
func TestImportKeepsLocationSecretHeaders(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	up := rtlUpstream(t)
	created, err := rtlSave(t, a, "", 0, rtlSpec(up, "/api/*", `"`+rtlSecret1+`"`))
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := json.Marshal(ViewOf(created))
	in := rtlInput(t, strings.Replace(string(exported), `"name":"l"`, `"name":"renamed"`, 1))
	plan, err := a.Import(ctx, []RouteInput{*in}, ImportOptions{}, importer)
	if err != nil || len(plan.Changed) != 1 {
		t.Fatalf("Import: %v, plan %+v", err, plan)
	}
	if got := rtlGet(t, a, "loc.example.com", "/api/x"); got != "key="+rtlSecret1 {
		t.Fatalf("after importing the export back the location's upstream got %q", got)
	}

	in = rtlInput(t, rtlSpec(up, "/api/*", `"`+rtlSecret2+`"`))
	in.ID = created.ID
	plan, err = a.Import(ctx, []RouteInput{*in}, ImportOptions{DryRun: true}, importer)
	if err != nil || len(plan.Changed) != 1 {
		t.Fatalf("dry run: %v, plan %+v", err, plan)
	}
	b, _ := json.Marshal(plan)
	if strings.Contains(string(b), rtlSecret1) || strings.Contains(string(b), rtlSecret2) {
		t.Fatalf("the plan shows a location's header value: %s", b)
	}
	if !strings.Contains(string(b), `"locations"`) || !strings.Contains(string(b), route.SecretMark) {
		t.Fatalf("the plan does not show the location's change: %s", b)
	}
}
