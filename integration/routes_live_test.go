package integration

import (
	"strings"
	"testing"
)

// rtSecret is an environment variable of the Caddy process that no route
// may ever reveal.
const rtSecret = "rt-secret-6f1c0e2a"

// TestRouteLive runs the route tests that share one Caddy: the API, each
// option with real traffic, history, enable/disable, a websocket across
// other changes and per-route TLS. At the end it checks that none of the
// changes reloaded Caddy's config.
func TestRouteLive(t *testing.T) {
	t.Parallel()
	// debug: certificate refusals are logged at debug level.
	e := rtStart(t, "debug", "PROXYOS_RT_SECRET="+rtSecret)
	tests := []struct {
		name string
		run  func(*testing.T, *rtEnv)
	}{
		{"CRUD/dashboard", func(t *testing.T, e *rtEnv) { rtTestCRUD(t, e, e.dash, "crud-dash") }},
		{"CRUD/admin", func(t *testing.T, e *rtEnv) { rtTestCRUD(t, e, e.api, "crud-admin") }},
		{"Kinds", rtTestKinds},
		{"Validation", rtTestValidation},
		{"HostConflict", rtTestHostConflict},
		{"NotJSON", rtTestNotJSON},
		{"Roles", rtTestRoles},
		{"HostMatching", rtTestHostMatching},
		{"RoundRobin", rtTestRoundRobin},
		{"HealthCheck", rtTestHealthCheck},
		{"UpstreamTLS", rtTestUpstreamTLS},
		{"Headers", rtTestHeaders},
		{"NoSessionLeak", rtTestNoSessionLeak},
		{"HSTS", rtTestHSTS},
		{"ForceHTTPS", rtTestForceHTTPS},
		{"Compress", rtTestCompress},
		{"StripPrefix", rtTestStripPrefix},
		{"Access", rtTestAccess},
		{"Redirect", rtTestRedirect},
		{"StaticNoPlaceholders", rtTestStaticNoPlaceholders},
		{"RequireLogin", rtTestRequireLogin},
		{"HistoryRollback", rtTestHistoryRollback},
		{"Disable", rtTestDisable},
		{"WebsocketSurvivesOtherChanges", rtTestWebsocket},
		{"NoDroppedRequests", rtTestNoDroppedRequests},
		{"TLSInternal", rtTestTLSInternal},
		{"TLSUnknownHostRefused", rtTestTLSUnknownHost},
		{"TLSOff", rtTestTLSOff},
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				te := *e
				te.t = t
				te.dash.t, te.api.t = t, t
				tc.run(t, &te)
			})
		}
	})

	// Every change above went live without a config reload: Caddy loaded
	// its config once, at start-up, and the proxyos app started once.
	log := e.inst.Log()
	if n := rtCount(log, "serving initial configuration"); n != 1 {
		t.Errorf("log has %d \"serving initial configuration\" lines, want 1", n)
	}
	for _, reload := range []string{`"load complete"`, `"config is unchanged"`, `"msg":"proxyos started"`} {
		want := 0
		if reload == `"msg":"proxyos started"` {
			want = 1
		}
		if n := rtCount(log, reload); n != want {
			t.Errorf("log has %d %s lines, want %d: route changes must not reload the config", n, reload, want)
		}
	}
	if strings.Contains(log, rtSecret) {
		t.Errorf("the Caddy log contains the value of PROXYOS_RT_SECRET")
	}
}
