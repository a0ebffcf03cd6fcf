package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL server of the test's own (initdb and
// pg_ctl in a temporary directory, on a free loopback port), which the
// test may stop and start again.
type privatePostgres struct {
	t    *testing.T
	bin  string // the directory of initdb, pg_ctl
	dir  string
	port int
	env  []string // more environment of the server (its clock offset)
}

// startPrivatePostgres initializes and starts a server; it is stopped
// when the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	return startPrivatePostgresAt(t, "")
}

// startPrivatePostgresAt is startPrivatePostgres with the server's clock
// off by offset (libfaketime's FAKETIME, such as "+10m" or "-10s"; ""
// for none): the server, a C program, sees the shifted time through
// libfaketime preloaded, and the Go programs of the test (Caddy among
// them) the machine's. Monotonic clocks are left alone, so timeouts
// run as usual. libfaketime missing fails the test: scripts/deps.sh
// installs it (Debian's faketime).
func startPrivatePostgresAt(t *testing.T, offset string) *privatePostgres {
	t.Helper()
	var env []string
	if offset != "" {
		libs, _ := filepath.Glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
		if len(libs) == 0 {
			t.Fatal("no libfaketimeMT.so.1 under /usr/lib/*/faketime: install Debian's faketime (scripts/deps.sh does)")
		}
		env = []string{"LD_PRELOAD=" + libs[0], "FAKETIME=" + offset, "DONT_FAKE_MONOTONIC=1"}
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("no initdb under /usr/lib/postgresql/*/bin: install Debian's postgresql (scripts/deps.sh does)")
	}
	slices.SortFunc(bins, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	// Not under t.TempDir: its parent is root's alone, and the server
	// refuses to run as root; the directory belongs to the postgres
	// user, who runs it.
	top, err := os.MkdirTemp("", "proxyos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[0]), dir: filepath.Join(top, "data"), port: freePort(t), env: env}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", top).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	p.run(filepath.Join(p.bin, "initdb"), "-D", p.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	p.start()
	t.Cleanup(func() { p.pgctl("stop", "-m", "immediate") })
	return p
}

// pgMajor is the major version in a path /usr/lib/postgresql/<n>/bin/….
func pgMajor(path string) int {
	n, _ := strconv.Atoi(strings.Split(strings.TrimPrefix(path, "/usr/lib/postgresql/"), "/")[0])
	return n
}

// DSN is the connection URL of the server's postgres database.
func (p *privatePostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// start starts the server and waits until it accepts connections.
func (p *privatePostgres) start() {
	p.t.Helper()
	// -l: without a log file the server keeps the caller's pipes open.
	p.pgctl("start", "-l", filepath.Join(p.dir, "server.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, p.dir))
}

// stop stops the server, ending every connection at once.
func (p *privatePostgres) stop() {
	p.t.Helper()
	p.pgctl("stop", "-m", "fast")
}

func (p *privatePostgres) pgctl(args ...string) {
	p.t.Helper()
	p.run(filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.dir, "-w", "-t", "60"}, args...)...)
}

// run runs a PostgreSQL program as the postgres user, in the server's
// environment.
func (p *privatePostgres) run(prog string, args ...string) {
	p.t.Helper()
	argv := []string{"-u", "postgres", "--"}
	if len(p.env) > 0 {
		argv = append(append(append(argv, "env"), p.env...), prog)
	} else {
		argv = append(argv, prog)
	}
	cmd := exec.Command("runuser", append(argv, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
}

// wrkResult is what wrk reports about a run.
type wrkResult struct {
	requests, non2xx, socketErrors int
	out                            string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// startWrk drives url with wrk for d (2 connections, the header lines
// added) and returns a channel with its result when it ends.
func startWrk(t *testing.T, url string, d time.Duration, headers ...string) <-chan wrkResult {
	t.Helper()
	args := []string{"-t1", "-c2", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	cmd := exec.Command("wrk", append(args, url)...)
	ch := make(chan wrkResult, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		r := wrkResult{out: string(out), requests: -1}
		if m := wrkRequests.FindStringSubmatch(r.out); m != nil && err == nil {
			r.requests, _ = strconv.Atoi(m[1])
		}
		if m := wrkNon2xx.FindStringSubmatch(r.out); m != nil {
			r.non2xx, _ = strconv.Atoi(m[1])
		}
		if m := wrkSocket.FindStringSubmatch(r.out); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.Atoi(s)
				r.socketErrors += n
			}
		}
		ch <- r
	}()
	return ch
}

// TestClusterDatabaseOutage stops the database of a two-node cluster
// while wrk drives a managed route and a site behind the login with a
// cached session: not one of those requests fails. Meanwhile logins and
// changes answer 503 database unavailable (nothing half-applied, no 500),
// each node logs the outage once; when the server is back, the nodes
// reconnect by themselves, writes work again and their changes reach the
// other node.
func TestClusterDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	e := startClusterOn(t, 2, pg.DSN())
	a, b := e.nodes[0], e.nodes[1]
	const email, password = "cleo@cluster.test", "cleo's long password"
	a.inst.CreateUser(email, password, "viewer")
	ck := e.login(a, email, password)
	e.gateSays("a session", ck, http.StatusOK, "role=viewer") // cached on both nodes
	unseen := e.login(a, email, password)                     // never shown to node-b
	const host = "steady.cluster.test"
	var r struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	spec := map[string]any{"name": "steady", "hosts": []string{host}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 200, "body": "steady"}}
	mustJSON(t, e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, spec, http.StatusCreated), &r)
	e.everywhere("the route", nil, func(n *clusterNode) (bool, string) {
		_, body := e.route(n, host)
		return body == "steady", body
	})

	const load = 8 * time.Second
	routeLoad := startWrk(t, fmt.Sprintf("http://%s:%d/", b.ip, e.HTTPPort), load, "Host: "+host)
	gateLoad := startWrk(t, fmt.Sprintf("http://%s:%d/", a.ip, e.AppPort), load, "Cookie: "+sessionCookieName+"="+ck)
	time.Sleep(time.Second)
	pg.stop()
	stopped := time.Now()

	// Writes and logins: 503 database unavailable, on both nodes and
	// both APIs, not 500.
	for _, n := range e.nodes {
		for _, w := range []struct {
			what string
			send func() (*http.Response, []byte)
		}{
			{"login", func() (*http.Response, []byte) {
				return e.call(n, http.MethodPost, "/api/auth/login", "", map[string]string{"email": email, "password": password})
			}},
			{"route change", func() (*http.Response, []byte) {
				return e.call(n, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, spec)
			}},
			{"admin API user", func() (*http.Response, []byte) {
				return n.inst.AdminDo(http.MethodPost, "/proxyos/users", map[string]string{"email": "new@cluster.test", "password": password, "role": "viewer"})
			}},
		} {
			resp, raw := w.send()
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(raw), "database unavailable") {
				t.Errorf("%s on %s during the outage: %d %s, want 503 database unavailable", w.what, n.name, resp.StatusCode, raw)
			}
		}
	}
	// A session the node never saw cannot be checked: 503, not a refusal
	// that would log the user out.
	if code, body := e.gate(b, unseen); code != http.StatusServiceUnavailable || !strings.Contains(body, "database unavailable") {
		t.Errorf("a session node-b never saw, during the outage: %d %q, want 503 database unavailable", code, body)
	}
	if time.Since(stopped) > 3*time.Second {
		t.Logf("the writes took %s to be refused", time.Since(stopped))
	}
	time.Sleep(2 * time.Second)
	pg.start()

	for _, l := range []struct {
		what string
		ch   <-chan wrkResult
	}{{"managed route on node-b", routeLoad}, {"gate with a cached session on node-a", gateLoad}} {
		res := <-l.ch
		if res.requests <= 0 || res.non2xx != 0 || res.socketErrors != 0 {
			t.Errorf("%s across the outage: %d requests, %d not 2xx, %d socket errors\n%s", l.what, res.requests, res.non2xx, res.socketErrors, res.out)
		} else {
			t.Logf("%s across the outage: %d requests, none failed", l.what, res.requests)
		}
	}

	// Back: the nodes reconnect by themselves and go on.
	e.everywhere("logins after the outage", nil, func(n *clusterNode) (bool, string) {
		resp, raw := e.call(n, http.MethodPost, "/api/auth/login", "", map[string]string{"email": email, "password": password})
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, raw)
	})
	// The feeds reconnect with a backoff of at most 5 s.
	for _, n := range e.nodes {
		eventually(t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
			return strings.Contains(n.inst.FullLog(), "database available again"), n.name + " did not log the end of the outage"
		})
	}
	for i, n := range []*clusterNode{a, b} {
		spec["static"], spec["version"] = map[string]any{"status": 200, "body": fmt.Sprint("after ", i)}, r.Version
		mustJSON(t, e.mustCall(n, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, spec, http.StatusOK), &r)
		e.everywhere("a route change on "+n.name+" after the outage", nil, func(n *clusterNode) (bool, string) {
			_, body := e.route(n, host)
			return body == fmt.Sprint("after ", i), body
		})
	}
	for _, n := range e.nodes {
		log := n.inst.FullLog()
		if c := strings.Count(log, "database unavailable: serving"); c != 1 {
			t.Errorf("%s logged the outage %d times, want once", n.name, c)
		}
		if strings.Contains(log, `"status":500`) || strings.Contains(log, "panic") {
			t.Errorf("%s answered 500 or panicked during the outage", n.name)
		}
	}
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}
