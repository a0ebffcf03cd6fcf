package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// rtTestWebsocket opens a websocket through a route and keeps using it
// while other routes are created, changed and deleted: changing one
// route must not disturb connections of another.
func rtTestWebsocket(t *testing.T, e *rtEnv) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, "ws-echo: "+msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(echo.Close)
	const host = "ws.proxyos.test"
	e.dash.create(rtProxy(host, "off", "http://"+echo.Listener.Addr().String()))

	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPPort), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second)) //nolint:errcheck
	origin := fmt.Sprintf("http://%s:%d", host, e.HTTPPort)
	cfg, err := websocket.NewConfig(fmt.Sprintf("ws://%s:%d/socket", host, e.HTTPPort), origin)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, conn)
	if err != nil {
		t.Fatalf("websocket handshake through the route: %v", err)
	}
	exchange := func(msg string) {
		t.Helper()
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("send %q: %v", msg, err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatalf("receive after %q: %v", msg, err)
		}
		if got != "ws-echo: "+msg {
			t.Fatalf("got %q, want %q", got, "ws-echo: "+msg)
		}
	}
	exchange("before")

	other := rtNewUpstream(t, "ws-other", false)
	var ids []string
	for i := 0; i < 3; i++ {
		r := e.api.create(rtProxy(fmt.Sprintf("ws-other-%d.proxyos.test", i), "off", other.URL))
		ids = append(ids, r.ID)
		exchange(fmt.Sprintf("after create %d", i))
	}
	e.api.update(ids[0], 1, rtWith(rtProxy("ws-other-0.proxyos.test", "off", other.URL), "compress", true))
	exchange("after update")
	e.api.delete(ids[1])
	exchange("after delete")
	e.dash.update(ids[2], 1, rtWith(rtProxy("ws-other-2.proxyos.test", "off", other.URL), "enabled", false))
	exchange("after disable")
	e.servedBy("ws-other-0.proxyos.test", other.Name)
	exchange("at the end")
}

// rtLocalRoot loads the root certificate of Caddy's internal CA.
func rtLocalRoot(t *testing.T, e *rtEnv) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(e.inst.Home, "data", "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("reading the internal CA's root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in root.crt")
	}
	return pool
}

// rtHandshake performs a TLS handshake with the HTTPS port for the server
// name and returns the connection state.
func rtHandshake(e *rtEnv, name string, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	cfg.ServerName = name
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	conn, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPSPort))
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

// rtTestTLSInternal gets a certificate from Caddy's internal CA for a tls
// internal route, at the first handshake and without a reload.
func rtTestTLSInternal(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "internal", false)
	const host = "internal.proxyos.test"
	e.dash.create(rtProxy(host, "internal", up.URL))

	roots := rtLocalRoot(t, e)
	st, err := rtHandshake(e, host, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS handshake for %s, verifying against the internal root: %v", host, err)
	}
	leaf := st.PeerCertificates[0]
	if !slices.Equal(leaf.DNSNames, []string{host}) {
		t.Errorf("certificate names %v, want [%s]", leaf.DNSNames, host)
	}
	if !strings.Contains(leaf.Issuer.CommonName, "Caddy Local Authority") {
		t.Errorf("certificate issuer %q, want Caddy's internal CA", leaf.Issuer.CommonName)
	}

	// HTTPS is served with that certificate.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     rtDialLoopback,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	resp, err := hc.Get("https://" + host + ":" + strconv.Itoa(e.HTTPSPort) + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != up.Name {
		t.Fatalf("GET https://%s/: %d from %q", host, resp.StatusCode, resp.Header.Get("X-Upstream"))
	}
}

// rtTestTLSUnknownHost refuses a certificate for a host no route serves,
// so strangers cannot make the server request certificates.
func rtTestTLSUnknownHost(t *testing.T, e *rtEnv) {
	const host = "unknown.proxyos.test"
	if _, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
		t.Fatalf("TLS handshake for %s, which no route serves, succeeded", host)
	}
	rtPoll(t, 10*time.Second, func() string {
		for _, line := range strings.Split(e.inst.Log(), "\n") {
			if strings.Contains(line, "on-demand certificate issuance denied") && strings.Contains(line, host) && strings.Contains(line, "no enabled proxyos route") {
				return ""
			}
		}
		return "the log does not say why " + host + " got no certificate"
	})
}

// rtTestTLSOff serves a tls off route over plain HTTP only: its host gets
// no certificate, also after it was a TLS route.
func rtTestTLSOff(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "plain", false)
	const host = "plain.proxyos.test"
	r := e.dash.create(rtProxy(host, "off", up.URL))
	e.servedBy(host, up.Name)
	if _, err := rtHandshake(e, host, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
		t.Fatalf("TLS handshake for a tls off route succeeded")
	}
	rtPoll(t, 10*time.Second, func() string {
		if !strings.Contains(e.inst.Log(), host+": route "+r.ID+" has tls off") {
			return "the log does not say why the tls off route got no certificate"
		}
		return ""
	})

	// Once it has had a certificate, switching to off stops HTTPS for it:
	// its cached certificate is no longer served.
	const host2 = "was-internal.proxyos.test"
	r2 := e.dash.create(rtProxy(host2, "internal", up.URL))
	if resp, _ := e.getTLS(host2, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("tls internal route over HTTPS: %d", resp.StatusCode)
	}
	e.dash.update(r2.ID, 1, rtProxy(host2, "off", up.URL))
	e.servedBy(host2, up.Name)
	if _, err := rtHandshake(e, host2, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // no certificate expected at all
		t.Errorf("after switching to tls off, a TLS handshake for %s still succeeds", host2)
	}
}
