package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRoutesOnDemandLimit prevents unbounded certificates: with a
// wildcard route, any client could make the server obtain a certificate
// for every name it made up (30 in 1.6 s with the internal CA), and
// *.com was accepted as a route host. Now a wildcard directly under a
// public suffix is no route host, and a route gets certificates for at
// most on_demand_limit new names under its wildcard hosts per interval:
// handshakes for more fail, with one warning per interval, while the
// names already issued, the route's exact hosts and, after a restart,
// the names with a certificate in storage keep working without using up
// the limit.
func TestRoutesOnDemandLimit(t *testing.T) {
	t.Parallel()
	e := rtPrepare(t)
	e.ProxyosExtra = "on_demand_limit 3 1h"
	e.start("")

	status, raw := e.dash.call(http.MethodPost, "", rtProxy("*.com", "internal", "http://10.0.0.1:80"))
	rtWantFieldError(t, e.dash, "wildcard under a public suffix", status, raw, http.StatusBadRequest, "hosts[0]")

	up := rtNewUpstream(t, "wild", false)
	const exact = "exact-limit.proxyos.test"
	r := e.dash.create(rtWith(rtProxy("*.limit.proxyos.test", "internal", up.URL),
		"hosts", []string{"*.limit.proxyos.test", exact}))
	name := func(i int) string { return fmt.Sprintf("n%d.limit.proxyos.test", i) }

	var roots *x509.CertPool
	issued := func(host string) {
		t.Helper()
		st, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // verified below, once the root exists
		if err != nil {
			t.Fatalf("TLS handshake for %s: %v", host, err)
		}
		if roots == nil {
			roots = rtLocalRoot(t, e)
		}
		leaf := st.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, Intermediates: rtPool(st.PeerCertificates[1:]...)}); err != nil {
			t.Fatalf("certificate for %s: %v", host, err)
		}
	}
	refused := func(host string) {
		t.Helper()
		if _, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
			t.Fatalf("TLS handshake for %s, past the route's limit, succeeded", host)
		}
	}
	warnings := func() []string {
		var out []string
		for _, line := range strings.Split(e.inst.Log(), "\n") {
			if strings.Contains(line, "on-demand certificate limit reached") {
				out = append(out, line)
			}
		}
		return out
	}
	barriers := 0
	oneWarning := func() {
		t.Helper()
		// A request to the admin API logs a line after every line of
		// the handshakes before it.
		barriers++
		barrier := fmt.Sprintf("/proxyos/routes?barrier=%d", barriers)
		do(t, http.DefaultClient, http.MethodGet, "http://"+e.inst.Admin+barrier, nil, nil)
		rtPoll(t, 10*time.Second, func() string {
			if !strings.Contains(e.inst.Log(), barrier) {
				return "the log does not show the request " + barrier
			}
			return ""
		})
		w := warnings()
		if len(w) != 1 {
			t.Fatalf("%d warnings about the limit, want 1:\n%s", len(w), strings.Join(w, "\n"))
		}
		for _, want := range []string{`"level":"warn"`, `"route_id":"` + r.ID + `"`, `"refused":1`, `"limit":3`, `"resets_at":`} {
			if !strings.Contains(w[0], want) {
				t.Errorf("warning %s lacks %s", w[0], want)
			}
		}
	}

	for i := 1; i <= 3; i++ {
		issued(name(i))
	}
	for i := 4; i <= 8; i++ {
		refused(name(i))
	}
	issued(name(1)) // issued before: served
	issued(exact)   // an exact host is no made-up name
	oneWarning()

	// After a restart the limiter starts empty, and Caddy asks the
	// permission before loading a certificate from storage: the names it
	// holds are served without using up the limit.
	e.inst.Restart()
	for i := 1; i <= 3; i++ {
		issued(name(i))
	}
	for i := 9; i <= 11; i++ {
		issued(name(i))
	}
	refused(name(12))
	refused(name(13))
	issued(name(2))
	oneWarning()
	if slices.ContainsFunc(strings.Split(e.inst.Log(), "\n"), func(l string) bool {
		return strings.Contains(l, "obtaining new certificate") && strings.Contains(l, name(1))
	}) {
		t.Errorf("after the restart a new certificate was obtained for %s, which had one in storage", name(1))
	}
}
