package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The two nodes of the cluster tests listen on these loopback addresses,
// on the same ports, so that a name resolves to one node or the other.
const (
	nodeA = "127.0.0.2"
	nodeB = "127.0.0.3"
)

// stCluster is a Pebble ACME CA with pebble-challtestsrv as its DNS, and
// Caddy nodes on one PostgreSQL database with storage proxyos, serving
// managed routes with on-demand certificates from Pebble over HTTP-01.
type stCluster struct {
	t          *testing.T
	dir        string
	dsn        string
	secret     string
	pebbleAddr string
	pebbleMgmt string
	challMgmt  string
	caFile     string
	pebbleLog  *syncBuffer
	pebbleHTTP *http.Client
	roots      *x509.CertPool // Pebble's root, known once it runs
	inter      *x509.Certificate
	httpPort   int // of every node, known once the first node runs
	httpsPort  int
	nodes      map[string]*instance // by address
}

// newCluster builds and starts the DNS server and Pebble and starts node
// A; node B starts with startNode once the routes are stored.
func newCluster(t *testing.T) *stCluster {
	t.Helper()
	c := &stCluster{t: t, dir: t.TempDir(), dsn: postgresDatabase(t), secret: "cluster-secret-5d1e0c7a9b", nodes: map[string]*instance{}}
	build := exec.Command("go", "build", "-o", c.dir+string(filepath.Separator),
		"github.com/letsencrypt/pebble/v2/cmd/pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pebble: %v\n%s", err, out)
	}
	caPEM, certFile, keyFile := rtTestCA(t, c.dir)
	c.caFile = filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(c.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	caPool := x509.NewCertPool()
	caPool.AppendCertsFromPEM(caPEM)
	c.pebbleHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}

	// pebble-challtestsrv serves only DNS: names the test does not set
	// resolve to nowhere that listens.
	dnsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	c.challMgmt = "127.0.0.1:" + strconv.Itoa(freePort(t))
	rtRun(t, filepath.Join(c.dir, "pebble-challtestsrv"), nil,
		"-dnsserver", dnsAddr, "-defaultIPv4", "127.0.0.9", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
		"-management", c.challMgmt)

	c.pebbleAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	c.pebbleMgmt = "127.0.0.1:" + strconv.Itoa(freePort(t))
	c.startNode(nodeA)

	// Pebble validates challenges on the nodes' HTTP port, at the address
	// the DNS gives for the name.
	cfg, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  c.pebbleAddr,
		"managementListenAddress":        c.pebbleMgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       c.httpPort,
		"tlsPort":                        c.httpsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(c.dir, "pebble.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	c.pebbleLog = rtRun(t, filepath.Join(c.dir, "pebble"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgFile, "-dnsserver", dnsAddr)
	rtPoll(t, 30*time.Second, func() string {
		resp, err := c.pebbleHTTP.Get("https://" + c.pebbleAddr + "/dir")
		if err != nil {
			return "pebble is not up: " + err.Error() + "\n" + c.pebbleLog.String()
		}
		resp.Body.Close()
		return ""
	})
	root := c.pebblePEM("/roots/0")
	c.inter = c.pebblePEM("/intermediates/0")
	c.roots = rtPool(root)
	return c
}

// startNode starts a Caddy node on addr with the cluster's Caddyfile.
func (c *stCluster) startNode(addr string) *instance {
	c.t.Helper()
	inst := newInstance(c.t)
	first := c.httpPort == 0
	inst.Configure(func() string {
		httpPort, httpsPort := c.httpPort, c.httpsPort
		if first {
			httpPort, httpsPort = inst.Port("http"), inst.Port("https")
		}
		return fmt.Sprintf(`{
	admin %[1]s
	default_bind %[2]s
	http_port %[3]d
	https_port %[4]d
	skip_install_trust
	persist_config off
	storage proxyos
	on_demand_tls {
		permission proxyos
	}
	proxyos {
		database postgres %[5]s
		secret %[6]s
	}
}

https:// {
	tls {
		on_demand
		issuer proxyos {
			acme {
				dir https://%[7]s/dir
				trusted_roots %[8]s
				disable_tlsalpn_challenge
			}
		}
	}
	proxyos_routes
	respond "no route" 404
}

http:// {
	proxyos_routes
	respond "no route" 404
}
`, inst.Admin, addr, httpPort, httpsPort, c.dsn, c.secret, c.pebbleAddr, c.caFile)
	})
	inst.Start()
	if first {
		c.httpPort, c.httpsPort = inst.Port("http"), inst.Port("https")
	}
	c.nodes[addr] = inst
	return inst
}

// pebblePEM fetches a certificate from Pebble's management interface
// (its roots change every run).
func (c *stCluster) pebblePEM(path string) *x509.Certificate {
	c.t.Helper()
	resp, raw := do(c.t, c.pebbleHTTP, http.MethodGet, "https://"+c.pebbleMgmt+path, nil, nil)
	block, _ := pem.Decode(raw)
	if resp.StatusCode != http.StatusOK || block == nil {
		c.t.Fatalf("GET pebble %s: %d %s", path, resp.StatusCode, raw)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		c.t.Fatal(err)
	}
	return cert
}

// route stores a tls auto route for host through node's admin API.
func (c *stCluster) route(node *instance, host string) {
	c.t.Helper()
	api := rtAPI{t: c.t, base: "http://" + node.Admin + "/proxyos/routes", hc: http.DefaultClient, admin: true}
	api.create(map[string]any{"name": host, "enabled": true, "hosts": []string{host}, "kind": "static", "tls": "auto",
		"static": map[string]any{"status": 200, "body": "shared"}})
}

// resolve makes the DNS answer addr for host.
func (c *stCluster) resolve(host, addr string) {
	c.t.Helper()
	for _, call := range []struct {
		path string
		body map[string]any
	}{
		{"/clear-a", map[string]any{"host": host}},
		{"/add-a", map[string]any{"host": host, "addresses": []string{addr}}},
	} {
		b, _ := json.Marshal(call.body)
		resp, raw := do(c.t, http.DefaultClient, http.MethodPost, "http://"+c.challMgmt+call.path, bytes.NewReader(b), nil)
		if resp.StatusCode != http.StatusOK {
			c.t.Fatalf("challtestsrv %s %s: %d %s", call.path, host, resp.StatusCode, raw)
		}
	}
}

// handshake asks the node at addr for name's certificate, trusting only
// Pebble, and returns the leaf.
func (c *stCluster) handshake(addr, name string) (*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{ServerName: name, RootCAs: c.roots}}
	conn, err := d.Dial("tcp", net.JoinHostPort(addr, strconv.Itoa(c.httpsPort)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// awaitCertificate handshakes with the node at addr until it presents
// Pebble's certificate for name.
func (c *stCluster) awaitCertificate(addr, name string, timeout time.Duration) *x509.Certificate {
	c.t.Helper()
	var leaf *x509.Certificate
	rtPoll(c.t, timeout, func() string {
		var err error
		if leaf, err = c.handshake(addr, name); err != nil {
			return fmt.Sprintf("no certificate for %s from %s: %v", name, addr, err)
		}
		return ""
	})
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: rtPool(c.inter), DNSName: name}); err != nil {
		c.t.Fatalf("%s's certificate for %s does not chain to Pebble: %v", addr, name, err)
	}
	return leaf
}

// logLines returns the JSON log lines of the node's runs whose msg is
// msg and whose field holds value.
func logLines(inst *instance, msg, field, value string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(inst.FullLog(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg || m[field] != value {
			continue
		}
		out = append(out, m)
	}
	return out
}

// logTime is the time of a JSON log line.
func logTime(m map[string]any) time.Time {
	ts, _ := m["ts"].(float64)
	return time.Unix(0, int64(ts*float64(time.Second)))
}

// TestClusterSharesCertificate: two nodes on one database obtain one
// certificate for a name: node A starts the order, the name resolves to
// node B, which answers Pebble's HTTP-01 challenge from the token A put
// in the shared storage, and node B then serves the certificate A stored
// without ordering another.
func TestClusterSharesCertificate(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const name = "shared.proxyos.test"
	a := c.nodes[nodeA]
	c.route(a, name)
	b := c.startNode(nodeB)
	c.resolve(name, nodeB)

	leafA := c.awaitCertificate(nodeA, name, 90*time.Second)
	leafB := c.awaitCertificate(nodeB, name, 30*time.Second)
	if !bytes.Equal(leafA.Raw, leafB.Raw) {
		t.Fatalf("the nodes serve different certificates for %s (serials %s and %s)", name, leafA.SerialNumber, leafB.SerialNumber)
	}
	if n := rtCount(c.pebbleLog.String(), "Added order"); n != 1 {
		t.Errorf("pebble got %d orders, want 1 for the cluster", n)
	}
	if len(logLines(a, "obtaining new certificate", "server_name", name)) != 1 || len(logLines(b, "obtaining new certificate", "server_name", name)) != 0 {
		t.Errorf("node A should have obtained the certificate and node B not")
	}
	served := logLines(b, "served key authentication", "identifier", name)
	if len(served) == 0 || served[0]["distributed"] != true {
		t.Errorf("node B did not answer the challenge from the shared storage: %v", served)
	}
	if n := len(logLines(a, "served key authentication", "identifier", name)); n != 0 {
		t.Errorf("node A answered %d challenges; the name resolves to node B", n)
	}

	// The certificate is in the database, not in a node's data directory.
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var certs int
	if err := db.QueryRow(`SELECT count(*) FROM certmagic_data WHERE key LIKE 'certificates/%/` + name + `/` + name + `.crt'`).Scan(&certs); err != nil || certs != 1 {
		t.Errorf("%d certificates for %s in certmagic_data (%v), want 1", certs, name, err)
	}
	for addr, inst := range c.nodes {
		if _, err := os.Stat(filepath.Join(inst.Home, "data", "caddy", "certificates")); !os.IsNotExist(err) {
			t.Errorf("node %s keeps certificates in its data directory (%v)", addr, err)
		}
		if strings.Contains(inst.FullLog(), c.secret) {
			t.Errorf("node %s logs the secret", addr)
		}
	}
}

// TestClusterTakesOverDeadNodesLock: node A starts an order and holds the
// certificate's lock while Pebble validates (at an address that never
// answers); A is killed with SIGKILL, leaving its lock behind. Node B,
// asked for the same certificate, waits for the lock until its expiry
// (at most a minute after A's last refresh), then takes it over and
// obtains the certificate.
func TestClusterTakesOverDeadNodesLock(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const name = "held.proxyos.test"
	a := c.nodes[nodeA]
	c.route(a, name)
	b := c.startNode(nodeB)

	// Pebble's validation of A's order hangs on this listener.
	const nowhere = "127.0.0.4"
	tarpit, err := net.Listen("tcp", net.JoinHostPort(nowhere, strconv.Itoa(c.httpPort)))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	validating := make(chan struct{}, 1)
	go func() {
		for {
			conn, err := tarpit.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			select {
			case validating <- struct{}{}:
			default:
			}
		}
	}()
	closeTarpit := func() {
		tarpit.Close()
		mu.Lock()
		for _, conn := range conns {
			conn.Close()
		}
		mu.Unlock()
	}
	defer closeTarpit()
	c.resolve(name, nowhere)

	go c.handshake(nodeA, name) //nolint:errcheck // A dies during it
	select {
	case <-validating:
	case <-time.After(60 * time.Second):
		t.Fatalf("pebble never validated A's order\n%s", c.pebbleLog)
	}

	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock := func() (owner string, expires time.Time, err error) {
		err = db.QueryRow(`SELECT owner, expires_at FROM certmagic_locks WHERE name = $1`, "issue_cert_"+name).Scan(&owner, &expires)
		return owner, expires, err
	}
	if _, _, err := lock(); err != nil {
		t.Fatalf("node A holds no lock while it obtains %s: %v", name, err)
	}
	a.Kill()
	killed := time.Now()
	deadOwner, deadExpires, err := lock()
	if err != nil {
		t.Fatalf("the dead node's lock is gone at once (%v): SIGKILL leaves it behind", err)
	}
	if left := deadExpires.Sub(killed); left <= 0 || left > 61*time.Second {
		t.Fatalf("the dead node's lock expires %s after the kill, want within the 1m expiry", left)
	}
	closeTarpit()
	c.resolve(name, nodeB)

	leaf := c.awaitCertificate(nodeB, name, time.Until(deadExpires)+90*time.Second)
	if leaf.DNSNames[0] != name {
		t.Fatalf("node B's certificate is for %v", leaf.DNSNames)
	}
	acquiring := logLines(b, "acquiring lock", "identifier", name)
	acquired := logLines(b, "lock acquired", "identifier", name)
	if len(acquiring) == 0 || len(acquired) == 0 {
		t.Fatalf("node B's log does not show it waiting for and acquiring the lock")
	}
	asked, got := logTime(acquiring[0]), logTime(acquired[0])
	t.Logf("node A killed; its lock expired %s later; node B asked for it %s after the kill and got it %s after the expiry",
		deadExpires.Sub(killed).Round(time.Millisecond), asked.Sub(killed).Round(time.Millisecond), got.Sub(deadExpires).Round(time.Millisecond))
	if !asked.Before(deadExpires) {
		t.Errorf("node B asked for the lock at %s, after the dead lock expired (%s): it did not have to wait", asked, deadExpires)
	}
	if got.Before(deadExpires.Add(-100*time.Millisecond)) || got.After(deadExpires.Add(5*time.Second)) {
		t.Errorf("node B got the lock at %s, want just after the dead node's lock expired at %s", got, deadExpires)
	}
	if owner, _, err := lock(); err == nil && owner == deadOwner {
		t.Errorf("the dead node still holds the lock")
	}
}
