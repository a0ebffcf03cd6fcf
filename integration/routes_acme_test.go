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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRouteACME obtains the certificate of a tls auto route from a real
// ACME server (Pebble, on loopback, validating HTTP-01 or TLS-ALPN-01
// challenges against this Caddy), while a tls internal route on the same
// site still gets Caddy's internal CA: the issuer is chosen per route at
// issuance, without a reload.
func TestRouteACME(t *testing.T) {
	t.Parallel()
	p := rtPreparePebble(t)
	e := rtPrepare(t)
	// The ACME options go in the issuer's block: with global acme_ca and
	// acme_ca_root, the Caddyfile adapter makes a catch-all automation
	// policy that conflicts with the hostless https:// site's issuer.
	e.IssuerBlock = p.issuerBlock("")
	e.start("")
	p.start(t, e.HTTPPort, e.HTTPSPort)
	pebbleLog := p.Log

	up := rtNewUpstream(t, "acme", false)
	e.dash.create(rtProxy("auto.proxyos.test", "auto", up.URL))
	e.dash.create(rtProxy("internal.acme.proxyos.test", "internal", up.URL))

	// Pebble's roots change every run; its management interface has them.
	pebbleRoot, pebbleInter := p.roots(t)
	roots := x509.NewCertPool()
	roots.AddCert(pebbleRoot)

	var st tls.ConnectionState
	rtPoll(t, 90*time.Second, func() string {
		var err error
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 60 * time.Second}, Config: &tls.Config{ServerName: "auto.proxyos.test", RootCAs: roots}}
		conn, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPSPort))
		if err != nil {
			return "no certificate from pebble for auto.proxyos.test: " + err.Error()
		}
		st = conn.(*tls.Conn).ConnectionState()
		conn.Close()
		return ""
	})
	leaf := st.PeerCertificates[0]
	if !slices.Equal(leaf.DNSNames, []string{"auto.proxyos.test"}) || !bytes.Equal(leaf.RawIssuer, pebbleInter.RawSubject) {
		t.Fatalf("certificate for %v issued by %q, want auto.proxyos.test by pebble's intermediate %q", leaf.DNSNames, leaf.Issuer, pebbleInter.Subject)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: rtPool(pebbleInter), DNSName: "auto.proxyos.test"}); err != nil {
		t.Fatalf("certificate does not chain to pebble's root: %v", err)
	}

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: rtDialLoopback, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := hc.Get("https://auto.proxyos.test:" + strconv.Itoa(e.HTTPSPort) + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != up.Name {
		t.Fatalf("GET https://auto.proxyos.test/: %d from %q", resp.StatusCode, resp.Header.Get("X-Upstream"))
	}

	// The tls internal route on the same site gets the internal CA.
	st2, err := rtHandshake(e, "internal.acme.proxyos.test", &tls.Config{RootCAs: rtLocalRoot(t, e)})
	if err != nil {
		t.Fatalf("tls internal route next to ACME: %v", err)
	}
	if iss := st2.PeerCertificates[0].Issuer.CommonName; !strings.Contains(iss, "Caddy Local Authority") {
		t.Errorf("tls internal route got a certificate from %q", iss)
	}

	// A host without a route never reaches the CA.
	orders := rtCount(pebbleLog.String(), "Added order")
	if orders == 0 {
		t.Errorf("pebble's log shows no order")
	}
	if _, err := rtHandshake(e, "stranger.proxyos.test", &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected
		t.Errorf("a host without a route got a certificate")
	}
	if n := rtCount(pebbleLog.String(), "Added order"); n != orders {
		t.Errorf("pebble got %d new orders for a host without a route", n-orders)
	}
}

// rtPebble is a Pebble ACME server on loopback with pebble-challtestsrv
// as its DNS server (every name is 127.0.0.1, TXT records as its
// management API sets them).
type rtPebble struct {
	Dir       string
	CAFile    string // the root of Pebble's own HTTPS listeners
	Addr      string // Pebble's ACME listener
	MgmtAddr  string // Pebble's management listener (roots, intermediates)
	DNSAddr   string // challtestsrv's DNS server
	ChallMgmt string // challtestsrv's management API, http://host:port
	Log       *syncBuffer
	HTTP      *http.Client // trusts CAFile
	// Blocked are names Pebble refuses by policy (rejectedIdentifier);
	// set before start.
	Blocked []string

	caPEM             []byte
	certFile, keyFile string
}

// rtPreparePebble builds Pebble and challtestsrv and starts challtestsrv;
// Pebble starts once Caddy's ports are known (start).
func rtPreparePebble(t *testing.T) *rtPebble {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/letsencrypt/pebble/v2/cmd/pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pebble: %v\n%s", err, out)
	}
	p := &rtPebble{Dir: dir}
	p.caPEM, p.certFile, p.keyFile = rtTestCA(t, dir)
	p.CAFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p.CAFile, p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// pebble-challtestsrv only serves DNS here: every name is 127.0.0.1.
	p.DNSAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	challMgmt := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p.ChallMgmt = "http://" + challMgmt
	rtRun(t, filepath.Join(dir, "pebble-challtestsrv"), nil,
		"-dnsserver", p.DNSAddr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
		"-management", challMgmt)
	p.Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	p.MgmtAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	caPool := x509.NewCertPool()
	caPool.AppendCertsFromPEM(p.caPEM)
	p.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	return p
}

// rtNewPebble prepares Pebble for e (not yet started): its issuer
// points at it. Start it with p.start(t, e.HTTPPort, e.HTTPSPort) once
// e runs.
func rtNewPebble(t *testing.T, e *rtEnv) *rtPebble {
	t.Helper()
	p := rtPreparePebble(t)
	e.IssuerBlock = p.issuerBlock("")
	return p
}

// issuerBlock is the block of "issuer proxyos" pointing its ACME issuer
// at Pebble, with more issuer options.
func (p *rtPebble) issuerBlock(more string) string {
	return fmt.Sprintf(` {
			acme {
				dir https://%s/dir
				trusted_roots %s
			}
			%s
		}`, p.Addr, p.CAFile, more)
}

// start runs Pebble, validating challenges on Caddy's ports, and waits
// until it answers.
func (p *rtPebble) start(t *testing.T, httpPort, tlsPort int) {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  p.Addr,
		"managementListenAddress":        p.MgmtAddr,
		"certificate":                    p.certFile,
		"privateKey":                     p.keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
		"domainBlocklist":                p.Blocked,
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(p.Dir, "pebble.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p.Log = rtRun(t, filepath.Join(p.Dir, "pebble"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", cfgFile, "-dnsserver", p.DNSAddr)
	rtPoll(t, 30*time.Second, func() string {
		resp, err := p.HTTP.Get("https://" + p.Addr + "/dir")
		if err != nil {
			return "pebble is not up: " + err.Error() + "\n" + p.Log.String()
		}
		resp.Body.Close()
		return ""
	})
}

// roots returns Pebble's root and intermediate (new each run).
func (p *rtPebble) roots(t *testing.T) (root, inter *x509.Certificate) {
	t.Helper()
	fetch := func(path string) *x509.Certificate {
		resp, raw := do(t, p.HTTP, http.MethodGet, "https://"+p.MgmtAddr+path, nil, nil)
		block, _ := pem.Decode(raw)
		if resp.StatusCode != http.StatusOK || block == nil {
			t.Fatalf("GET pebble %s: %d %s", path, resp.StatusCode, raw)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return fetch("/roots/0"), fetch("/intermediates/0")
}

// rtRun starts a helper process that the test stops at cleanup, and
// returns its output.
func rtRun(t *testing.T, bin string, env []string, args ...string) *syncBuffer {
	t.Helper()
	out := new(syncBuffer)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // may have exited
		cmd.Wait()         //nolint:errcheck // killed
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out)
		}
	})
	return out
}

func rtPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// rtTestCA makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it (for Pebble's own HTTPS listeners), writes the leaf and
// its key to dir and returns the CA certificate as PEM.
func rtTestCA(t *testing.T, dir string) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "proxyos test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile
}
