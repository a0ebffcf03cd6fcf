package integration

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestMetrics: proxyos's metrics are in Caddy's own /metrics (on the
// admin endpoint; proxyos opens no listener of its own), count what a
// real Caddy did (route requests by status class, logins, session checks,
// gate decisions, route applies, live routes), survive a config reload
// and drop a deleted route's series.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := rtPrepare(t)
	e.Sites = func() string {
		return fmt.Sprintf("http://localhost:%d {\n\tproxyos_auth {\n\t\tallow /health\n\t}\n\trespond \"gated\" 200\n}", e.inst.Port("app"))
	}
	e.start("")
	up := rtNewUpstream(t, "metrics", false)
	ok := e.dash.create(rtProxy("ok.metrics.proxyos.test", "off", up.URL))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there: 502
	down := e.dash.create(rtProxy("down.metrics.proxyos.test", "off", dead))

	for range 3 {
		if resp, _ := e.get("ok.metrics.proxyos.test", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("ok route: %d", resp.StatusCode)
		}
	}
	for range 2 {
		if resp, _ := e.get("down.metrics.proxyos.test", "/"); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("down route: %d", resp.StatusCode)
		}
	}
	// A failed and a successful login, a gate decision of each kind.
	bad := newClient(t, e.admin.Base)
	if resp, _ := bad.PostJSON("/api/auth/login", map[string]string{"email": "admin@proxyos.test", "password": "not the password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	e.login("viewer@metrics.proxyos.test", "viewer")
	app := fmt.Sprintf("http://localhost:%d", e.inst.Port("app"))
	for path, want := range map[string]int{"/health": 200, "/private": 401} {
		resp, _ := do(t, http.DefaultClient, http.MethodGet, app+path, nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, app+"/private", nil)
	req.Header.Set("Cookie", "proxyos_session="+e.adminCk)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /private with the admin's session: %v %v", resp, err)
	}

	// A certificate in use: its expiry is a gauge.
	internal := e.dash.create(rtProxy("tls.metrics.proxyos.test", "internal", up.URL))
	st, err := rtHandshake(e, "tls.metrics.proxyos.test", &tls.Config{RootCAs: rtLocalRoot(t, e)})
	if err != nil {
		t.Fatalf("tls internal: %v", err)
	}
	notAfter := float64(st.PeerCertificates[0].NotAfter.Unix())

	m := scrapeMetrics(t, e)
	if got := m[`proxyos_certificate_expiry_timestamp_seconds{name="tls.metrics.proxyos.test"}`]; got != notAfter {
		t.Errorf("certificate expiry %v, want %v (route %s)", got, notAfter, internal.ID)
	}
	for series, want := range map[string]float64{
		`proxyos_route_requests_total{code="2xx",route="` + ok.ID + `"}`:      3,
		`proxyos_route_requests_total{code="5xx",route="` + down.ID + `"}`:    2,
		`proxyos_route_request_duration_seconds_count{route="` + ok.ID + `"}`: 3,
		`proxyos_routes{kind="proxy",tls="off"}`:                              2,
		`proxyos_routes{kind="proxy",tls="internal"}`:                         1,
		`proxyos_route_apply_seconds_count{result="ok"}`:                      3,
		`proxyos_logins_total{method="password",result="failure"}`:            1,
		`proxyos_gate_decisions_total{decision="allow"}`:                      1,
		`proxyos_gate_decisions_total{decision="refused"}`:                    1,
		`proxyos_gate_decisions_total{decision="session"}`:                    1,
		`proxyos_access_rule_matches_total{action="allow"}`:                   1,
	} {
		if got, okv := m[series]; !okv || got != want {
			t.Errorf("%s = %v (present: %v), want %v", series, got, okv, want)
		}
	}
	if m[`proxyos_logins_total{method="password",result="success"}`] < 1 || m[`proxyos_session_checks_total{result="valid"}`] < 1 {
		t.Errorf("no successful login or valid session check counted")
	}
	for series := range m {
		if strings.Contains(series, rtAdminPassword) || strings.Contains(series, e.adminCk) {
			t.Fatalf("a secret in the metrics: %s", series)
		}
	}

	// A reload (forced, same config) keeps the counts and the endpoint.
	adapted, err := exec.Command(caddyBin, "adapt", "--config", e.inst.ConfigFile(), "--adapter", "caddyfile").Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v", err)
	}
	resp, raw := do(t, http.DefaultClient, http.MethodPost, "http://"+e.inst.Admin+"/load", bytes.NewReader(adapted),
		http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"must-revalidate"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /load: %d %s", resp.StatusCode, raw)
	}
	if resp, _ := e.get("ok.metrics.proxyos.test", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("ok route after the reload: %d", resp.StatusCode)
	}
	m = scrapeMetrics(t, e)
	if got := m[`proxyos_route_requests_total{code="2xx",route="`+ok.ID+`"}`]; got != 4 {
		t.Fatalf("after a reload and one more request: %v, want 4", got)
	}

	e.dash.delete(down.ID)
	m = scrapeMetrics(t, e)
	for series := range m {
		if strings.Contains(series, `route="`+down.ID+`"`) {
			t.Fatalf("a deleted route's series remains: %s", series)
		}
	}
}

// scrapeMetrics reads the admin endpoint's /metrics into series → value.
func scrapeMetrics(t *testing.T, e *rtEnv) map[string]float64 {
	t.Helper()
	resp, raw := do(t, http.DefaultClient, http.MethodGet, "http://"+e.inst.Admin+"/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, raw)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "proxyos_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
