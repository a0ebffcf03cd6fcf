package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// ExpiryWarning is how long before it expires a certificate is shown as
// expiring (on the overview, in the API, in the log).
const ExpiryWarning = 14 * 24 * time.Hour

// maxPEM bounds an uploaded chain or key.
const maxPEM = 64 << 10

// Error is a refused custom certificate, naming the field: "chain" (the
// certificates) or "key" (the private key). The message never quotes
// the key.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Custom is a parsed and checked custom certificate: its chain (leaf
// first) and the private key of the leaf, ready to serve.
type Custom struct {
	TLS   tls.Certificate // chain and key, Leaf set
	Info  Info
	Chain []byte // the chain as PEM, normalised (certificates only)
}

// Info describes a certificate, without its key.
type Info struct {
	Names       []string  `json:"names"`
	Issuer      string    `json:"issuer"` // the issuing CA's name
	Serial      string    `json:"serial"` // hexadecimal
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	Fingerprint string    `json:"fingerprint"` // SHA-256 of the leaf, hexadecimal
}

// Describe returns what the page shows of a leaf certificate.
func Describe(leaf *x509.Certificate) Info {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	sum := sha256.Sum256(leaf.Raw)
	return Info{
		Names: names, Issuer: issuer, Serial: leaf.SerialNumber.Text(16),
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), Fingerprint: hex.EncodeToString(sum[:]),
	}
}

// ParseCustom checks a certificate chain and private key (PEM) for
// serving at now: the chain holds only certificates, leaf first, each
// signed by the next; the leaf names at least one host, is valid now and
// is not a CA; the key is the leaf's. A zero now skips the validity
// period (for a stored certificate loaded again). A refusal is an
// *Error naming "chain" or "key".
func ParseCustom(chainPEM, keyPEM []byte, now time.Time) (*Custom, error) {
	chain, raw, err := parseChain(chainPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	if err := checkChain(chain, now); err != nil {
		return nil, err
	}
	if !keyMatches(key, leaf.PublicKey) {
		return nil, errf("key", "does not match the certificate (the first one of the chain)")
	}
	der := make([][]byte, len(chain))
	for i, c := range chain {
		der[i] = c.Raw
	}
	return &Custom{
		TLS:   tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf},
		Info:  Describe(leaf),
		Chain: raw,
	}, nil
}

// ParseChain decodes the certificates of a PEM chain, leaf first.
func ParseChain(chainPEM []byte) ([]*x509.Certificate, error) {
	chain, _, err := parseChain(chainPEM)
	return chain, err
}

// parseChain decodes the certificates of a PEM chain and returns them
// with the chain re-encoded (certificates only, nothing between them).
func parseChain(chainPEM []byte) ([]*x509.Certificate, []byte, error) {
	if len(bytes.TrimSpace(chainPEM)) == 0 {
		return nil, nil, errf("chain", "required: the certificate and its intermediates (PEM)")
	}
	if len(chainPEM) > maxPEM {
		return nil, nil, errf("chain", "larger than %d KiB", maxPEM>>10)
	}
	var (
		chain []*x509.Certificate
		out   bytes.Buffer
	)
	rest := chainPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, nil, errf("chain", "holds a private key: put it in key, and only certificates here")
			}
			return nil, nil, errf("chain", "holds a %q PEM block, want only CERTIFICATE blocks", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, errf("chain", "certificate %d cannot be parsed: %v", len(chain)+1, err)
		}
		chain = append(chain, c)
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) //nolint:errcheck // a bytes.Buffer
	}
	if len(chain) == 0 {
		return nil, nil, errf("chain", "no PEM certificate found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, nil, errf("chain", "text after the last certificate is not PEM")
	}
	return chain, out.Bytes(), nil
}

// parseKey decodes a PEM private key (PKCS #8, PKCS #1 or SEC 1).
// Errors never quote the key.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	if len(bytes.TrimSpace(keyPEM)) == 0 {
		return nil, errf("key", "required: the certificate's private key (PEM)")
	}
	if len(keyPEM) > maxPEM {
		return nil, errf("key", "larger than %d KiB", maxPEM>>10)
	}
	block, rest := pem.Decode(keyPEM)
	if block == nil {
		return nil, errf("key", "no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errf("key", "holds more than one PEM block: only the private key belongs here")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "CERTIFICATE":
		return nil, errf("key", "holds a certificate: put it in chain, and the private key here")
	default:
		return nil, errf("key", "a %q PEM block is not a private key", block.Type)
	}
	if err != nil {
		return nil, errf("key", "cannot be parsed as a %s", strings.ToLower(block.Type))
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errf("key", "unsupported key type %T", key)
	}
	return signer, nil
}

// checkChain checks the order and validity of a chain, leaf first.
func checkChain(chain []*x509.Certificate, now time.Time) error {
	leaf := chain[0]
	if leaf.IsCA {
		return errf("chain", "the first certificate is a CA certificate: the leaf (the server's certificate) comes first")
	}
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		return errf("chain", "the first certificate names no host (no DNS or IP subject alternative name)")
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return errf("chain", "certificate %d is not signed by certificate %d: the order must be leaf first, then each certificate's issuer", i+1, i+2)
		}
	}
	if now.IsZero() {
		return nil
	}
	if now.After(leaf.NotAfter) {
		return errf("chain", "the certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return errf("chain", "the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// keyMatches reports whether key is the private key of pub.
func keyMatches(key crypto.Signer, pub any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return false
	}
	eq, ok := key.Public().(equaler)
	return ok && eq.Equal(pub)
}

// Uncovered returns the first of hosts that names (a certificate's
// names, wildcards allowed) do not cover, or "" when they cover all. A
// wildcard host (*.example.com) needs the same wildcard name; a
// wildcard name covers one label.
func Uncovered(names, hosts []string) string {
	for _, h := range hosts {
		if !Covers(names, h) {
			return h
		}
	}
	return ""
}

// Covers reports whether a certificate with names is valid for host.
func Covers(names []string, host string) bool {
	host = strings.ToLower(host)
	for _, n := range names {
		n = strings.ToLower(n)
		if n == host {
			return true
		}
		if parent, ok := strings.CutPrefix(n, "*."); ok && !strings.HasPrefix(host, "*.") {
			if label, rest, ok := strings.Cut(host, "."); ok && label != "" && rest == parent {
				return true
			}
		}
	}
	return false
}

// ExpiresSoon reports whether a certificate valid until notAfter is
// within ExpiryWarning of it (or past it) at now.
func ExpiresSoon(notAfter, now time.Time) bool { return notAfter.Sub(now) < ExpiryWarning }
