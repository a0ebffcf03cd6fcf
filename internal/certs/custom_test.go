package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// testCert is a certificate and its key, signed by parent (or itself).
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCert(t *testing.T, parent *testCert, ca bool, names []string, notBefore, notAfter time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "test " + serial.String()},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: names,
		IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func pemOf(certs ...*testCert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})...)
	}
	return out
}

func keyPEM(t *testing.T, c *testCert) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParseCustom(t *testing.T) {
	root := newTestCert(t, nil, true, nil, t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
	inter := newTestCert(t, root, true, nil, t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
	leaf := newTestCert(t, inter, false, []string{"app.example.com", "*.apps.example.com"}, t0.Add(-time.Hour), t0.Add(90*24*time.Hour))
	expired := newTestCert(t, inter, false, []string{"app.example.com"}, t0.Add(-48*time.Hour), t0.Add(-time.Hour))
	future := newTestCert(t, inter, false, []string{"app.example.com"}, t0.Add(time.Hour), t0.Add(48*time.Hour))
	other := newTestCert(t, inter, false, []string{"app.example.com"}, t0.Add(-time.Hour), t0.Add(48*time.Hour))
	nameless := newTestCert(t, inter, false, nil, t0.Add(-time.Hour), t0.Add(48*time.Hour))
	ecKey, _ := x509.MarshalECPrivateKey(leaf.key)
	secretKey := string(keyPEM(t, leaf))

	tests := []struct {
		name       string
		chain, key []byte
		field      string // "" for accepted
	}{
		{"leaf and intermediate", pemOf(leaf, inter), keyPEM(t, leaf), ""},
		{"leaf alone", pemOf(leaf), keyPEM(t, leaf), ""},
		{"full chain with root", pemOf(leaf, inter, root), keyPEM(t, leaf), ""},
		{"sec1 key", pemOf(leaf), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecKey}), ""},
		{"key mismatch", pemOf(leaf, inter), keyPEM(t, other), "key"},
		{"wrong chain order", pemOf(inter, leaf), keyPEM(t, leaf), "chain"},
		{"intermediate missing between leaf and root", pemOf(leaf, root), keyPEM(t, leaf), "chain"},
		{"expired", pemOf(expired, inter), keyPEM(t, expired), "chain"},
		{"not yet valid", pemOf(future, inter), keyPEM(t, future), "chain"},
		{"names no host", pemOf(nameless, inter), keyPEM(t, nameless), "chain"},
		{"garbage chain", []byte("hello, not PEM"), keyPEM(t, leaf), "chain"},
		{"garbage key", pemOf(leaf), []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"), "key"},
		{"key without certificate", nil, keyPEM(t, leaf), "chain"},
		{"key in the chain field", append(pemOf(leaf), keyPEM(t, leaf)...), keyPEM(t, leaf), "chain"},
		{"certificate in the key field", pemOf(leaf), pemOf(leaf), "key"},
		{"missing key", pemOf(leaf), nil, "key"},
		{"text after the chain", append(pemOf(leaf), "trailing"...), keyPEM(t, leaf), "chain"},
		{"damaged certificate", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), keyPEM(t, leaf), "chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCustom(tt.chain, tt.key, t0)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.TLS.Leaf == nil || c.TLS.PrivateKey == nil || c.Info.Names[0] != "app.example.com" || !c.Info.NotAfter.Equal(leaf.cert.NotAfter) {
					t.Fatalf("parsed %+v", c.Info)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want a refusal naming %q", err, tt.field)
			}
			// A refusal never quotes the key.
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), secretKey[30:60]) {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	names := []string{"app.example.com", "*.apps.example.com"}
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"app.example.com", true},
		{"APP.example.com", true},
		{"a.apps.example.com", true},
		{"*.apps.example.com", true},
		{"a.b.apps.example.com", false},
		{"apps.example.com", false},
		{"other.example.com", false},
		{"*.example.com", false},
	} {
		if got := Covers(names, tt.host); got != tt.want {
			t.Errorf("Covers(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if got := Uncovered(names, []string{"app.example.com", "x.example.com"}); got != "x.example.com" {
		t.Errorf("Uncovered = %q", got)
	}
}

func TestExpiresSoon(t *testing.T) {
	if !ExpiresSoon(t0.Add(13*24*time.Hour), t0) || ExpiresSoon(t0.Add(15*24*time.Hour), t0) || !ExpiresSoon(t0.Add(-time.Hour), t0) {
		t.Fatal("ExpiresSoon does not warn 14 days ahead")
	}
}
