package proxyos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// testLeaf returns a self-signed certificate for names valid until
// notAfter, as a served custom certificate.
func testLeaf(t *testing.T, serial int64, notAfter time.Time, names ...string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// A custom certificate is never renewed: the maintenance logs a warning
// for each one served that expires within 14 days, once a day, and
// again for its replacement; none for one that expires later.
func TestExpiringCustomCertificateWarning(t *testing.T) {
	a := newTestApp(t)
	core, logs := observer.New(zap.WarnLevel)
	a.state.logger.Store(zap.New(core))
	now := a.clock.Now()
	a.state.custom.Put("soon", testLeaf(t, 1, now.Add(10*24*time.Hour), "soon.example.com"))
	a.state.custom.Put("later", testLeaf(t, 2, now.Add(30*24*time.Hour), "later.example.com"))
	warnings := func() []observer.LoggedEntry {
		return logs.FilterMessage("custom certificate expires soon; upload a replacement").All()
	}

	a.state.maintainOnce(context.Background())
	got := warnings()
	if len(got) != 1 || got[0].ContextMap()["certificate_id"] != "soon" {
		t.Fatalf("after one round: %d warnings %v, want one for the certificate expiring in 10 days", len(got), got)
	}
	if names, _ := got[0].ContextMap()["names"].([]any); len(names) != 1 || names[0] != "soon.example.com" {
		t.Errorf("the warning names %v, want soon.example.com", got[0].ContextMap()["names"])
	}
	a.clock.Advance(time.Hour)
	a.state.maintainOnce(context.Background())
	if n := len(warnings()); n != 1 {
		t.Fatalf("%d warnings an hour later, want still 1 (once a day)", n)
	}
	a.clock.Advance(24 * time.Hour)
	a.state.maintainOnce(context.Background())
	if n := len(warnings()); n != 2 {
		t.Fatalf("%d warnings a day later, want 2", n)
	}
	a.state.custom.Put("soon", testLeaf(t, 3, a.clock.Now().Add(5*24*time.Hour), "soon.example.com"))
	a.state.maintainOnce(context.Background())
	if n := len(warnings()); n != 3 {
		t.Fatalf("%d warnings after a replacement that expires soon too, want 3", n)
	}
}
