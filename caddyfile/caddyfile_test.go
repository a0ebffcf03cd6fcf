package caddyfile

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// parseErr is an expected parse error: a substring naming the offending
// token and the line of Testfile it must point at.
type parseErr struct {
	msg  string
	line int
}

// checkErr asserts that err is the expected parse error, or no error when
// want is nil.
func checkErr(t *testing.T, err error, want *parseErr) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want.msg)
	}
	if !strings.Contains(err.Error(), want.msg) {
		t.Errorf("error %q does not contain %q", err, want.msg)
	}
	if pos := fmt.Sprintf("Testfile:%d", want.line); !strings.HasSuffix(err.Error(), pos) {
		t.Errorf("error %q does not end with the position %s", err, pos)
	}
}

func hours(n int) caddy.Duration { return caddy.Duration(time.Duration(n) * time.Hour) }

// appCases are the inputs of TestParseApp; FuzzParseApp uses them as seeds.
var appCases = []struct {
	name  string
	input string
	want  *proxyos.App
	err   *parseErr
}{
	{
		name:  "oidc providers add up",
		input: "proxyos {\n\tpassword_login off\n\toidc a {\n\t\tissuer https://a.example.com\n\t\tclient_id x\n\t\troles {\n\t\t\tadmin g1 g2\n\t\t\tadmin g3\n\t\t}\n\t\tauto_create off\n\t}\n\toidc b {\n\t\tissuer https://b.example.com\n\t\tclient_id y\n\t}\n}",
		want: &proxyos.App{PasswordLogin: new(bool), OIDC: []oidc.Provider{
			{Name: "a", Issuer: "https://a.example.com", ClientID: "x", Roles: map[string][]string{"admin": {"g1", "g2", "g3"}}},
			{Name: "b", Issuer: "https://b.example.com", ClientID: "y"},
		}},
	},
	{
		name:  "oidc without a name",
		input: "proxyos {\n\toidc {\n\t}\n}",
		err:   &parseErr{"wrong argument count", 2},
	},
	{
		name:  "oidc field given twice",
		input: "proxyos {\n\toidc a {\n\t\tclient_id x\n\t\tclient_id y\n\t}\n}",
		err:   &parseErr{"oidc a: client_id: given more than once", 4},
	},
	{
		name:  "oidc auto_create not on or off",
		input: "proxyos {\n\toidc a {\n\t\tauto_create yes\n\t}\n}",
		err:   &parseErr{"auto_create: want on or off, not 'yes'", 3},
	},
	{
		name:  "oidc unknown subdirective",
		input: "proxyos {\n\toidc a {\n\t\tclient_sercet x\n\t}\n}",
		err:   &parseErr{"unrecognized subdirective 'client_sercet'", 3},
	},
	{
		name:  "secret given twice",
		input: "proxyos {\n\tsecret aaaaaaaaaaaaaaaaaaaa\n\tsecret bbbbbbbbbbbbbbbbbbbb\n}",
		err:   &parseErr{"secret: given more than once", 3},
	},
	{
		name:  "url given twice",
		input: "proxyos {\n\turl https://a.example.com\n\turl https://b.example.com\n}",
		err:   &parseErr{"url: given more than once", 3},
	},
	{
		name:  "bare option",
		input: `proxyos`,
		want:  &proxyos.App{},
	},
	{
		name:  "empty block",
		input: "proxyos {\n}",
		want:  &proxyos.App{},
	},
	{
		name: "every subdirective",
		input: `proxyos {
	secret {env.PROXYOS_SECRET}
	previous_secrets {env.PROXYOS_OLD_SECRET} "old secret with spaces"
	database sqlite /var/lib/proxyos/proxyos.db
	url https://proxy.example.com
	session_ttl 7d
	session_idle 90m
	cookie_domain example.com
	audit_retention 30d
}`,
		want: &proxyos.App{
			Secret:          "{env.PROXYOS_SECRET}",
			PreviousSecrets: []string{"{env.PROXYOS_OLD_SECRET}", "old secret with spaces"},
			Database:        &proxyos.Database{Driver: "sqlite", DSN: "/var/lib/proxyos/proxyos.db"},
			URL:             "https://proxy.example.com",
			SessionTTL:      hours(168),
			SessionIdle:     caddy.Duration(90 * time.Minute),
			CookieDomain:    "example.com",
			AuditRetention:  hours(30 * 24),
		},
	},
	{
		name:  "audit_retention",
		input: "proxyos {\n\taudit_retention 2160h\n}",
		want:  &proxyos.App{AuditRetention: hours(2160)},
	},
	{
		name:  "audit_retention without value",
		input: "proxyos {\n\taudit_retention\n}",
		err:   &parseErr{"after 'audit_retention'", 2},
	},
	{
		name:  "audit_retention negative",
		input: "proxyos {\n\taudit_retention -1h\n}",
		err:   &parseErr{"audit_retention: must be positive", 2},
	},
	{
		name:  "audit_retention given twice",
		input: "proxyos {\n\taudit_retention 1h\n\taudit_retention 2h\n}",
		err:   &parseErr{"audit_retention: given more than once", 3},
	},
	{
		name: "previous_secrets accumulate over lines",
		input: `proxyos {
	previous_secrets a b
	previous_secrets c
}`,
		want: &proxyos.App{PreviousSecrets: []string{"a", "b", "c"}},
	},
	{
		name: "database postgres",
		input: `proxyos {
	database postgres "postgres://proxyos:{env.PGPASSWORD}@db/proxyos?sslmode=disable"
}`,
		want: &proxyos.App{Database: &proxyos.Database{
			Driver: "postgres",
			DSN:    "postgres://proxyos:{env.PGPASSWORD}@db/proxyos?sslmode=disable",
		}},
	},
	{
		name:  "argument after the option name",
		input: `proxyos extra`,
		err:   &parseErr{"after 'extra'", 1},
	},
	{
		name:  "argument after the option name before a block",
		input: "proxyos extra {\n\turl https://proxy.example.com\n}",
		err:   &parseErr{"after 'extra'", 1},
	},
	{
		name:  "unknown subdirective",
		input: "proxyos {\n\tsecrets x\n}",
		err:   &parseErr{"unrecognized subdirective 'secrets'", 2},
	},
	{
		name:  "block after a subdirective",
		input: "proxyos {\n\tsecret x {\n\t}\n}",
		err:   &parseErr{"unrecognized subdirective '{'", 2},
	},
	{
		name:  "secret without value",
		input: "proxyos {\n\tsecret\n}",
		err:   &parseErr{"after 'secret'", 2},
	},
	{
		name:  "secret with two values",
		input: "proxyos {\n\tsecret one two\n}",
		err:   &parseErr{"after 'two'", 2},
	},
	{
		name:  "previous_secrets without value",
		input: "proxyos {\n\tsecret s\n\tprevious_secrets\n}",
		err:   &parseErr{"after 'previous_secrets'", 3},
	},
	{
		name:  "database without arguments",
		input: "proxyos {\n\tdatabase\n}",
		err:   &parseErr{"after 'database'", 2},
	},
	{
		name:  "database without path",
		input: "proxyos {\n\tdatabase sqlite\n}",
		err:   &parseErr{"after 'sqlite'", 2},
	},
	{
		name:  "database with an extra argument",
		input: "proxyos {\n\tdatabase sqlite /a.db /b.db\n}",
		err:   &parseErr{"after '/b.db'", 2},
	},
	{
		name:  "database with an unknown driver",
		input: "proxyos {\n\tdatabase mysql root@db/proxyos\n}",
		err:   &parseErr{"database: unknown driver 'mysql'", 2},
	},
	{
		name:  "database driver is case-sensitive",
		input: "proxyos {\n\tdatabase SQLite /a.db\n}",
		err:   &parseErr{"database: unknown driver 'SQLite'", 2},
	},
	{
		name:  "url without value",
		input: "proxyos {\n\turl\n}",
		err:   &parseErr{"after 'url'", 2},
	},
	{
		name:  "url with two values",
		input: "proxyos {\n\turl https://a.example.com https://b.example.com\n}",
		err:   &parseErr{"after 'https://b.example.com'", 2},
	},
	{
		name:  "session_ttl without value",
		input: "proxyos {\n\tsession_ttl\n}",
		err:   &parseErr{"after 'session_ttl'", 2},
	},
	{
		name:  "session_ttl with two values",
		input: "proxyos {\n\tsession_ttl 1h 2h\n}",
		err:   &parseErr{"after '2h'", 2},
	},
	{
		name:  "session_ttl not a duration",
		input: "proxyos {\n\tsession_ttl forever\n}",
		err:   &parseErr{`session_ttl: time: invalid duration "forever"`, 2},
	},
	{
		name:  "session_ttl zero",
		input: "proxyos {\n\tsession_ttl 0s\n}",
		err:   &parseErr{"session_ttl: must be positive", 2},
	},
	{
		name:  "session_ttl negative",
		input: "proxyos {\n\tsession_ttl -1h\n}",
		err:   &parseErr{"session_ttl: must be positive", 2},
	},
	{
		name:  "session_idle without value",
		input: "proxyos {\n\tsession_idle\n}",
		err:   &parseErr{"after 'session_idle'", 2},
	},
	{
		name:  "session_idle not a duration",
		input: "proxyos {\n\tsession_ttl 1h\n\tsession_idle 5 minutes\n}",
		err:   &parseErr{"after 'minutes'", 3},
	},
	{
		name:  "session_idle bad unit",
		input: "proxyos {\n\tsession_idle 5w\n}",
		err:   &parseErr{`session_idle: time: unknown unit "w" in duration "5w"`, 2},
	},
	{
		name:  "session_idle negative",
		input: "proxyos {\n\tsession_idle -30m\n}",
		err:   &parseErr{"session_idle: must be positive", 2},
	},
	{
		name:  "cookie_domain without value",
		input: "proxyos {\n\tcookie_domain\n}",
		err:   &parseErr{"after 'cookie_domain'", 2},
	},
	{
		name:  "cookie_domain with two values",
		input: "proxyos {\n\tcookie_domain a.example b.example\n}",
		err:   &parseErr{"after 'b.example'", 2},
	}, {
		name:  "upstream networks and resolvers",
		input: "proxyos {\n\tupstream_networks {\n\t\tallow 169.254.10.0/24 127.0.0.1\n\t\tdeny 10.0.0.0/8\n\t\tallow ::1\n\t}\n\tupstream_resolvers 10.0.0.53 10.0.0.54:5353\n}",
		want: &proxyos.App{
			UpstreamNetworks:  &proxyos.UpstreamNetworks{Allow: []string{"169.254.10.0/24", "127.0.0.1", "::1"}, Deny: []string{"10.0.0.0/8"}},
			UpstreamResolvers: []string{"10.0.0.53", "10.0.0.54:5353"},
		},
	},
	{
		name:  "upstream_networks with an argument",
		input: "proxyos {\n\tupstream_networks all {\n\t}\n}",
		err:   &parseErr{"after 'all'", 2},
	},
	{
		name:  "upstream_networks with an unknown subdirective",
		input: "proxyos {\n\tupstream_networks {\n\t\tpermit 10.0.0.0/8\n\t}\n}",
		err:   &parseErr{"unrecognized subdirective 'permit'", 3},
	},
	{
		name:  "upstream_networks allow without networks",
		input: "proxyos {\n\tupstream_networks {\n\t\tallow\n\t}\n}",
		err:   &parseErr{"after 'allow'", 3},
	},
	{
		name:  "upstream_resolvers without servers",
		input: "proxyos {\n\tupstream_resolvers\n}",
		err:   &parseErr{"after 'upstream_resolvers'", 2},
	},
	{
		name:  "error_page body and file",
		input: "proxyos {\n\terror_page 502 503 {\n\t\tfile /srv/down.html\n\t}\n\terror_page 404 {\n\t\tbody <h1>no</h1>\n\t}\n}",
		want: &proxyos.App{ErrorPages: map[string]*proxyos.ErrorPage{
			"502": {File: "/srv/down.html"}, "503": {File: "/srv/down.html"}, "404": {Body: "<h1>no</h1>"},
		}},
	},
	{
		name:  "error_page without statuses",
		input: "proxyos {\n\terror_page {\n\t\tbody x\n\t}\n}",
		err:   &parseErr{"after 'error_page'", 2},
	},
	{
		name:  "error_page without body or file",
		input: "proxyos {\n\terror_page 502 {\n\t}\n}",
		err:   &parseErr{"error_page: give body or file", 3},
	},
	{
		name:  "error_page with both",
		input: "proxyos {\n\terror_page 502 {\n\t\tbody x\n\t\tfile y\n\t}\n}",
		err:   &parseErr{"error_page: give body or file", 5},
	},
	{
		name:  "error_page with an unknown subdirective",
		input: "proxyos {\n\terror_page 502 {\n\t\tinline x\n\t}\n}",
		err:   &parseErr{"unrecognized subdirective 'inline'", 3},
	},
	{
		name:  "error_page body with two arguments",
		input: "proxyos {\n\terror_page 502 {\n\t\tbody x y\n\t}\n}",
		err:   &parseErr{"after 'y'", 3},
	},
	{
		name:  "error_page of another status",
		input: "proxyos {\n\terror_page 500 {\n\t\tbody x\n\t}\n}",
		err:   &parseErr{`error_page: "500" is not a status`, 4},
	},
	{
		name:  "error_page of one status twice",
		input: "proxyos {\n\terror_page 502 {\n\t\tbody x\n\t}\n\terror_page 502 {\n\t\tbody y\n\t}\n}",
		err:   &parseErr{"error_page: 502 given more than once", 7},
	},
	{
		name:  "on_demand_limit",
		input: "proxyos {\n\ton_demand_limit 5 1d\n}",
		want:  &proxyos.App{OnDemandLimit: &proxyos.OnDemandLimit{Names: 5, Interval: hours(24)}},
	},
	{
		name:  "on_demand_limit without arguments",
		input: "proxyos {\n\ton_demand_limit\n}",
		err:   &parseErr{"after 'on_demand_limit'", 2},
	},
	{
		name:  "on_demand_limit without interval",
		input: "proxyos {\n\ton_demand_limit 20\n}",
		err:   &parseErr{"after '20'", 2},
	},
	{
		name:  "on_demand_limit with an extra argument",
		input: "proxyos {\n\ton_demand_limit 20 1h per_route\n}",
		err:   &parseErr{"after 'per_route'", 2},
	},
	{
		name:  "on_demand_limit names not a number",
		input: "proxyos {\n\ton_demand_limit many 1h\n}",
		err:   &parseErr{"on_demand_limit: 'many' is not a number of names of at least 1", 2},
	},
	{
		name:  "on_demand_limit of zero names",
		input: "proxyos {\n\ton_demand_limit 0 1h\n}",
		err:   &parseErr{"on_demand_limit: '0' is not a number of names of at least 1", 2},
	},
	{
		name:  "on_demand_limit of negative names",
		input: "proxyos {\n\ton_demand_limit -5 1h\n}",
		err:   &parseErr{"on_demand_limit: '-5' is not a number of names of at least 1", 2},
	},
	{
		name:  "on_demand_limit interval not a duration",
		input: "proxyos {\n\ton_demand_limit 20 hourly\n}",
		err:   &parseErr{`on_demand_limit: time: invalid duration "hourly"`, 2},
	},
	{
		name:  "on_demand_limit interval zero",
		input: "proxyos {\n\ton_demand_limit 20 0s\n}",
		err:   &parseErr{"on_demand_limit: interval must be positive", 2},
	},
	{
		name:  "on_demand_limit interval negative",
		input: "proxyos {\n\ton_demand_limit 20 -1h\n}",
		err:   &parseErr{"on_demand_limit: interval must be positive", 2},
	},
	{
		name:  "on_demand_limit with a block",
		input: "proxyos {\n\ton_demand_limit 20 1h {\n\t}\n}",
		err:   &parseErr{"unrecognized subdirective '{'", 2},
	},
	{
		name:  "on_demand_limit given twice",
		input: "proxyos {\n\ton_demand_limit 20 1h\n\ton_demand_limit 40 1h\n}",
		err:   &parseErr{"on_demand_limit: given more than once", 3},
	},
}

func TestParseApp(t *testing.T) {
	for _, tt := range appCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAppJSON(t, caddyfile.NewTestDispenser(tt.input))
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// parseAppJSON runs parseApp and decodes the app JSON it produces,
// rejecting unknown fields.
func parseAppJSON(t *testing.T, d *caddyfile.Dispenser) (*proxyos.App, error) {
	t.Helper()
	val, err := parseApp(d, nil)
	if err != nil {
		return nil, err
	}
	app, ok := val.(httpcaddyfile.App)
	if !ok {
		t.Fatalf("parseApp returned %T, want httpcaddyfile.App", val)
	}
	if app.Name != "proxyos" {
		t.Fatalf("app name %q, want proxyos", app.Name)
	}
	got := new(proxyos.App)
	dec := json.NewDecoder(strings.NewReader(string(app.Value)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(got); err != nil {
		t.Fatalf("decoding %s: %v", app.Value, err)
	}
	return got, nil
}

// dashboardCases are the inputs of TestParseDashboard.
var dashboardCases = []struct {
	name  string
	input string
	err   *parseErr
}{
	{name: "bare", input: `proxyos_dashboard`},
	{name: "empty block", input: "proxyos_dashboard {\n}"},
	{
		name:  "argument",
		input: `proxyos_dashboard /admin`,
		err:   &parseErr{"after '/admin'", 1},
	},
	{
		name:  "subdirective",
		input: "proxyos_dashboard {\n\troles admin\n}",
		err:   &parseErr{"unrecognized subdirective 'roles'", 2},
	},
}

func TestParseDashboard(t *testing.T) {
	for _, tt := range dashboardCases {
		t.Run(tt.name, func(t *testing.T) {
			h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tt.input)}
			got, err := parseDashboard(h)
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if _, ok := got.(*proxyos.Dashboard); !ok {
				t.Fatalf("parseDashboard returned %T, want *proxyos.Dashboard", got)
			}
			if b, err := json.Marshal(got); err != nil || string(b) != "{}" {
				t.Errorf("dashboard JSON %s (%v), want {}", b, err)
			}
		})
	}
}

// authCases are the inputs of TestParseAuth; FuzzParseAuth uses them as
// seeds.
var authCases = []struct {
	name  string
	input string
	want  *proxyos.Auth
	err   *parseErr
}{
	{name: "bare", input: `proxyos_auth`, want: &proxyos.Auth{}},
	{name: "empty block", input: "proxyos_auth {\n}", want: &proxyos.Auth{}},
	{
		name:  "roles",
		input: "proxyos_auth {\n\troles admin operator\n}",
		want:  &proxyos.Auth{Roles: []string{"admin", "operator"}},
	},
	{
		name:  "roles accumulate over lines",
		input: "proxyos_auth {\n\troles admin\n\troles viewer\n}",
		want:  &proxyos.Auth{Roles: []string{"admin", "viewer"}},
	},
	{
		name:  "argument",
		input: `proxyos_auth admin`,
		err:   &parseErr{"after 'admin'", 1},
	},
	{
		name:  "unknown subdirective",
		input: "proxyos_auth {\n\trole admin\n}",
		err:   &parseErr{"unrecognized subdirective 'role'", 2},
	},
	{
		name:  "roles without value",
		input: "proxyos_auth {\n\troles\n}",
		err:   &parseErr{"after 'roles'", 2},
	},
	{
		name:  "unknown role",
		input: "proxyos_auth {\n\troles admin\n\troles operator root\n}",
		err:   &parseErr{"roles: 'root' is not a role", 3},
	},
	{
		name:  "roles are case-sensitive",
		input: "proxyos_auth {\n\troles Admin\n}",
		err:   &parseErr{"roles: 'Admin' is not a role", 2},
	},
	{
		name: "rules in order, arguments told apart by shape",
		input: "proxyos_auth {\n\tallow /health\n\tallow 192.168.0.0/16 10.0.0.1\n\tdeny /admin/*\n" +
			"\tallow /hooks/* POST PUT\n\tlogin *.php GET ::1\n\tdefault deny\n\temails Alice@example.com\n\tgroups ops \"site admins\"\n\tgroups sre\n}",
		want: &proxyos.Auth{Emails: []string{"Alice@example.com"}, Groups: []string{"ops", "site admins", "sre"}, Default: "deny", Rules: []access.Rule{
			{Action: "allow", Path: "/health"},
			{Action: "allow", CIDRs: []string{"192.168.0.0/16", "10.0.0.1"}},
			{Action: "deny", Path: "/admin/*"},
			{Action: "allow", Path: "/hooks/*", Methods: []string{"POST", "PUT"}},
			{Action: "login", Path: "*.php", Methods: []string{"GET"}, CIDRs: []string{"::1"}},
		}},
	},
	{
		name:  "a bare action matches everything",
		input: "proxyos_auth {\n\tdeny\n}",
		want:  &proxyos.Auth{Rules: []access.Rule{{Action: "deny"}}},
	},
	{
		name:  "two paths in a rule",
		input: "proxyos_auth {\n\tallow /a /b\n}",
		err:   &parseErr{"one path per rule", 2},
	},
	{
		name:  "bad CIDR",
		input: "proxyos_auth {\n\tallow /a\n\tallow lan\n}",
		err:   &parseErr{"allow: cidrs[0]: \"lan\" is not an IP address", 3},
	},
	{
		name:  "dot-dot path",
		input: "proxyos_auth {\n\tallow /health/../admin\n}",
		err:   &parseErr{"allow: path:", 2},
	},
	{
		name:  "lower-case method reads as a CIDR",
		input: "proxyos_auth {\n\tdeny get\n}",
		err:   &parseErr{"is not an IP address", 2},
	},
	{
		name:  "bad default",
		input: "proxyos_auth {\n\tdefault open\n}",
		err:   &parseErr{"default: 'open' is not an action", 2},
	},
	{
		name:  "email without @",
		input: "proxyos_auth {\n\temails alice\n}",
		err:   &parseErr{"emails: 'alice' is not an email address", 2},
	},
}

func TestParseAuth(t *testing.T) {
	for _, tt := range authCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthJSON(t, caddyfile.NewTestDispenser(tt.input))
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// parseAuthJSON runs parseAuth and sends the handler through its JSON
// form, rejecting unknown fields, as Caddy does when it loads the config.
func parseAuthJSON(t *testing.T, d *caddyfile.Dispenser) (*proxyos.Auth, error) {
	t.Helper()
	h, err := parseAuth(httpcaddyfile.Helper{Dispenser: d})
	if err != nil {
		return nil, err
	}
	if _, ok := h.(*proxyos.Auth); !ok {
		t.Fatalf("parseAuth returned %T, want *proxyos.Auth", h)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("encoding %+v: %v", h, err)
	}
	got := new(proxyos.Auth)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(got); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("JSON round trip changed the handler: %+v became %+v", h, got)
	}
	return got, nil
}

// TestOneArg checks the single-argument helper on its own: the value is
// stored only when there is exactly one argument.
func TestOneArg(t *testing.T) {
	for _, tt := range []struct {
		name  string
		input string
		want  string
		err   *parseErr
	}{
		{name: "one", input: `url https://x.example.com`, want: "https://x.example.com"},
		{name: "quoted", input: `secret "a b {c}"`, want: "a b {c}"},
		{name: "none", input: `url`, err: &parseErr{"after 'url'", 1}},
		{name: "block instead of value", input: "url {\n}", err: &parseErr{"after 'url'", 1}},
		{name: "two", input: "\n\nurl a b", err: &parseErr{"after 'b'", 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.input)
			d.Next()
			got := "unchanged"
			err := oneArg(d, &got)
			checkErr(t, err, tt.err)
			if tt.err == nil && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDurationArg checks the duration helper on its own, including the
// day unit of caddy.ParseDuration.
func TestDurationArg(t *testing.T) {
	for _, tt := range []struct {
		name  string
		input string
		want  caddy.Duration
		err   *parseErr
	}{
		{name: "hours", input: `session_ttl 12h`, want: hours(12)},
		{name: "days", input: `session_ttl 2d`, want: hours(48)},
		{name: "mixed", input: `session_idle 1h30m`, want: caddy.Duration(90 * time.Minute)},
		{name: "none", input: `session_ttl`, err: &parseErr{"after 'session_ttl'", 1}},
		{name: "two", input: `session_ttl 1h 2h`, err: &parseErr{"after '2h'", 1}},
		{name: "no unit", input: `session_idle 30`, err: &parseErr{`session_idle: time: missing unit in duration "30"`, 1}},
		{name: "garbage", input: "\nsession_ttl soon", err: &parseErr{`session_ttl: time: invalid duration "soon"`, 2}},
		{name: "zero", input: `session_idle 0h`, err: &parseErr{"session_idle: must be positive", 1}},
		{name: "negative", input: `session_ttl -2d`, err: &parseErr{"session_ttl: must be positive", 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.input)
			d.Next()
			got := caddy.Duration(-1)
			err := durationArg(d, &got)
			checkErr(t, err, tt.err)
			if tt.err == nil && got != tt.want {
				t.Errorf("got %v, want %v", time.Duration(got), time.Duration(tt.want))
			}
			if tt.err != nil && got != -1 {
				t.Errorf("destination changed to %v on error", time.Duration(got))
			}
		})
	}
}

// TestParseAppTwice checks that a second proxyos block is refused instead
// of silently replacing the first (and, with it, the secret).
func TestParseAppTwice(t *testing.T) {
	first, err := parseApp(caddyfile.NewTestDispenser("proxyos {\n\tsecret aaaaaaaaaaaaaaaaaaaa\n}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseApp(caddyfile.NewTestDispenser("proxyos {\n\turl https://a.example.com\n}"), first)
	checkErr(t, err, &parseErr{"option given more than once", 1})
}

func TestParseRoutes(t *testing.T) {
	tests := []struct {
		name  string
		input string
		err   *parseErr
	}{
		{name: "bare", input: "proxyos_routes"},
		{name: "argument", input: "proxyos_routes example.com", err: &parseErr{"after 'example.com'", 1}},
		{name: "block", input: "proxyos_routes {\n\tfoo\n}", err: &parseErr{"unrecognized subdirective 'foo'", 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoutes(httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(tt.input)})
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if rh, ok := got.(*proxyos.RoutesHandler); !ok || rh.HTTPSPort != 0 {
				t.Fatalf("parseRoutes returned %#v, want a *proxyos.RoutesHandler without https_port", got)
			}
		})
	}
}
