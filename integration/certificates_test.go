package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ctCA is a test CA that signs the custom certificates the tests upload.
type ctCA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCTCA(t testing.TB) *ctCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "proxyos test custom CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &ctCA{t: t, cert: c, key: key, pool: pool}
}

// ctIssued is a custom certificate: its chain and key (PEM) and serial.
type ctIssued struct {
	Chain, Key string
	Serial     *big.Int
}

// issue signs a leaf for names valid until notAfter.
func (ca *ctCA) issue(notAfter time.Time, names ...string) ctIssued {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return ctIssued{
		Chain:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Serial: serial,
	}
}

// ctAPI returns the certificates API of a route API (same client, same
// headers).
func ctAPI(routes rtAPI) rtAPI {
	routes.base = strings.TrimSuffix(routes.base, "/routes") + "/certificates"
	return routes
}

// ctUpload uploads a custom certificate and returns its id.
func ctUpload(t testing.TB, api rtAPI, c ctIssued) string {
	t.Helper()
	status, raw := api.call(http.MethodPost, "", map[string]string{"chain": c.Chain, "key": c.Key})
	if status != http.StatusCreated {
		t.Fatalf("%s: upload: %d %s", api, status, raw)
	}
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &v) //nolint:errcheck
	return v.ID
}

// ctServedSerial handshakes for host, trusting pool, and returns the
// serial of the leaf served.
func ctServedSerial(t testing.TB, e *rtEnv, host string, pool *x509.CertPool) (*big.Int, error) {
	t.Helper()
	st, err := rtHandshake(e, host, &tls.Config{RootCAs: pool})
	if err != nil {
		return nil, err
	}
	return st.PeerCertificates[0].SerialNumber, nil
}

// ctList is the answer of GET /api/certificates.
type ctList struct {
	Served []struct {
		Name          string `json:"name"`
		RouteID       string `json:"route_id"`
		Mode          string `json:"mode"`
		Managed       string `json:"managed"`
		Issuer        string `json:"issuer"`
		CertificateID string `json:"certificate_id"`
		Certificate   *struct {
			Names    []string  `json:"names"`
			Serial   string    `json:"serial"`
			NotAfter time.Time `json:"not_after"`
		} `json:"certificate"`
		LastAttempt *struct {
			Error string `json:"error"`
		} `json:"last_attempt"`
		NextRenewal *time.Time `json:"next_renewal"`
		ExpiresSoon bool       `json:"expires_soon"`
		Failing     bool       `json:"failing"`
	} `json:"served"`
	Custom []map[string]any `json:"custom"`
}

func ctGetList(t testing.TB, api rtAPI) ctList {
	t.Helper()
	status, raw := api.call(http.MethodGet, "", nil)
	if status != http.StatusOK {
		t.Fatalf("%s: GET certificates: %d %s", api, status, raw)
	}
	var l ctList
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("GET certificates: %v: %s", err, raw)
	}
	return l
}

// TestCertificates runs the certificate tests that share one Caddy:
// custom certificates served and replaced without a reload, switching a
// route between TLS modes (the old certificate is no longer served), the
// list, renew now, the root download and who may do what.
func TestCertificates(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "debug")
	ca := newCTCA(t)
	certs := ctAPI(e.dash)
	var keys []string // every private key uploaded: never in a response or the log

	t.Run("CustomServedAndReplaced", func(t *testing.T) {
		up := rtNewUpstream(t, "custom", false)
		const host = "custom.proxyos.test"
		first := ca.issue(time.Now().Add(20*24*time.Hour), host)
		keys = append(keys, first.Key)
		id := ctUpload(t, certs, first)
		e.dash.create(rtWith(rtProxy(host, "custom", up.URL), "certificate", id))
		if got, err := ctServedSerial(t, e, host, ca.pool); err != nil || got.Cmp(first.Serial) != 0 {
			t.Fatalf("handshake for a tls custom route: serial %v, %v; want the uploaded %v", got, err, first.Serial)
		}
		second := ca.issue(time.Now().Add(60*24*time.Hour), host, "other.proxyos.test")
		keys = append(keys, second.Key)
		status, raw := certs.call(http.MethodPut, "/"+id, map[string]string{"chain": second.Chain, "key": second.Key})
		if status != http.StatusOK {
			t.Fatalf("replace: %d %s", status, raw)
		}
		if got, err := ctServedSerial(t, e, host, ca.pool); err != nil || got.Cmp(second.Serial) != 0 {
			t.Fatalf("after replacing: serial %v, %v; want the new %v at once", got, err, second.Serial)
		}
		// A replacement must still cover the routes' hosts.
		wrong := ca.issue(time.Now().Add(24*time.Hour), "elsewhere.proxyos.test")
		keys = append(keys, wrong.Key)
		if status, raw := certs.call(http.MethodPut, "/"+id, map[string]string{"chain": wrong.Chain, "key": wrong.Key}); status != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"chain"`) {
			t.Fatalf("replacing with a certificate not covering the route: %d %s, want 400 on chain", status, raw)
		}
		// Not deleted while a route serves it.
		if status, raw := certs.call(http.MethodDelete, "/"+id, nil); status != http.StatusConflict {
			t.Fatalf("deleting a certificate in use: %d %s, want 409", status, raw)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		good := ca.issue(time.Now().Add(24*time.Hour), "refused.proxyos.test")
		other := ca.issue(time.Now().Add(24*time.Hour), "refused.proxyos.test")
		expired := ca.issue(time.Now().Add(-time.Minute), "refused.proxyos.test")
		keys = append(keys, good.Key, other.Key, expired.Key)
		for _, c := range []struct {
			name  string
			body  map[string]string
			field string
		}{
			{"key mismatch", map[string]string{"chain": good.Chain, "key": other.Key}, "key"},
			{"expired", map[string]string{"chain": expired.Chain, "key": expired.Key}, "chain"},
			{"garbage", map[string]string{"chain": "not PEM", "key": good.Key}, "chain"},
			{"key without certificate", map[string]string{"key": good.Key}, "chain"},
		} {
			status, raw := certs.call(http.MethodPost, "", c.body)
			if status != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"`+c.field+`"`) {
				t.Errorf("%s: %d %s, want 400 naming %s", c.name, status, raw, c.field)
			}
		}
		// A route's hosts must be covered by its certificate.
		id := ctUpload(t, certs, good)
		status, raw := e.dash.call(http.MethodPost, "", rtWith(rtProxy("uncovered.proxyos.test", "custom", "http://127.0.0.1:9"), "certificate", id))
		if status != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"certificate"`) {
			t.Errorf("route with a certificate not covering its host: %d %s, want 400 on certificate", status, raw)
		}
	})

	t.Run("SwitchModes", func(t *testing.T) {
		// The eviction test: a route switched between internal, custom
		// and off serves only the certificate of its current mode.
		up := rtNewUpstream(t, "switch", false)
		const host = "switch.proxyos.test"
		local := rtLocalRoot(t, e)
		r := e.dash.create(rtProxy(host, "internal", up.URL))
		internal, err := ctServedSerial(t, e, host, local)
		if err != nil {
			t.Fatalf("tls internal: %v", err)
		}
		custom := ca.issue(time.Now().Add(30*24*time.Hour), host)
		keys = append(keys, custom.Key)
		id := ctUpload(t, certs, custom)
		r = e.dash.update(r.ID, r.Version, rtWith(rtProxy(host, "custom", up.URL), "certificate", id))
		if got, err := ctServedSerial(t, e, host, ca.pool); err != nil || got.Cmp(custom.Serial) != 0 {
			t.Fatalf("internal → custom: serial %v, %v; want the custom %v (the cached internal one must not be served)", got, err, custom.Serial)
		}
		r = e.dash.update(r.ID, r.Version, rtProxy(host, "internal", up.URL))
		if got, err := ctServedSerial(t, e, host, local); err != nil {
			t.Fatalf("custom → internal: %v (the custom certificate is still served?)", err)
		} else if got.Cmp(custom.Serial) == 0 {
			t.Fatal("custom → internal: the custom certificate is still served")
		} else if got.Cmp(internal) != 0 {
			t.Logf("custom → internal: a new internal certificate (%v, was %v)", got, internal)
		}
		r = e.dash.update(r.ID, r.Version, rtProxy(host, "off", up.URL))
		if _, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
			t.Fatal("internal → off: a certificate is still served")
		}
		r = e.dash.update(r.ID, r.Version, rtWith(rtProxy(host, "custom", up.URL), "certificate", id))
		if got, err := ctServedSerial(t, e, host, ca.pool); err != nil || got.Cmp(custom.Serial) != 0 {
			t.Fatalf("off → custom: serial %v, %v", got, err)
		}
		e.dash.update(r.ID, r.Version, rtProxy(host, "off", up.URL))
		if _, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
			t.Fatal("custom → off: the custom certificate is still served")
		}
	})

	t.Run("ListRenewRoot", func(t *testing.T) {
		up := rtNewUpstream(t, "listed", false)
		const host = "listed.proxyos.test"
		local := rtLocalRoot(t, e)
		e.dash.create(rtProxy(host, "internal", up.URL))
		before, err := ctServedSerial(t, e, host, local)
		if err != nil {
			t.Fatal(err)
		}
		l := ctGetList(t, certs)
		found := false
		for _, s := range l.Served {
			if s.Name != host {
				continue
			}
			found = true
			if s.Issuer != "internal" || s.Managed != "on_demand" || s.Certificate == nil || s.NextRenewal == nil ||
				s.Certificate.Serial != before.Text(16) || time.Until(s.Certificate.NotAfter) <= 0 {
				t.Errorf("listed %s: %+v", host, s)
			}
		}
		if !found {
			t.Fatalf("GET /api/certificates does not list %s", host)
		}
		// Renew now: a new certificate, served at once.
		status, raw := certs.call(http.MethodPost, "/renew", map[string]string{"name": host})
		if status != http.StatusOK {
			t.Fatalf("renew: %d %s", status, raw)
		}
		after, err := ctServedSerial(t, e, host, local)
		if err != nil || after.Cmp(before) == 0 {
			t.Fatalf("after renew now: serial %v, %v; want a new one (was %v)", after, err, before)
		}
		// The root download is the internal CA's root.
		resp, body := do(t, e.admin.HTTP, http.MethodGet, e.admin.Base+"/api/certificates/root.crt", nil, nil)
		want, err := os.ReadFile(filepath.Join(e.inst.Home, "data", "caddy", "pki", "authorities", "local", "root.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(want)) {
			t.Fatalf("root download: %d, %d bytes; want the internal CA's root.crt", resp.StatusCode, len(body))
		}
	})

	// A viewer may look, never upload, replace, delete or renew; an
	// anonymous client may not even look.
	t.Run("Roles", func(t *testing.T) {
		c := ca.issue(time.Now().Add(24*time.Hour), "viewer.proxyos.test")
		keys = append(keys, c.Key)
		id := ctUpload(t, certs, c)
		viewerClient, _ := e.login("cert-viewer@proxyos.test", "viewer")
		viewer := ctAPI(rtDashAPI(t, viewerClient))
		ctGetList(t, viewer)
		for _, call := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "", map[string]string{"chain": c.Chain, "key": c.Key}},
			{http.MethodPut, "/" + id, map[string]string{"chain": c.Chain, "key": c.Key}},
			{http.MethodDelete, "/" + id, nil},
			{http.MethodPost, "/renew", map[string]string{"name": "listed.proxyos.test"}},
		} {
			if status, raw := viewer.call(call.method, call.path, call.body); status != http.StatusForbidden {
				t.Errorf("viewer %s /api/certificates%s: %d %s, want 403", call.method, call.path, status, raw)
			}
		}
		anon := certs
		anon.hc = &http.Client{Timeout: 10 * time.Second}
		if status, raw := anon.call(http.MethodGet, "", nil); status != http.StatusUnauthorized {
			t.Errorf("anonymous GET /api/certificates: %d %s, want 401", status, raw)
		}
		if status, _ := certs.call(http.MethodDelete, "/"+id, nil); status != http.StatusNoContent {
			t.Errorf("admin DELETE unused certificate: %d, want 204", status)
		}
	})

	// Caddy's admin API does the same with the same rules.
	t.Run("AdminAPI", func(t *testing.T) {
		admin := ctAPI(e.api)
		c := ca.issue(time.Now().Add(24*time.Hour), "admin-api.proxyos.test")
		keys = append(keys, c.Key)
		id := ctUpload(t, admin, c)
		found := false
		for _, cc := range ctGetList(t, admin).Custom {
			found = found || cc["id"] == id
			if _, ok := cc["key"]; ok {
				t.Errorf("the admin API's list shows a key")
			}
		}
		if !found {
			t.Fatalf("the admin API's list lacks the uploaded certificate")
		}
		if status, raw := admin.call(http.MethodPost, "", map[string]string{"chain": c.Chain, "key": "garbage"}); status != http.StatusBadRequest {
			t.Errorf("admin API upload with a bad key: %d %s, want 400", status, raw)
		}
		if status, raw := admin.call(http.MethodDelete, "/"+id, nil); status != http.StatusNoContent {
			t.Errorf("admin API delete: %d %s", status, raw)
		}
	})

	// Private keys are secrets: no answer, audit entry or log line holds
	// one (an attacker reading logs or the audit page learns nothing).
	t.Run("KeysNeverShown", func(t *testing.T) {
		_, list := certs.call(http.MethodGet, "", nil)
		_, audit := do(t, e.admin.HTTP, http.MethodGet, e.admin.Base+"/api/audit", nil, nil)
		log := e.inst.Log()
		for _, k := range keys {
			body := strings.Split(k, "\n")[1] // the first line of base64
			for what, text := range map[string]string{"GET /api/certificates": string(list), "audit log": string(audit), "Caddy's log": log} {
				if strings.Contains(text, body) {
					t.Errorf("%s holds an uploaded private key", what)
				}
			}
		}
		if !strings.Contains(string(audit), "certificate.upload") {
			t.Errorf("the audit log has no certificate.upload entry")
		}
	})
}

// TestClusterCustomCertificate uploads a custom certificate on one node
// of a PostgreSQL cluster and replaces it: every node serves each
// version at once (through the change log), without a reload.
func TestClusterCustomCertificate(t *testing.T) {
	t.Parallel()
	httpsPort := freePort(t)
	e := startClusterWith(t, 2, postgresDatabase(t), func(e *clusterEnv) {
		e.Global = "on_demand_tls {\n\t\tpermission proxyos\n\t}"
		e.Sites = func(*clusterNode) string {
			return fmt.Sprintf("https://:%d {\n\ttls {\n\t\ton_demand\n\t\tissuer proxyos\n\t}\n\tproxyos_routes\n\trespond \"no route\" 404\n}\n", httpsPort)
		}
	})
	a, b := e.nodes[0], e.nodes[1]
	ca := newCTCA(t)
	const host = "custom.cluster.test"
	serial := func(n *clusterNode) string {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: ca.pool, ServerName: host}}
		conn, err := d.Dial("tcp", net.JoinHostPort(n.ip, strconv.Itoa(httpsPort)))
		if err != nil {
			return err.Error()
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}

	first := ca.issue(time.Now().Add(30*24*time.Hour), host)
	raw := e.mustCall(a, http.MethodPost, "/api/certificates", e.adminCk, map[string]string{"chain": first.Chain, "key": first.Key}, http.StatusCreated)
	var c struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &c) //nolint:errcheck
	e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, map[string]any{
		"name": "custom", "hosts": []string{host}, "kind": "static", "static": map[string]any{"body": "ok"},
		"tls": "custom", "certificate": c.ID,
	}, http.StatusCreated)
	e.everywhere("a custom certificate uploaded on node-a", nil, func(n *clusterNode) (bool, string) {
		got := serial(n)
		return got == first.Serial.String(), got
	})

	second := ca.issue(time.Now().Add(60*24*time.Hour), host)
	e.mustCall(a, http.MethodPut, "/api/certificates/"+c.ID, e.adminCk, map[string]string{"chain": second.Chain, "key": second.Key}, http.StatusOK)
	e.everywhere("a custom certificate replaced on node-a", nil, func(n *clusterNode) (bool, string) {
		got := serial(n)
		return got == second.Serial.String(), got
	})
	if got := serial(b); got != second.Serial.String() {
		t.Fatalf("node-b serves %s after the replacement, want %s", got, second.Serial)
	}
	for _, n := range e.nodes {
		if strings.Contains(n.inst.Log(), strings.Split(second.Key, "\n")[1]) {
			t.Errorf("%s's log holds the uploaded private key", n.name)
		}
	}
}

// TestCertificatesACME shows a CA's refusal on the certificates list,
// verbatim, as the name's last attempt; and switches a route from tls
// internal to auto: the stored internal certificate is no longer served,
// the next handshake gets one from the ACME CA (Pebble).
func TestCertificatesACME(t *testing.T) {
	t.Parallel()
	const refused, switched = "refused.acme.proxyos.test", "switch.acme.proxyos.test"
	e := rtPrepare(t)
	pb := rtNewPebble(t, e)
	pb.Blocked = []string{refused}
	e.start("")
	pb.start(t, e.HTTPPort, e.HTTPSPort)
	certs := ctAPI(e.dash)
	up := rtNewUpstream(t, "acme-certs", false)

	e.dash.create(rtProxy(refused, "auto", up.URL))
	if _, err := rtHandshake(e, refused, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected
		t.Fatalf("a handshake for %s, which the CA refuses, succeeded", refused)
	}
	rtPoll(t, 30*time.Second, func() string {
		for _, s := range ctGetList(t, certs).Served {
			if s.Name == refused && s.Failing && s.LastAttempt != nil &&
				strings.Contains(s.LastAttempt.Error, "rejectedIdentifier") && strings.Contains(s.LastAttempt.Error, "forbidden by policy") {
				return ""
			}
		}
		return "GET /api/certificates does not show the CA's refusal for " + refused
	})

	r := e.dash.create(rtProxy(switched, "internal", up.URL))
	if _, err := rtHandshake(e, switched, &tls.Config{RootCAs: rtLocalRoot(t, e)}); err != nil {
		t.Fatalf("tls internal: %v", err)
	}
	e.dash.update(r.ID, r.Version, rtProxy(switched, "auto", up.URL))
	root, inter := pb.roots(t)
	roots := x509.NewCertPool()
	roots.AddCert(root)
	rtPoll(t, 60*time.Second, func() string {
		st, err := rtHandshake(e, switched, &tls.Config{RootCAs: roots})
		if err != nil {
			return "internal → auto: no certificate from the ACME CA: " + err.Error()
		}
		if !bytes.Equal(st.PeerCertificates[0].RawIssuer, inter.RawSubject) {
			return "internal → auto: served a certificate of " + st.PeerCertificates[0].Issuer.String()
		}
		return ""
	})
	for _, s := range ctGetList(t, certs).Served {
		if s.Name == switched && (s.Issuer != "acme" || s.Mode != "auto") {
			t.Errorf("listed after the switch: %+v", s)
		}
	}
}
