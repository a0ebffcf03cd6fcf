package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// doctorRun runs `caddy proxyos doctor --json` against the admin
// endpoint admin with more arguments, and returns the report and the exit
// status.
func doctorRun(t testing.TB, admin string, args ...string) (doctor.Report, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(caddyBin, append([]string{"proxyos", "doctor", "--json", "--address", admin}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("caddy proxyos doctor: %v", err)
	}
	var rep doctor.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("caddy proxyos doctor (exit %d): not JSON: %v\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	return rep, code, stdout.String()
}

// wantFinding fails unless rep has a finding id of severity sev whose
// saw contains each of the texts; it returns the finding.
func wantFinding(t testing.TB, rep doctor.Report, id string, sev doctor.Severity, texts ...string) doctor.Finding {
	t.Helper()
	var other []string // findings of id and sev that miss a text
	for _, f := range rep.Findings {
		if f.ID != id || f.Severity != sev {
			continue
		}
		if slices.ContainsFunc(texts, func(s string) bool { return !strings.Contains(f.Saw, s) }) {
			other = append(other, f.Saw)
			continue
		}
		if sev != doctor.OK && (f.Why == "" || f.Fix == "") {
			t.Errorf("finding %s has no why or fix: %+v", id, f)
		}
		return f
	}
	if len(other) > 0 {
		t.Errorf("finding %s: saw %q, want one to mention %q", id, other, texts)
		return doctor.Finding{}
	}
	t.Fatalf("no %s finding %s in:\n%s", sev, id, reportText(rep))
	return doctor.Finding{}
}

func reportText(rep doctor.Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  %s %s: %s\n", f.Severity, f.ID, f.Saw)
	}
	return b.String()
}

// TestDoctorHealthy checks that the doctor finds nothing wrong with a
// well configured instance and exits 0, and that its report for people
// names each finding.
func TestDoctorHealthy(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	rep, code, _ := doctorRun(t, e.inst.Admin)
	if code != 0 || rep.Worst() != doctor.OK {
		t.Fatalf("exit %d, want 0:\n%s", code, reportText(rep))
	}
	for _, id := range []string{"url", "url_resolves", "url_site", "dashboard_hosts", "secret_source", "secret_strength", "secret_file",
		"unknown_key", "database", "migrations", "clock_skew", "on_demand", "route_login", "stream_overlap", "cert_failing", "cert_expiry", "admin_listen",
		"url_reachable", "url_redirects", "login_page", "cookie_secure", "scheme_mismatch", "host_mismatch"} {
		wantFinding(t, rep, id, doctor.OK)
	}
	out, err := exec.Command(caddyBin, "proxyos", "doctor", "--address", e.inst.Admin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok      url_site: ") || !strings.Contains(string(out), "0 problems, 0 warnings") || strings.Contains(string(out), "\x1b[") {
		t.Errorf("report for people (not a terminal: no colours), err %v:\n%s", err, out)
	}
}

// TestDoctorFindings provokes each finding of the doctor with a real
// misconfigured Caddy and checks that the doctor reports it with the
// exit status of its severity.
func TestDoctorFindings(t *testing.T) {
	t.Parallel()
	dash := func(inst *instance) int { return inst.Port("dash") }
	front := func(inst *instance) int { return inst.Port("front") }

	cases := []struct {
		name   string
		config func(inst *instance) (global, proxyos string, sites []string)
		args   func(inst *instance) []string
		id     string
		sev    doctor.Severity
		saw    func(inst *instance) []string
	}{{
		name: "url unset",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "url", sev: doctor.Warning,
	}, {
		name: "dashboard by IP and a second name without url",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{fmt.Sprintf("http://localhost:%[1]d, http://127.0.0.1:%[1]d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "dashboard_hosts", sev: doctor.Warning,
		saw: func(*instance) []string { return []string{"localhost", "127.0.0.1"} },
	}, {
		name: "url does not resolve",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://proxyos-doctor.invalid:%d", dash(inst)),
				[]string{fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "url_resolves", sev: doctor.Problem, saw: func(*instance) []string { return []string{"proxyos-doctor.invalid"} },
	}, {
		name: "site address does not match url: an empty page",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://localhost:%d", dash(inst)),
				[]string{fmt.Sprintf("http://127.0.0.1:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "url_site", sev: doctor.Problem, saw: func(*instance) []string { return []string{"no site", "localhost"} },
	}, {
		name: "the browser gets an empty page at url",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://localhost:%d", dash(inst)),
				[]string{fmt.Sprintf("http://127.0.0.1:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "login_page", sev: doctor.Problem, saw: func(*instance) []string { return []string{"not the dashboard's login page"} },
	}, {
		name: "url says https, the site is plain HTTP",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url https://localhost:%d", dash(inst)),
				[]string{fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "url_site", sev: doctor.Problem, saw: func(*instance) []string { return []string{"Caddy serves http", "says https"} },
	}, {
		name: "nothing listens at url",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://localhost:%d", inst.Port("nothing")),
				[]string{fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "url_reachable", sev: doctor.Problem, saw: func(*instance) []string { return []string{"refused"} },
	}, {
		name: "a proxy rewrites the Host: redirect loop",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://localhost:%d", front(inst)), []string{
				fmt.Sprintf("http://localhost:%d {\n\treverse_proxy 127.0.0.1:%[2]d {\n\t\theader_up Host 127.0.0.1:%[2]d\n\t}\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://127.0.0.1:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		id: "url_redirects", sev: doctor.Problem, saw: func(*instance) []string { return []string{"loop"} },
	}, {
		name: "a proxy rewrites the Host",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{
				fmt.Sprintf("http://localhost:%d {\n\treverse_proxy 127.0.0.1:%[2]d {\n\t\theader_up Host 127.0.0.1:%[2]d\n\t}\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://127.0.0.1:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		args: func(inst *instance) []string {
			return []string{"--url", fmt.Sprintf("http://localhost:%d", front(inst))}
		},
		id: "host_mismatch", sev: doctor.Problem,
		saw: func(inst *instance) []string { return []string{fmt.Sprintf("Host 127.0.0.1:%d", dash(inst))} },
	}, {
		name: "a trusted proxy says https on plain HTTP: Secure cookie dropped",
		config: func(inst *instance) (string, string, []string) {
			return "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}", "", []string{
				fmt.Sprintf("http://localhost:%d {\n\treverse_proxy 127.0.0.1:%d {\n\t\theader_up X-Forwarded-Proto https\n\t}\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		args: func(inst *instance) []string {
			return []string{"--url", fmt.Sprintf("http://localhost:%d", front(inst))}
		},
		id: "cookie_secure", sev: doctor.Problem, saw: func(*instance) []string { return []string{"would be Secure"} },
	}, {
		name: "an untrusted proxy terminates TLS",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{
				fmt.Sprintf("https://localhost:%d {\n\ttls internal\n\treverse_proxy 127.0.0.1:%d\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		args: func(inst *instance) []string {
			return []string{"--url", fmt.Sprintf("https://localhost:%d", front(inst))}
		},
		id: "proxy_untrusted", sev: doctor.Problem,
		saw: func(*instance) []string { return []string{"X-Forwarded-Proto: https", "127.0.0.1"} },
	}, {
		name: "the dashboard's certificate is not trusted here",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{
				fmt.Sprintf("https://localhost:%d {\n\ttls internal\n\treverse_proxy 127.0.0.1:%d\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		args: func(inst *instance) []string {
			return []string{"--url", fmt.Sprintf("https://localhost:%d", front(inst))}
		},
		id: "tls_certificate", sev: doctor.Warning, saw: func(*instance) []string { return []string{"does not trust"} },
	}, {
		name: "a proxy hides the scheme",
		config: func(inst *instance) (string, string, []string) {
			return "", "", []string{
				fmt.Sprintf("https://localhost:%d {\n\ttls internal\n\treverse_proxy 127.0.0.1:%d {\n\t\theader_up -X-Forwarded-Proto\n\t}\n}", front(inst), dash(inst)),
				fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst)),
			}
		},
		args: func(inst *instance) []string {
			return []string{"--url", fmt.Sprintf("https://localhost:%d", front(inst))}
		},
		id: "scheme_mismatch", sev: doctor.Problem, saw: func(*instance) []string { return []string{"uses https", "Caddy sees http"} },
	}, {
		name: "on-demand TLS with another permission",
		config: func(inst *instance) (string, string, []string) {
			return fmt.Sprintf("https_port %d\n\ton_demand_tls {\n\t\task http://127.0.0.1:%d/ask\n\t}", inst.Port("https"), inst.Port("ask")),
				fmt.Sprintf("url http://localhost:%d", dash(inst)), []string{
					fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst)),
					"https:// {\n\ttls {\n\t\ton_demand\n\t}\n\tproxyos_routes\n}",
				}
		},
		id: "on_demand", sev: doctor.Warning,
	}, {
		name: "admin endpoint on every interface",
		config: func(inst *instance) (string, string, []string) {
			return "", fmt.Sprintf("url http://localhost:%d", dash(inst)),
				[]string{fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash(inst))}
		},
		id: "admin_listen", sev: doctor.Problem, saw: func(inst *instance) []string { return []string{"0.0.0.0:"} },
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inst := newInstance(t)
			inst.Configure(func() string {
				global, px, sites := c.config(inst)
				admin := inst.Admin
				if c.id == "admin_listen" {
					admin = "0.0.0.0:" + strings.TrimPrefix(inst.Admin, "127.0.0.1:")
				}
				return testCaddyfile(admin, "auto_https disable_redirects\n\t"+global, px, sites...)
			})
			inst.Start()
			var args []string
			if c.args != nil {
				args = c.args(inst)
			}
			admin := inst.Admin
			if c.id == "admin_listen" { // the origin the admin endpoint expects
				admin = "0.0.0.0:" + strings.TrimPrefix(inst.Admin, "127.0.0.1:")
			}
			rep, code, _ := doctorRun(t, admin, args...)
			var saw []string
			if c.saw != nil {
				saw = c.saw(inst)
			}
			wantFinding(t, rep, c.id, c.sev, saw...)
			if want := map[doctor.Severity]int{doctor.Warning: 1, doctor.Problem: 2}[rep.Worst()]; code != want {
				t.Errorf("exit %d with worst finding %s, want %d", code, rep.Worst(), want)
			}
			if c.sev == doctor.Problem && code != 2 {
				t.Errorf("exit %d with a problem, want 2", code)
			}
		})
	}
}

// TestDoctorNoCaddy checks the report when no Caddy answers.
func TestDoctorNoCaddy(t *testing.T) {
	t.Parallel()
	rep, code, _ := doctorRun(t, "127.0.0.1:"+strconv.Itoa(freePort(t)))
	wantFinding(t, rep, "caddy_running", doctor.Problem)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
}

// TestDoctorSecret checks the findings about the secret, and that the
// doctor never reveals it: not in the CLI's output (JSON or for people),
// the dashboard's GET /api/doctor, nor Caddy's log. GET /api/doctor is
// for admins only: a viewer could otherwise learn the configuration's
// weak spots.
func TestDoctorSecret(t *testing.T) {
	t.Parallel()
	const secret = "doctor-Secret-in-config-0123"
	e := startDashboard(t, dashProxyos("secret "+secret))
	rep, code, out := doctorRun(t, e.inst.Admin)
	wantFinding(t, rep, "secret_source", doctor.Warning, "written in the config")
	wantFinding(t, rep, "secret_strength", doctor.Warning, strconv.Itoa(len(secret))+" characters")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	human, _ := exec.Command(caddyBin, "proxyos", "doctor", "--address", e.inst.Admin).CombinedOutput()

	resp, raw := e.admin.Get("/api/doctor", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/doctor as admin: %d %s", resp.StatusCode, raw)
	}
	var apiRep doctor.Report
	mustJSON(t, raw, &apiRep)
	wantFinding(t, apiRep, "secret_source", doctor.Warning)

	e.inst.CreateUser("viewer@example.com", "viewer password", "viewer")
	viewer := newClient(t, e.Base)
	viewer.Login("viewer@example.com", "viewer password")
	if resp, raw := viewer.Get("/api/doctor", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /api/doctor as a viewer: %d %s, want 403", resp.StatusCode, raw)
	}
	if resp, raw := newClient(t, e.Base).Get("/api/doctor", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/doctor without a session: %d %s, want 401", resp.StatusCode, raw)
	}
	for what, text := range map[string]string{"the JSON report": out, "the report for people": string(human),
		"GET /api/doctor": string(raw), "Caddy's log": e.inst.FullLog()} {
		if strings.Contains(text, secret) || strings.Contains(text, secret[:16]) {
			t.Errorf("the secret appears in %s", what)
		}
	}
}

// TestDoctorSecretFile checks that a generated secret file others can
// read is a problem.
func TestDoctorSecretFile(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	path := filepath.Join(e.inst.Home, "data", "caddy", "proxyos", "secret")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, code, _ := doctorRun(t, e.inst.Admin)
	wantFinding(t, rep, "secret_file", doctor.Problem, path, "0644")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
}

// TestDoctorSecretChanged checks the seed's second cause: the secret
// changed without previous_secrets, and browsers come back with cookies
// signed by the old key.
func TestDoctorSecretChanged(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashProxyos("secret {env.PROXYOS_SECRET}"), dashEnvVars("PROXYOS_SECRET=first-secret-0123456789abcdefghij"))
	oldKey := e.adminCk[:8]
	cfg := strings.Replace(dashboardConfig(e.inst.Admin, e.DashPort, e.AppPort, "", ""), "url http", "secret second-secret-0123456789abcdefghij\n\t\turl http", 1)
	e.inst.WriteConfig(cfg)
	if out, err := exec.Command(caddyBin, "reload", "--config", e.inst.ConfigFile(), "--adapter", "caddyfile", "--address", e.inst.Admin).CombinedOutput(); err != nil {
		t.Fatalf("caddy reload: %v\n%s", err, out)
	}
	for range 3 {
		wantSession(t, e.Base, e.adminCk, "unknown_key")
	}
	rep, _, _ := doctorRun(t, e.inst.Admin)
	wantFinding(t, rep, "unknown_key", doctor.Warning, "3 session cookies", oldKey, "replaced key "+oldKey)
}

// TestDoctorDatabase checks the findings about the database: one that
// stopped answering, and a schema that a newer node migrated.
func TestDoctorDatabase(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		pg := startPrivatePostgres(t)
		e := startDashboard(t, dashProxyos("secret {env.PROXYOS_SECRET}", "database postgres "+pg.DSN()),
			dashEnvVars("PROXYOS_SECRET=doctor-database-secret-0123456789"))
		rep, _, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "database", doctor.OK, "postgres")
		wantFinding(t, rep, "clock_skew", doctor.OK, "the database's clock is")
		pg.stop()
		rep, code, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "database", doctor.Problem, "does not answer")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		pg.start() // for its cleanup, which stops it
	})
	t.Run("newer schema", func(t *testing.T) {
		t.Parallel()
		dsn := postgresDatabase(t)
		e := startDashboard(t, dashProxyos("secret {env.PROXYOS_SECRET}", "database postgres "+dsn),
			dashEnvVars("PROXYOS_SECRET=doctor-database-secret-0123456789"))
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`INSERT INTO proxyos_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		rep, _, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "migrations", doctor.Warning, "9999")
	})
}

// TestDoctorClockSkew provokes clock_skew with a real cluster node on a
// real PostgreSQL whose clock is off (libfaketime shifts the server's
// time, not the node's): ten minutes ahead is a problem, ten seconds
// behind a warning, and the shared test server (on this machine's
// clock) is ok. Each finding names the direction and the size.
func TestDoctorClockSkew(t *testing.T) {
	t.Parallel()
	skewSaw := regexp.MustCompile(`the database's clock is (\S+) (ahead of|behind) this machine's`)
	cases := []struct {
		name   string
		offset string // FAKETIME of the server; "" for the shared test server
		sev    doctor.Severity
		dir    string
		want   time.Duration
		within time.Duration
	}{
		{"ten minutes ahead", "+10m", doctor.Problem, "ahead of", 10 * time.Minute, 5 * time.Second},
		{"ten seconds behind", "-10s", doctor.Warning, "behind", 10 * time.Second, 2 * time.Second},
		{"on time", "", doctor.OK, "", 0, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var dsn string
			if tc.offset != "" {
				dsn = startPrivatePostgresAt(t, tc.offset).DSN()
			} else {
				dsn = postgresDatabase(t)
			}
			e := startClusterOn(t, 1, dsn)
			rep, code, _ := doctorRun(t, e.nodes[0].inst.Admin)
			f := wantFinding(t, rep, "clock_skew", tc.sev, "the database's clock is")
			t.Logf("clock_skew %s: %s", f.Severity, f.Saw)
			m := skewSaw.FindStringSubmatch(f.Saw)
			if m == nil {
				t.Fatalf("clock_skew saw %q: no size and direction", f.Saw)
			}
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatalf("clock_skew saw %q: %v", f.Saw, err)
			}
			if tc.dir != "" && m[2] != tc.dir {
				t.Errorf("clock_skew saw %q, want the clock %s this machine's", f.Saw, tc.dir)
			}
			if d < tc.want-tc.within || d > tc.want+tc.within {
				t.Errorf("clock_skew saw %q, want %s within %s", f.Saw, tc.want, tc.within)
			}
			if wantCode := map[doctor.Severity]int{doctor.OK: 0, doctor.Warning: 1, doctor.Problem: 2}[tc.sev]; tc.sev != doctor.OK && code < wantCode {
				t.Errorf("exit %d, want at least %d for a %s", code, wantCode, tc.sev)
			}
		})
	}
}

// TestDoctorRoutes checks the findings about managed routes: a route
// behind the login whose host no site with proxyos_routes serves, a
// certificate whose issuance fails, and certificates in storage that
// expired or are overdue for renewal.
func TestDoctorRoutes(t *testing.T) {
	t.Parallel()
	t.Run("login unreachable", func(t *testing.T) {
		t.Parallel()
		e := startDashboard(t)
		resp, raw := e.inst.AdminDo(http.MethodPost, "/proxyos/routes", rtWith(rtProxy("gated.proxyos.test", "off", "http://127.0.0.1:9"),
			"auth", map[string]any{"require_login": true}))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("creating the route: %d %s", resp.StatusCode, raw)
		}
		rep, _, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "route_login", doctor.Problem, "gated.proxyos.test")
	})
	t.Run("issuance fails", func(t *testing.T) {
		t.Parallel()
		// A CA that refuses every request, as one does past a rate limit.
		ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"type":"urn:ietf:params:acme:error:unauthorized","detail":"doctor test CA refuses"}`))
		}))
		t.Cleanup(ca.Close)
		e := rtPrepare(t)
		e.IssuerBlock = fmt.Sprintf(" {\n\t\t\tacme {\n\t\t\t\tdir %s/dir\n\t\t\t}\n\t\t}", ca.URL)
		e.start("")
		e.dash.create(rtProxy("failing.proxyos.test", "auto", "http://127.0.0.1:9"))
		rtPoll(t, 60*time.Second, func() string {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPSPort), &tls.Config{ServerName: "failing.proxyos.test", InsecureSkipVerify: true})
			if err == nil {
				conn.Close()
				return "the handshake succeeded"
			}
			rep, _, _ := doctorRun(t, e.inst.Admin)
			if f, ok := rep.Has("cert_failing"); !ok || f.Severity != doctor.Problem {
				return "no cert_failing problem yet:\n" + reportText(rep)
			}
			return ""
		})
		rep, _, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "cert_failing", doctor.Problem, "failing.proxyos.test", "acme", "doctor test CA refuses")
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		e := rtPrepare(t)
		now := time.Now()
		writeStoredCert(t, e.inst.Home, "stale.proxyos.test", now.Add(-80*24*time.Hour), now.Add(2*time.Hour))
		writeStoredCert(t, e.inst.Home, "expired.proxyos.test", now.Add(-90*24*time.Hour), now.Add(-time.Hour))
		writeStoredCert(t, e.inst.Home, "unused.proxyos.test", now.Add(-90*24*time.Hour), now.Add(-time.Hour))
		e.start("")
		e.dash.create(rtProxy("stale.proxyos.test", "internal", "http://127.0.0.1:9"))
		e.dash.create(rtProxy("expired.proxyos.test", "internal", "http://127.0.0.1:9"))
		// An uploaded certificate is never renewed: 10 days before it
		// expires is not overdue for a managed one, but is for it.
		ca := newCTCA(t)
		ctUpload(t, ctAPI(e.dash), ca.issue(now.Add(10*24*time.Hour), "custom.proxyos.test"))
		ctUpload(t, ctAPI(e.dash), ca.issue(now.Add(20*24*time.Hour), "later.proxyos.test"))
		rep, _, _ := doctorRun(t, e.inst.Admin)
		wantFinding(t, rep, "cert_expiry", doctor.Warning, "stale.proxyos.test", "expires at")
		wantFinding(t, rep, "cert_expiry", doctor.Problem, "expired.proxyos.test", "expired")
		wantFinding(t, rep, "cert_expiry", doctor.Warning, "uploaded certificate of custom.proxyos.test", "expires at")
		for _, f := range rep.Findings {
			if strings.Contains(f.Saw, "later.proxyos.test") {
				t.Errorf("an uploaded certificate valid for 20 more days is reported: %s", f.Saw)
			}
		}
		for _, f := range rep.Findings {
			if strings.Contains(f.Saw, "unused.proxyos.test") {
				t.Errorf("a certificate of a name nothing serves is reported: %s", f.Saw)
			}
		}
	})
}

// writeStoredCert writes a certificate for name, valid from notBefore to
// notAfter, into the Caddy storage under home where certmagic keeps
// those of the proxyos issuer.
func writeStoredCert(t *testing.T, home, name string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "data", "caddy", "certificates", "proxyos", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDoctorStreamOverlap provokes stream_overlap with a real Caddy: a
// node whose store holds an HTTPS route and a stream on the shared HTTPS
// port with the same server name, as two cluster nodes leave it when
// each accepts one of two changes made at once (each node refuses such a
// change itself, so the test writes the stream's new host into the
// store while the node is stopped, as the other node's change would).
func TestDoctorStreamOverlap(t *testing.T) {
	t.Parallel()
	e := rtPrepare(t)
	e.start(`servers {
		listener_wrappers {
			proxyos_streams
			tls
		}
	}`)
	web := httpUpstream(t, "overlap web")
	up := tcpEcho(t, "o:")
	e.dash.create(map[string]any{"name": "web", "enabled": true, "hosts": []string{"web.overlap.test"}, "kind": "proxy", "tls": "internal", "upstreams": []string{"http://" + web}})
	streams := rtAPI{t: t, base: e.admin.Base + "/api/streams", hc: e.admin.HTTP, hdr: http.Header{
		"Origin": {e.admin.Base}, "Content-Type": {"application/json"},
	}}
	status, raw := streams.call(http.MethodPost, "", map[string]any{"name": "git", "enabled": true,
		"listen": fmt.Sprintf("tcp/:%d", e.HTTPSPort), "hosts": []string{"git.overlap.test"}, "upstreams": []string{up}})
	if status != http.StatusCreated {
		t.Fatalf("creating the stream: %d %s", status, raw)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &created); err != nil {
		t.Fatal(err)
	}
	rep, _, _ := doctorRun(t, e.inst.Admin)
	wantFinding(t, rep, "stream_overlap", doctor.OK)

	e.inst.Stop()
	ctx := context.Background()
	db, err := store.Open(ctx, store.SQLite, filepath.Join(e.inst.Home, "data", "caddy", "proxyos", "proxyos.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Stream(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(st.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	spec["hosts"] = []string{"web.overlap.test"}
	spec["version"] = st.Version + 1
	prev := st.Version
	st.Version++
	if st.Spec, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := db.PutStream(ctx, st, prev, "update", "node-b"); err != nil {
		t.Fatal(err)
	}
	db.Close() //nolint:errcheck
	e.inst.Start()

	rep, code, _ := doctorRun(t, e.inst.Admin)
	wantFinding(t, rep, "stream_overlap", doctor.Problem, "host web.overlap.test of route web", "stream git")
	if code != 2 {
		t.Errorf("exit %d, want 2 (a problem)", code)
	}
}
