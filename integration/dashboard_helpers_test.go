package integration

import (
	"fmt"
	"strings"
	"testing"
)

// dashboardConfig returns a Caddyfile with the dashboard on dashPort, a
// site behind proxyos_auth on appPort that echoes the identity it gets,
// and extra lines inside the proxyos global option.
func dashboardConfig(admin string, dashPort, appPort int, appExtra, proxyosExtra string) string {
	return fmt.Sprintf(`{
	admin %[1]s
	default_bind 127.0.0.1
	skip_install_trust
	persist_config off
	proxyos {
		url http://localhost:%[2]d
		%[5]s
	}
}

http://localhost:%[2]d {
	proxyos_dashboard
}

http://localhost:%[3]d {
	proxyos_auth {
		%[4]s
	}
	respond "user={http.auth.user.id} email={http.auth.user.email} role={http.auth.user.role} hdr={header.X-Proxyos-Email}" 200
}
`, admin, dashPort, appPort, appExtra, proxyosExtra)
}

// dashEnv is a running Caddy with dashboardConfig's sites (the dashboard
// and an app behind proxyos_auth echoing the identity it gets) and, unless
// started with dashNoAdmin, a first admin logged in on the dashboard.
type dashEnv struct {
	inst     *instance
	DashPort int
	AppPort  int
	Base     string // the dashboard, http://localhost:<DashPort>
	AppBase  string // the app, http://localhost:<AppPort>

	admin   *client // the dashboard, logged in as the first admin; nil with dashNoAdmin
	adminCk string  // the admin's session cookie value

	proxyos       string // lines of the proxyos global option
	adminEmail    string // "" with dashNoAdmin
	adminPassword string
	env           []string
}

// dashOption changes how startDashboard starts its environment.
type dashOption func(*dashEnv)

// dashProxyos adds lines to the proxyos global option (joined on lines of
// their own).
func dashProxyos(lines ...string) dashOption {
	return func(e *dashEnv) { e.proxyos = strings.Join(lines, "\n\t\t") }
}

// dashAdmin sets up the first admin with this email and password instead
// of admin@example.com and "admin password".
func dashAdmin(email, password string) dashOption {
	return func(e *dashEnv) { e.adminEmail, e.adminPassword = email, password }
}

// dashNoAdmin leaves setup to the test: the instance starts with no user.
func dashNoAdmin() dashOption {
	return func(e *dashEnv) { e.adminEmail = "" }
}

// dashEnvVars adds variables to Caddy's environment.
func dashEnvVars(vars ...string) dashOption {
	return func(e *dashEnv) { e.env = append(e.env, vars...) }
}

// startDashboard starts Caddy with dashboardConfig on ports the harness
// picks (again, should one be taken) and sets up the first admin.
func startDashboard(t testing.TB, opts ...dashOption) *dashEnv {
	t.Helper()
	e := &dashEnv{inst: newInstance(t), adminEmail: "admin@example.com", adminPassword: "admin password"}
	for _, o := range opts {
		o(e)
	}
	e.inst.Env = e.env
	e.inst.Configure(func() string {
		return dashboardConfig(e.inst.Admin, e.inst.Port("dash"), e.inst.Port("app"), "", e.proxyos)
	})
	e.inst.Start()
	e.DashPort, e.AppPort = e.inst.Port("dash"), e.inst.Port("app")
	e.Base = fmt.Sprintf("http://localhost:%d", e.DashPort)
	e.AppBase = fmt.Sprintf("http://localhost:%d", e.AppPort)
	if e.adminEmail != "" {
		e.admin = newClient(t, e.Base)
		e.adminCk = e.admin.Setup(e.inst, e.adminEmail, e.adminPassword)
	}
	return e
}

// reconfigure replaces the lines of the proxyos global option for the
// next start (Restart, or Start after Stop or Kill).
func (e *dashEnv) reconfigure(proxyos ...string) {
	dashProxyos(proxyos...)(e)
}
