package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// caddyDNS builds, once, Caddy with proxyos and a DNS provider module
// that only the tests have (integration/testdata/caddydns: it sets TXT
// records through pebble-challtestsrv's management API).
var caddyDNS = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(caddyBin), "caddy-dns")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/proxyos/caddy-proxyos/integration/testdata/caddydns").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building caddy with the test DNS provider: %v\n%s", err, out)
	}
	return bin, nil
})

// rtDNS is a Caddy built with the test DNS provider whose proxyos
// issuer gets certificates from Pebble, with Pebble's root and
// intermediate.
type rtDNS struct {
	*rtEnv
	p     *rtPebble
	roots *x509.CertPool
	inter *x509.Certificate
}

// rtStartDNS starts Pebble and Caddy built with the test DNS provider,
// for DNS-01 challenges in the zones. With issuerDNS the issuer's own
// provider is challtestsrv (the default of routes); without, routes must
// name a stored credential (config {"url": d.p.ChallMgmt}).
func rtStartDNS(t *testing.T, issuerDNS bool, zones ...string) *rtDNS {
	t.Helper()
	bin, err := caddyDNS()
	if err != nil {
		t.Fatal(err)
	}
	p := rtPreparePebble(t)
	// certmagic finds the challenge record's zone with SOA queries,
	// which challtestsrv does not answer: this server does.
	soa := newDNSServer(t)
	for _, z := range zones {
		soa.Zone(z)
	}
	e := rtPrepare(t)
	e.inst.Bin = bin
	provider := ""
	if issuerDNS {
		provider = "dns challtestsrv " + p.ChallMgmt
	}
	e.IssuerBlock = p.issuerBlock(fmt.Sprintf(`%s
			resolvers %s
			propagation_timeout -1`, provider, soa.Addr))
	e.start("")
	p.start(t, e.HTTPPort, e.HTTPSPort)
	root, inter := p.roots(t)
	return &rtDNS{rtEnv: e, p: p, roots: rtPool(root), inter: inter}
}

// TestRouteDNS01 runs Caddy's real DNS-01 code against Pebble: a route
// for *.example.test with challenge dns gets ONE wildcard certificate,
// obtained in the background as soon as the route is saved (no
// handshake asks for it), which then serves every name under it; a
// provider that fails shows its error on its route. The Caddyfile's
// issuer has a DNS provider (the default of routes); the failing route
// names a stored credential, so credentials reach the provider too.
func TestRouteDNS01(t *testing.T) {
	t.Parallel()
	d := rtStartDNS(t, true, "example.test", "broken.test")
	e, p, roots, inter := d.rtEnv, d.p, d.roots, d.inter

	up := rtNewUpstream(t, "wild", false)
	wild := e.dash.create(rtWith(rtProxy("*.example.test", "auto", up.URL), "challenge", "dns"))

	// Obtained without any handshake: Pebble's log shows the order and
	// the route its certificate.
	rtPoll(t, 90*time.Second, func() string {
		if st := e.dash.get(wild.ID).TLSStatus; st == nil || st.State != "issued" || st.Name != "*.example.test" {
			return fmt.Sprintf("the wildcard route's tls_status is %+v, want issued for *.example.test\npebble:\n%s", st, p.Log)
		}
		return ""
	})
	orders := rtCount(p.Log.String(), "Added order")
	if orders != 1 {
		t.Fatalf("pebble got %d orders for the wildcard route, want 1", orders)
	}

	for _, name := range []string{"a.example.test", "b.example.test"} {
		var st tls.ConnectionState
		rtPoll(t, 30*time.Second, func() string {
			var err error
			if st, err = rtHandshake(e, name, &tls.Config{RootCAs: roots}); err != nil {
				return name + ": " + err.Error()
			}
			return ""
		})
		leaf := st.PeerCertificates[0]
		if !slices.Equal(leaf.DNSNames, []string{"*.example.test"}) || !bytes.Equal(leaf.RawIssuer, inter.RawSubject) {
			t.Fatalf("%s: certificate for %v from %q, want the wildcard from pebble", name, leaf.DNSNames, leaf.Issuer)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: rtPool(inter), DNSName: name}); err != nil {
			t.Fatalf("%s: certificate does not verify against pebble's root: %v", name, err)
		}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: rtDialLoopback, TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := hc.Get("https://" + name + ":" + strconv.Itoa(e.HTTPSPort) + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != up.Name {
			t.Fatalf("GET https://%s/: %d from %q", name, resp.StatusCode, resp.Header.Get("X-Upstream"))
		}
	}
	// A route of its own for a name under the wildcard uses it too.
	e.dash.create(rtWith(rtProxy("c.example.test", "auto", up.URL), "challenge", "dns"))
	if st, err := rtHandshake(e, "c.example.test", &tls.Config{RootCAs: roots}); err != nil || !slices.Equal(st.PeerCertificates[0].DNSNames, []string{"*.example.test"}) {
		t.Fatalf("c.example.test: %v", err)
	}
	if n := rtCount(p.Log.String(), "Added order"); n != orders {
		t.Fatalf("pebble got %d more orders for names under the wildcard", n-orders)
	}

	// Validation: an unknown credential, an unknown provider, an
	// unknown field of the provider's config.
	if status, raw := e.dash.call(http.MethodPost, "", rtWith(rtProxy("*.other.test", "auto", up.URL), "challenge", "dns", "dns_credential", "nope")); status != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"dns_credential"`) {
		t.Fatalf("route with an unknown credential: %d %s", status, raw)
	}
	creds := rtAPI{t: t, base: e.admin.Base + "/api/dns/credentials", hc: e.admin.HTTP, hdr: e.dash.hdr}
	for body, field := range map[string]string{
		`{"name":"x","provider":"cloudflare","config":{"api_token":"t"}}`:                          "provider",
		`{"name":"x","provider":"challtestsrv","config":{"url":"http://127.0.0.1:1","token":"t"}}`: "config.token",
	} {
		if status, raw := creds.call(http.MethodPost, "", []byte(body)); status != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"`+field+`"`) {
			t.Fatalf("POST credential %s: %d %s, want 400 on %s", body, status, raw, field)
		}
	}

	// A stored credential whose provider fails (its API is down): the
	// provider's error shows on the route, verbatim, in the API.
	closed := "127.0.0.1:" + strconv.Itoa(freePort(t))
	if status, raw := creds.call(http.MethodPost, "", map[string]any{"name": "broken", "provider": "challtestsrv",
		"config": map[string]string{"url": "http://" + closed}}); status != http.StatusCreated || strings.Contains(string(raw), closed) {
		t.Fatalf("POST credential: %d %s", status, raw)
	}
	broken := e.dash.create(rtWith(rtProxy("*.broken.test", "auto", up.URL), "challenge", "dns", "dns_credential", "broken"))
	rtPoll(t, 60*time.Second, func() string {
		st := e.dash.get(broken.ID).TLSStatus
		if st == nil || st.State != "failed" || !strings.Contains(st.Error, "challtestsrv: ") || !strings.Contains(st.Error, "connection refused") {
			return fmt.Sprintf("the broken route's tls_status is %+v, want failed with the provider's error", st)
		}
		return ""
	})
	if _, err := rtHandshake(e, "x.broken.test", &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected
		t.Errorf("a name under a failing dns route got a certificate on demand")
	}
	// The credential's config shows nowhere: not in its listing, not
	// in the audit log.
	for _, path := range []string{"/api/dns/credentials", "/api/dns", "/api/audit"} {
		resp, raw := e.admin.Get(path, nil)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), closed) {
			t.Fatalf("GET %s: %d, or it shows the credential's config: %s", path, resp.StatusCode, raw)
		}
	}
}

// TestRouteDNS01Renewal renews a DNS-01 wildcard certificate with
// "renew now" (by the wildcard's name, then by a name under it): each
// handshake afterwards gets the new certificate, although Caddy's cache
// keeps the old one; the certificates list shows the wildcard as managed
// with DNS-01. Once the route is deleted, no handshake for its names
// gets a certificate, although the wildcard is still in Caddy's cache
// (a deleted route's certificate must not keep serving its names).
func TestRouteDNS01Renewal(t *testing.T) {
	t.Parallel()
	d := rtStartDNS(t, true, "example.test")
	up := rtNewUpstream(t, "wild", false)
	wild := d.dash.create(rtWith(rtProxy("*.example.test", "auto", up.URL), "challenge", "dns"))
	serial := func(name string) *big.Int {
		t.Helper()
		var s *big.Int
		rtPoll(t, 60*time.Second, func() string {
			var err error
			if s, err = ctServedSerial(t, d.rtEnv, name, d.roots); err != nil {
				return name + ": " + err.Error() + "\npebble:\n" + d.p.Log.String()
			}
			return ""
		})
		return s
	}
	prev := serial("a.example.test")

	certs := ctAPI(d.dash)
	for i, name := range []string{"*.example.test", "b.example.test"} {
		status, raw := certs.call(http.MethodPost, "/renew", map[string]string{"name": name})
		if status != http.StatusOK && status != http.StatusNoContent {
			t.Fatalf("renew %s: %d %s", name, status, raw)
		}
		a, b := serial("a.example.test"), serial("b.example.test")
		if a.Cmp(prev) == 0 || b.Cmp(a) != 0 {
			t.Fatalf("after renewal %d (%s): serials %v and %v, want one new certificate (was %v)", i+1, name, a, b, prev)
		}
		prev = a
	}
	if n := rtCount(d.p.Log.String(), "Added order"); n != 3 {
		t.Errorf("pebble got %d orders, want 3 (one, then one per renewal)", n)
	}
	var listed bool
	for _, s := range ctGetList(t, certs).Served {
		if s.Name == "*.example.test" {
			listed = s.Managed == "dns" && s.Certificate != nil && s.Certificate.Serial != "" && s.NextRenewal != nil
			if !listed {
				t.Errorf("the wildcard is listed as %+v, want managed dns with its certificate and next renewal", s)
			}
		}
	}
	if !listed {
		t.Errorf("the certificates list has no entry for *.example.test: %+v", ctGetList(t, certs).Served)
	}
	if status, raw := certs.call(http.MethodPost, "/renew", map[string]string{"name": "*.other.test"}); status != http.StatusBadRequest {
		t.Errorf("renew a wildcard no route serves: %d %s, want 400", status, raw)
	}

	d.dash.delete(wild.ID)
	for _, name := range []string{"a.example.test", "*.example.test", "new.example.test"} {
		if st, err := rtHandshake(d.rtEnv, name, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected
			t.Errorf("%s: served %v after its route was deleted", name, st.PeerCertificates[0].DNSNames)
		}
	}
}

// TestClusterDNSCredential changes a DNS credential on one node of a
// PostgreSQL cluster and checks that the other node's issuer uses the
// new one at once: a wildcard route names a credential created on
// node-a whose provider is down, so node-b's attempts fail with the
// provider's error; the credential is then fixed on node-a, and node-b
// gets its wildcard certificate through it without a reload.
func TestClusterDNSCredential(t *testing.T) {
	t.Parallel()
	bin, err := caddyDNS()
	if err != nil {
		t.Fatal(err)
	}
	p := rtPreparePebble(t)
	soa := newDNSServer(t)
	soa.Zone("example.test")
	httpsPort := freePort(t)
	e := startClusterWith(t, 2, postgresDatabase(t), func(e *clusterEnv) {
		e.Bin = bin
		e.Global = fmt.Sprintf("http_port %d\n\ton_demand_tls {\n\t\tpermission proxyos\n\t}", freePort(t))
		e.Sites = func(*clusterNode) string {
			return fmt.Sprintf("https://:%d {\n\ttls {\n\t\ton_demand\n\t\tissuer proxyos%s\n\t}\n\tproxyos_routes\n\trespond \"no route\" 404\n}\n",
				httpsPort, p.issuerBlock(fmt.Sprintf("resolvers %s\n\t\t\tpropagation_timeout -1", soa.Addr)))
		}
	})
	p.start(t, freePort(t), freePort(t)) // DNS-01 only: Pebble never connects to the nodes
	root, _ := p.roots(t)
	a, b := e.nodes[0], e.nodes[1]

	closed := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	e.mustCall(a, http.MethodPost, "/api/dns/credentials", e.adminCk, map[string]any{"name": "shared", "provider": "challtestsrv",
		"config": map[string]string{"url": closed}}, http.StatusCreated)
	raw := e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, rtWith(rtProxy("*.example.test", "auto", "http://127.0.0.1:9"),
		"challenge", "dns", "dns_credential", "shared"), http.StatusCreated)
	var r rtRoute
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	tlsStatus := func(n *clusterNode) string {
		var got rtRoute
		json.Unmarshal(e.mustCall(n, http.MethodGet, "/api/routes/"+r.ID, e.adminCk, nil, http.StatusOK), &got) //nolint:errcheck
		if got.TLSStatus == nil {
			return "none"
		}
		return got.TLSStatus.State + ": " + got.TLSStatus.Error
	}
	rtPoll(t, 60*time.Second, func() string {
		if st := tlsStatus(b); !strings.HasPrefix(st, "failed: ") || !strings.Contains(st, "connection refused") {
			return "node-b's tls_status is " + st + ", want failed with the provider's error"
		}
		return ""
	})

	e.mustCall(a, http.MethodPut, "/api/dns/credentials/shared", e.adminCk, map[string]any{"provider": "challtestsrv",
		"config": map[string]string{"url": p.ChallMgmt}}, http.StatusOK)
	rtPoll(t, 60*time.Second, func() string {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: rtPool(root), ServerName: "x.example.test"}}
		conn, err := d.Dial("tcp", net.JoinHostPort(b.ip, strconv.Itoa(httpsPort)))
		if err != nil {
			return "node-b: " + err.Error() + "; tls_status " + tlsStatus(b)
		}
		defer conn.Close()
		if names := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"*.example.test"}) {
			return fmt.Sprintf("node-b serves a certificate for %v", names)
		}
		return ""
	})
	if st := tlsStatus(b); !strings.HasPrefix(st, "issued") {
		t.Errorf("node-b's tls_status is %s after its certificate came, want issued", st)
	}
}
