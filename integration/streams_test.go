package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// stEnv is a Caddy with the proxyos_streams wrapper on its servers, and
// the two stream APIs.
type stEnv struct {
	*rtEnv
	dash, admin rtAPI
}

// TestStreams runs the stream tests that share one Caddy: TCP, UDP and
// PostgreSQL through streams, SNI routing beside an HTTPS route on one
// port, validation, roles, history, live changes under load. At the end
// it checks that no change reloaded Caddy's config.
func TestStreams(t *testing.T) {
	t.Parallel()
	re := rtPrepare(t)
	re.start(`servers {
		listener_wrappers {
			proxyos_streams
			tls
		}
	}`)
	e := &stEnv{rtEnv: re}
	e.dash = rtAPI{t: t, base: e.admin0().Base + "/api/streams", hc: e.admin0().HTTP, hdr: http.Header{
		"Origin": {e.admin0().Base}, "Content-Type": {"application/json"},
	}}
	e.admin = rtAPI{t: t, base: "http://" + re.inst.Admin + "/proxyos/streams", hc: http.DefaultClient, admin: true}

	t.Run("TCP", e.testTCP)
	t.Run("UDP", e.testUDP)
	t.Run("PostgreSQL", e.testPostgres)
	t.Run("SNI", e.testSNI)
	t.Run("TLSTerminate", e.testTerminate)
	t.Run("Overlap", e.testOverlap)
	t.Run("ImportOverlap", e.testImportOverlap)
	t.Run("Validation", e.testValidation)
	t.Run("OperatorPorts", e.testOperatorPorts)
	t.Run("HistoryRollback", e.testHistory)
	t.Run("LiveChangesUnderLoad", e.testUnderLoad)

	log := re.inst.Log()
	if n := rtCount(log, "serving initial configuration"); n != 1 {
		t.Errorf("log has %d \"serving initial configuration\" lines, want 1", n)
	}
	if n := rtCount(log, `"msg":"proxyos started"`); n != 1 {
		t.Errorf("proxyos started %d times, want 1: stream changes must not reload the config", n)
	}
}

func (e *stEnv) admin0() *client { return e.rtEnv.admin }

// stStream is a stream as the APIs answer it.
type stStream struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Enabled   bool     `json:"enabled"`
	Listen    string   `json:"listen"`
	Upstreams []string `json:"upstreams"`
	TLS       string   `json:"tls"`
	Hosts     []string `json:"hosts"`
	Version   int      `json:"version"`
}

func (e *stEnv) create(api rtAPI, spec map[string]any) stStream {
	e.t.Helper()
	status, raw := api.call(http.MethodPost, "", spec)
	if status != http.StatusCreated {
		e.t.Fatalf("%s: create stream %v: %d %s", api, spec, status, raw)
	}
	var s stStream
	if err := json.Unmarshal(raw, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *stEnv) update(api rtAPI, id string, spec map[string]any) stStream {
	e.t.Helper()
	status, raw := api.call(http.MethodPut, "/"+id, spec)
	if status != http.StatusOK {
		e.t.Fatalf("%s: update stream %v: %d %s", api, spec, status, raw)
	}
	var s stStream
	if err := json.Unmarshal(raw, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// tcpEcho starts a TCP server that answers each line with prefix+line.
func tcpEcho(t *testing.T, prefix string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, prefix+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// udpEcho starts a UDP server that answers each datagram with
// prefix+datagram.
func udpEcho(t *testing.T, prefix string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte(prefix), buf[:n]...), addr)
		}
	}()
	return pc.LocalAddr().String()
}

// echoLine sends a line on conn and returns the answer.
func echoLine(conn net.Conn, line string) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

// tcpVia dials addr, sends a line and returns the answer.
func tcpVia(addr, line string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return echoLine(conn, line)
}

func (e *stEnv) testTCP(t *testing.T) {
	up := tcpEcho(t, "tcp:")
	port := freePort(t)
	s := e.create(e.dash, map[string]any{"name": "tcp echo", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", port), "upstreams": []string{up}})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if got, err := tcpVia(addr, "hello"); err != nil || got != "tcp:hello" {
		t.Fatalf("through the stream: %q, %v; want tcp:hello", got, err)
	}
	// Disabled: the listener closes.
	spec := map[string]any{"name": "tcp echo", "enabled": false, "listen": s.Listen, "upstreams": []string{up}, "version": s.Version}
	s = e.update(e.dash, s.ID, spec)
	if _, err := tcpVia(addr, "x"); err == nil {
		t.Fatal("a disabled stream still answers")
	}
	spec["enabled"], spec["version"] = true, s.Version
	s = e.update(e.admin, s.ID, spec)
	if got, err := tcpVia(addr, "again"); err != nil || got != "tcp:again" {
		t.Fatalf("enabled again: %q, %v", got, err)
	}
	if status, raw := e.admin.call(http.MethodDelete, "/"+s.ID, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if _, err := tcpVia(addr, "x"); err == nil {
		t.Fatal("a deleted stream still answers")
	}
}

func (e *stEnv) testUDP(t *testing.T) {
	up := udpEcho(t, "udp:")
	port := freeUDPPort(t)
	e.create(e.admin, map[string]any{"name": "udp echo", "enabled": true, "listen": fmt.Sprintf("udp/127.0.0.1:%d", port), "upstreams": []string{up}})
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 100)
	for i := range 3 {
		msg := fmt.Sprintf("ping %d", i)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != "udp:"+msg {
			t.Fatalf("datagram %d through the stream: %q, %v", i, buf[:n], err)
		}
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		p := freePort(t)
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			pc.Close()
			return p
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

func (e *stEnv) testPostgres(t *testing.T) {
	port := freePort(t)
	e.create(e.dash, map[string]any{"name": "postgres", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", port), "upstreams": []string{"127.0.0.1:5432"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))
	if err != nil {
		t.Fatalf("connecting to PostgreSQL through the stream: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query through the stream: %d, %v", n, err)
	}
}

// tlsEcho starts a TLS server for name (a certificate the test makes)
// that answers each line with name+":"+line.
func tlsEcho(t *testing.T, name string) string {
	t.Helper()
	issued := newCTCA(t).issue(time.Now().Add(time.Hour), name)
	cert, err := tls.X509KeyPair([]byte(issued.Chain), []byte(issued.Key))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				line, err := r.ReadString('\n')
				if err == nil {
					_, _ = io.WriteString(c, name+":"+line)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// sniVia connects with TLS to addr with server name sni, and returns the
// answer to a line and the server certificate's common name.
func sniVia(addr, sni, line string) (string, string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // test servers' own certificates
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	got, err := echoLine(conn, line)
	return got, cn, err
}

func (e *stEnv) testSNI(t *testing.T) {
	a, b := tlsEcho(t, "a.stream.test"), tlsEcho(t, "b.stream.test")
	listen := fmt.Sprintf("tcp/:%d", e.HTTPSPort)
	e.create(e.dash, map[string]any{"name": "sni a", "enabled": true, "listen": listen, "hosts": []string{"a.stream.test"}, "upstreams": []string{a}})
	e.create(e.admin, map[string]any{"name": "sni b", "enabled": true, "listen": listen, "hosts": []string{"b.stream.test"}, "upstreams": []string{b}})
	// An HTTPS route on the same port.
	web := httpUpstream(t, "web says hi")
	e.rtEnv.dash.create(map[string]any{"name": "web", "enabled": true, "hosts": []string{"web.stream.test"}, "kind": "proxy", "tls": "internal", "upstreams": []string{"http://" + web}})

	addr := fmt.Sprintf("127.0.0.1:%d", e.HTTPSPort)
	for _, name := range []string{"a.stream.test", "b.stream.test"} {
		got, cn, err := sniVia(addr, name, "hi")
		if err != nil || got != name+":hi" || cn != name {
			t.Fatalf("SNI %s: %q (certificate %q), %v; want the stream's upstream, passed through", name, got, cn, err)
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "web.stream.test", InsecureSkipVerify: true}, //nolint:gosec // Caddy's internal CA
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	eventually(t, 15*time.Second, 200*time.Millisecond, func() (bool, string) {
		resp, err := hc.Get("https://web.stream.test/")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && string(body) == "web says hi", fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
	// A name of no stream on the shared port is Caddy's: an unknown
	// route (no certificate), not a stream's upstream.
	if got, _, err := sniVia(addr, "c.stream.test", "hi"); err == nil && strings.Contains(got, "stream.test:") {
		t.Fatalf("an unknown name reached a stream: %q", got)
	}
}

// httpUpstream starts an HTTP server answering body.
func httpUpstream(t *testing.T, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }), ReadHeaderTimeout: 5 * time.Second} //nolint:errcheck // test server
	go srv.Serve(ln)                                                                                                                                             //nolint:errcheck // closed at cleanup
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func (e *stEnv) testValidation(t *testing.T) {
	up := tcpEcho(t, "v:")
	taken := freePort(t)
	e.create(e.dash, map[string]any{"name": "taken", "enabled": true, "listen": fmt.Sprintf("tcp/:%d", taken), "upstreams": []string{up}})
	free := fmt.Sprintf("tcp/127.0.0.1:%d", freePort(t))
	tests := []struct {
		name  string
		spec  map[string]any
		field string
	}{
		{"bad listen", map[string]any{"listen": "tcp/localhost", "upstreams": []string{up}}, "listen"},
		{"bad network", map[string]any{"listen": "sctp/:7000", "upstreams": []string{up}}, "listen"},
		{"port of Caddy's HTTP server", map[string]any{"listen": fmt.Sprintf("tcp/:%d", e.HTTPPort), "upstreams": []string{up}}, "listen"},
		{"port of Caddy's dashboard", map[string]any{"listen": fmt.Sprintf("tcp/127.0.0.1:%d", e.DashPort), "upstreams": []string{up}}, "listen"},
		{"shared HTTPS port without hosts", map[string]any{"listen": fmt.Sprintf("tcp/:%d", e.HTTPSPort), "upstreams": []string{up}}, "hosts"},
		{"HTTP/3 port", map[string]any{"listen": fmt.Sprintf("udp/:%d", e.HTTPSPort), "upstreams": []string{up}}, "listen"},
		{"port of another stream", map[string]any{"listen": fmt.Sprintf("tcp/127.0.0.1:%d", taken), "upstreams": []string{up}}, "listen"},
		{"no upstreams", map[string]any{"listen": free}, "upstreams"},
		{"bad upstream", map[string]any{"listen": free, "upstreams": []string{"nohost"}}, "upstreams[0]"},
		{"terminate on udp", map[string]any{"listen": "udp/:7001", "tls": "terminate", "hosts": []string{"x.test"}, "upstreams": []string{up}}, "tls"},
		// The upstream policy's "never": metadata, Caddy's admin API, a
		// stream's own listener (a loop).
		{"metadata upstream", map[string]any{"listen": free, "upstreams": []string{"169.254.169.254:80"}}, "upstreams[0]"},
		{"admin API upstream", map[string]any{"listen": free, "upstreams": []string{e.inst.Admin}}, "upstreams[0]"},
		{"stream loop upstream", map[string]any{"listen": free, "upstreams": []string{fmt.Sprintf("127.0.0.1:%d", taken)}}, "upstreams[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec["name"], tc.spec["enabled"] = tc.name, true
			for _, api := range []rtAPI{e.dash, e.admin} {
				status, raw := api.call(http.MethodPost, "", tc.spec)
				if status != http.StatusBadRequest || !strings.Contains(string(raw), tc.field) {
					t.Errorf("%s: %d %s; want 400 naming %s", api, status, raw, tc.field)
				}
			}
		})
	}
	if _, err := tcpVia(strings.TrimPrefix(free, "tcp/"), "x"); err == nil {
		t.Error("a refused stream listens")
	}
}

// testOperatorPorts: an operator may not open a listener outside
// stream_ports (a privileged port where a stream could stand in for a
// service of the host); an admin may; a viewer changes nothing.
func (e *stEnv) testOperatorPorts(t *testing.T) {
	up := tcpEcho(t, "op:")
	op, _ := e.login("stream-operator@proxyos.test", "operator")
	opAPI := rtAPI{t: t, base: op.Base + "/api/streams", hc: op.HTTP, hdr: http.Header{"Origin": {op.Base}, "Content-Type": {"application/json"}}}
	status, raw := opAPI.call(http.MethodPost, "", map[string]any{"name": "ssh", "enabled": true, "listen": "tcp/127.0.0.1:22", "upstreams": []string{up}})
	if status != http.StatusForbidden || !strings.Contains(string(raw), "stream_ports") {
		t.Errorf("operator on port 22: %d %s; want 403", status, raw)
	}
	port := freePort(t)
	s := e.create(opAPI, map[string]any{"name": "op stream", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", port), "upstreams": []string{up}})
	if got, err := tcpVia(fmt.Sprintf("127.0.0.1:%d", port), "x"); err != nil || got != "op:x" {
		t.Errorf("operator's stream: %q, %v", got, err)
	}
	viewer, _ := e.login("stream-viewer@proxyos.test", "viewer")
	vAPI := rtAPI{t: t, base: viewer.Base + "/api/streams", hc: viewer.HTTP, hdr: http.Header{"Origin": {viewer.Base}, "Content-Type": {"application/json"}}}
	if status, raw := vAPI.call(http.MethodDelete, "/"+s.ID, nil); status != http.StatusForbidden {
		t.Errorf("viewer deletes a stream: %d %s; want 403", status, raw)
	}
	if status, _ := vAPI.call(http.MethodGet, "", nil); status != http.StatusOK {
		t.Errorf("viewer lists streams: %d", status)
	}
}

func (e *stEnv) testHistory(t *testing.T) {
	one, two := tcpEcho(t, "one:"), tcpEcho(t, "two:")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	spec := map[string]any{"name": "hist", "enabled": true, "listen": "tcp/" + addr, "upstreams": []string{one}}
	s := e.create(e.dash, spec)
	spec["upstreams"], spec["version"] = []string{two}, s.Version
	s = e.update(e.dash, s.ID, spec)
	if got, _ := tcpVia(addr, "x"); got != "two:x" {
		t.Fatalf("after update: %q", got)
	}
	status, raw := e.dash.call(http.MethodPost, "/"+s.ID+"/rollback", map[string]any{"version": 1})
	if status != http.StatusOK {
		t.Fatalf("rollback: %d %s", status, raw)
	}
	if got, _ := tcpVia(addr, "x"); got != "one:x" {
		t.Fatalf("after rollback: %q", got)
	}
	status, raw = e.admin.call(http.MethodGet, "/"+s.ID+"/versions", nil)
	var vs struct {
		Versions []struct {
			Version int    `json:"version"`
			Action  string `json:"action"`
			Actor   string `json:"actor"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(raw, &vs); status != http.StatusOK || err != nil || len(vs.Versions) != 3 || vs.Versions[0].Action != "rollback to 1" || vs.Versions[0].Actor != e.adminEmail {
		t.Fatalf("versions: %d %s", status, raw)
	}
	// Audited.
	resp, body := e.admin0().Get("/api/audit?action=stream.rollback", http.Header{"Origin": {e.admin0().Base}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), s.ID) {
		t.Fatalf("audit of the rollback: %d %s", resp.StatusCode, body)
	}
}

// testUnderLoad keeps connections to one stream busy while others are
// created, changed and deleted, and that stream itself changes
// upstream: no connection fails, and a connection open across its
// change stays on the old upstream.
func (e *stEnv) testUnderLoad(t *testing.T) {
	one, two := tcpEcho(t, "one:"), tcpEcho(t, "two:")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	spec := map[string]any{"name": "busy", "enabled": true, "listen": "tcp/" + addr, "upstreams": []string{one}}
	busy := e.create(e.dash, spec)

	// A connection open across the change.
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if got, err := echoLine(held, "a"); err != nil || got != "one:a" {
		t.Fatalf("held connection: %q, %v", got, err)
	}

	var (
		ok, failed atomic.Int64
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		firstErr   atomic.Value
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := tcpVia(addr, "load")
				if err != nil || (got != "one:load" && got != "two:load") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%q %v", got, err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	other := tcpEcho(t, "other:")
	for i := range 5 {
		p := freePort(t)
		s := e.create(e.dash, map[string]any{"name": fmt.Sprintf("churn %d", i), "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", p), "upstreams": []string{other}})
		e.update(e.admin, s.ID, map[string]any{"name": "churn", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", freePort(t)), "upstreams": []string{other}, "version": s.Version})
		if status, raw := e.dash.call(http.MethodDelete, "/"+s.ID, nil); status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", status, raw)
		}
	}
	spec["upstreams"], spec["version"] = []string{two}, busy.Version
	e.update(e.dash, busy.ID, spec)
	time.Sleep(300 * time.Millisecond) // load goes on after the change
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 20 {
		t.Fatalf("under load: %d ok, %d failed (first: %v); want no failure", ok.Load(), failed.Load(), firstErr.Load())
	}
	if got, err := echoLine(held, "b"); err != nil || got != "one:b" {
		t.Fatalf("connection open across the change: %q, %v; want the old upstream", got, err)
	}
	if got, _ := tcpVia(addr, "c"); got != "two:c" {
		t.Fatalf("new connection after the change: %q; want the new upstream", got)
	}
}

// testTerminate: a stream with tls terminate on a port of its own gets
// the certificate of its host from Caddy's internal CA on demand (the
// permission allows a served stream's hosts), and its upstream gets the
// plain bytes; a name the stream does not list gets no certificate
// (a stranger's name must not make the server obtain one).
func (e *stEnv) testTerminate(t *testing.T) {
	const host = "term.stream.test"
	up := tcpEcho(t, "plain:")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := e.create(e.dash, map[string]any{"name": "terminate", "enabled": true, "listen": "tcp/" + addr,
		"tls": "terminate", "issuer": "internal", "hosts": []string{host}, "upstreams": []string{up}})
	if s.TLS != "terminate" {
		t.Fatalf("created stream %+v, want tls terminate", s)
	}
	var conn *tls.Conn
	eventually(t, 15*time.Second, 200*time.Millisecond, func() (bool, string) {
		var err error
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: host, RootCAs: rtLocalRoot(t, e.rtEnv)})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	defer conn.Close()
	if err := conn.VerifyHostname(host); err != nil {
		t.Fatalf("the stream's certificate: %v", err)
	}
	if got, err := echoLine(conn, "hi"); err != nil || got != "plain:hi" {
		t.Fatalf("through the terminating stream: %q, %v; want plain:hi", got, err)
	}
	// Another name: the stream closes the connection, no certificate.
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "other.stream.test", InsecureSkipVerify: true}); err == nil { //nolint:gosec // only whether a handshake completes
		c.Close()
		t.Fatal("a name the stream does not list completed a handshake")
	}
	status, raw := e.dash.call(http.MethodPost, "", map[string]any{"name": "bad issuer", "enabled": true, "listen": fmt.Sprintf("tcp/127.0.0.1:%d", freePort(t)),
		"tls": "off", "issuer": "internal", "upstreams": []string{up}})
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "issuer") {
		t.Errorf("issuer without tls terminate: %d %s; want 400 naming issuer", status, raw)
	}
}

// testOverlap: on the shared HTTPS port a stream may not take a server
// name an enabled HTTPS route serves, nor a route one a stream takes, so
// that neither silently steals the other's connections.
func (e *stEnv) testOverlap(t *testing.T) {
	up := tcpEcho(t, "o:")
	web := httpUpstream(t, "overlap web")
	listen := fmt.Sprintf("tcp/:%d", e.HTTPSPort)
	e.rtEnv.dash.create(map[string]any{"name": "overlap web", "enabled": true, "hosts": []string{"web.overlap.test"}, "kind": "proxy", "tls": "internal", "upstreams": []string{"http://" + web}})
	for _, api := range []rtAPI{e.dash, e.admin} {
		// A wildcard host takes the names under it: the route's too.
		for _, host := range []string{"web.overlap.test", "*.overlap.test"} {
			status, raw := api.call(http.MethodPost, "", map[string]any{"name": "steals web", "enabled": true, "listen": listen, "hosts": []string{host}, "upstreams": []string{up}})
			if status != http.StatusBadRequest || !strings.Contains(string(raw), "hosts") || !strings.Contains(string(raw), "overlap web") {
				t.Errorf("%s: a stream taking %s of a route: %d %s; want 400 naming hosts and the route", api, host, status, raw)
			}
		}
	}
	e.create(e.dash, map[string]any{"name": "git", "enabled": true, "listen": listen, "hosts": []string{"git.overlap.test"}, "upstreams": []string{up}})
	for _, host := range []string{"git.overlap.test", "*.overlap.test"} {
		status, raw := e.rtEnv.dash.call(http.MethodPost, "", map[string]any{"name": "steals git", "enabled": true, "hosts": []string{host}, "kind": "proxy", "tls": "internal", "upstreams": []string{"http://" + web}})
		if status != http.StatusBadRequest || !strings.Contains(string(raw), "hosts") || !strings.Contains(string(raw), "git") {
			t.Errorf("a route taking %s of a stream: %d %s; want 400 naming hosts and the stream", host, status, raw)
		}
	}
	// An HTTP-only route may have the name: it is not on the HTTPS port.
	e.rtEnv.dash.create(map[string]any{"name": "plain git", "enabled": true, "hosts": []string{"git.overlap.test"}, "kind": "proxy", "tls": "off", "upstreams": []string{"http://" + web}})
}

// testImportOverlap: an import may not do what a route save may not. An
// HTTPS route of the import taking a server name a stream has on the
// shared port (the attack: slip a route in through an import so that it
// takes, or breaks, the stream's TLS connections) is refused naming the
// field, in the dry run's plan and in the apply, on the dashboard's API
// and Caddy's admin API; the import being all or nothing, the route
// beside it is not applied either, and the stream still gets its
// connections.
func (e *stEnv) testImportOverlap(t *testing.T) {
	git := tlsEcho(t, "git.import.test")
	web := httpUpstream(t, "import web")
	listen := fmt.Sprintf("tcp/:%d", e.HTTPSPort)
	e.create(e.dash, map[string]any{"name": "imported git", "enabled": true, "listen": listen, "hosts": []string{"git.import.test"}, "upstreams": []string{git}})
	route := func(name string, hosts ...string) map[string]any {
		return map[string]any{"name": name, "enabled": true, "hosts": hosts, "kind": "proxy", "tls": "internal", "upstreams": []string{"http://" + web}}
	}
	doc := map[string]any{"format": "proxyos-export", "version": 1, "routes": []any{
		route("fine", "fine.import.test"), route("steals git", "www.import.test", "git.import.test"),
	}}
	before := len(e.rtEnv.dash.list())
	type answer struct {
		Plan struct {
			Applied bool `json:"applied"`
			Refused []struct {
				Index  int    `json:"index"`
				Field  string `json:"field"`
				Reason string `json:"reason"`
			} `json:"refused"`
		} `json:"plan"`
		Error string `json:"error"`
	}
	admin := rtAPI{t: t, base: "http://" + e.inst.Admin + "/proxyos", hc: http.DefaultClient, admin: true}
	for _, via := range []struct {
		name string
		call func(path string) (int, []byte)
	}{
		{"dashboard", func(path string) (int, []byte) {
			resp, raw := e.admin0().PostJSON("/api"+path, doc)
			return resp.StatusCode, raw
		}},
		{"admin API", func(path string) (int, []byte) { return admin.call(http.MethodPost, path, doc) }},
	} {
		status, raw := via.call("/import?dry_run=1")
		var a answer
		_ = json.Unmarshal(raw, &a)
		if status != http.StatusOK || a.Plan.Applied || len(a.Plan.Refused) != 1 {
			t.Fatalf("%s: dry run: %d %s; want a plan with one refusal", via.name, status, raw)
		}
		if f := a.Plan.Refused[0]; f.Index != 1 || f.Field != "hosts[1]" || !strings.Contains(f.Reason, "imported git") {
			t.Errorf("%s: dry run refused %+v, want routes[1] on hosts[1] naming the stream", via.name, f)
		}
		status, raw = via.call("/import")
		if status != http.StatusBadRequest || !strings.Contains(string(raw), "hosts[1]") || !strings.Contains(string(raw), "nothing was changed") {
			t.Errorf("%s: import: %d %s; want 400 naming hosts[1], nothing changed", via.name, status, raw)
		}
	}
	if n := len(e.rtEnv.dash.list()); n != before {
		t.Errorf("after the refused imports there are %d routes, want %d", n, before)
	}
	e.noRoute("fine.import.test")
	addr := fmt.Sprintf("127.0.0.1:%d", e.HTTPSPort)
	if got, cn, err := sniVia(addr, "git.import.test", "hi"); err != nil || got != "git.import.test:hi" || cn != "git.import.test" {
		t.Errorf("after the refused imports git.import.test: %q (certificate %q), %v; want the stream's upstream", got, cn, err)
	}
}
