package integration

import (
	"net/http"
	"slices"
	"testing"
)

// rtTestHistoryRollback records who changed a route (the admin's email on
// the dashboard, "admin API" on the admin API), lists versions newest
// first, and rolls back to version 1 as a new version 3 that is live at
// once.
func rtTestHistoryRollback(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "hist-a", false)
	b := rtNewUpstream(t, "hist-b", false)
	const host = "history.proxyos.test"
	r := e.dash.create(rtProxy(host, "off", a.URL))
	e.api.update(r.ID, 1, rtWith(rtProxy(host, "off", b.URL), "name", "second"))
	e.servedBy(host, b.Name)

	for _, api := range []rtAPI{e.dash, e.api} {
		vs := api.versions(r.ID)
		if len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 1 {
			t.Fatalf("%s: versions %+v, want 2 then 1", api, vs)
		}
		if vs[0].Actor != "admin API" || vs[1].Actor != e.adminEmail {
			t.Errorf("%s: actors %q, %q, want \"admin API\", %q", api, vs[0].Actor, vs[1].Actor, e.adminEmail)
		}
		if vs[0].At == "" || !slices.Equal(vs[1].Route.Upstreams, []string{a.URL}) || vs[0].Route.Name != "second" {
			t.Errorf("%s: version contents %+v", api, vs)
		}
	}

	status, raw := e.dash.call(http.MethodPost, "/"+r.ID+"/rollback", map[string]int{"version": 1})
	if status != http.StatusOK {
		t.Fatalf("rollback to 1: %d %s", status, raw)
	}
	if got := e.dash.decodeRoute(raw); got.Version != 3 || !slices.Equal(got.Upstreams, []string{a.URL}) || got.Name != host {
		t.Fatalf("rollback answered %+v, want version 3 with v1's upstream", got)
	}
	e.servedBy(host, a.Name)
	vs := e.api.versions(r.ID)
	if len(vs) != 3 || vs[0].Version != 3 || vs[0].Actor != e.adminEmail || vs[0].Action == "" {
		t.Fatalf("versions after rollback: %+v", vs)
	}

	// Rolling back to a version that does not exist changes nothing.
	for _, api := range []rtAPI{e.dash, e.api} {
		status, raw = api.call(http.MethodPost, "/"+r.ID+"/rollback", map[string]int{"version": 42})
		rtWantFieldError(t, api, "rollback to 42", status, raw, http.StatusBadRequest, "version")
	}
	if status, raw := e.api.call(http.MethodPost, "/no-such-route/rollback", map[string]int{"version": 1}); status != http.StatusNotFound {
		t.Errorf("rollback of an unknown route: %d %s, want 404", status, raw)
	}
	if got := e.api.get(r.ID); got.Version != 3 {
		t.Errorf("route after a failed rollback: version %d, want 3", got.Version)
	}
	e.servedBy(host, a.Name)

	// A rollback is checked like any change: rolling back to a version
	// whose host another route took since is a conflict, and nothing
	// changes.
	e.api.update(r.ID, 3, rtProxy("history2.proxyos.test", "off", b.URL))
	e.noRoute(host)
	other := e.api.create(rtProxy(host, "off", b.URL))
	status, raw = e.api.call(http.MethodPost, "/"+r.ID+"/rollback", map[string]int{"version": 1})
	if status != http.StatusConflict {
		t.Errorf("rollback to a version whose host is taken: %d %s, want 409", status, raw)
	}
	if got := e.api.get(r.ID); got.Version != 4 {
		t.Errorf("route after a conflicting rollback: version %d, want 4", got.Version)
	}
	e.servedBy("history2.proxyos.test", b.Name)
	e.api.delete(other.ID)
}

// rtTestDisable takes a route out of service with enabled false (its host
// falls through to the site's 404, its status is not live) and back in.
func rtTestDisable(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "disable", false)
	const host = "disable.proxyos.test"
	r := e.dash.create(rtProxy(host, "off", a.URL))
	e.servedBy(host, a.Name)

	off := e.dash.update(r.ID, 1, rtWith(rtProxy(host, "off", a.URL), "enabled", false))
	if off.Enabled || off.Status.Live {
		t.Fatalf("disabled route: %+v", off)
	}
	e.noRoute(host)
	if got := e.dash.get(r.ID); got.Enabled || got.Status.Live {
		t.Fatalf("GET disabled route: %+v", got)
	}

	// A disabled route still owns its host.
	status, raw := e.dash.call(http.MethodPost, "", rtProxy(host, "off", a.URL))
	if status != http.StatusConflict {
		t.Errorf("another route on a disabled route's host: %d %s, want 409", status, raw)
	}

	on := e.dash.update(r.ID, 2, rtProxy(host, "off", a.URL))
	if !on.Enabled || !on.Status.Live {
		t.Fatalf("re-enabled route: %+v", on)
	}
	e.servedBy(host, a.Name)
}
