package passkey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/protocol"

	"github.com/proxyos/caddy-proxyos/internal/passkey"
)

// authenticator is a software passkey, as a browser's authenticator
// answers: "none" attestation, an ES256 key, a sign counter. Tests
// change origin, rpID and userHandle to play an attacker.
type authenticator struct {
	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	counter    uint32
	rpID       string
	origin     string
}

func newAuthenticator(t *testing.T, rpID, origin string) *authenticator {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &authenticator{key: k, credID: id, rpID: rpID, origin: origin}
}

// clone is a copy of the authenticator's key and counter: a cloned
// credential.
func (a *authenticator) clone() *authenticator {
	c := *a
	return &c
}

var b64u = base64.RawURLEncoding

func (a *authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64u.EncodeToString(challenge), "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *authenticator) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.counter)
	return append(out, attested...)
}

// register answers the creation options of a ceremony.
func (a *authenticator) register(t *testing.T, c passkey.Ceremony) []byte {
	t.Helper()
	cc, ok := c.Options.(*protocol.CredentialCreation)
	if !ok {
		t.Fatalf("options %T, want creation options", c.Options)
	}
	a.userHandle = []byte(cc.Response.User.ID.(protocol.URLEncodedBase64))
	x, y := a.key.X.FillBytes(make([]byte, 32)), a.key.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(append(attested, a.credID...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(0x01|0x04|0x40, attested)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(a.clientData("webauthn.create", cc.Response.Challenge)),
			"attestationObject": b64u.EncodeToString(att),
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// assert answers the request options of a login ceremony, advancing the
// counter as authenticators do.
func (a *authenticator) assert(t *testing.T, c passkey.Ceremony) []byte {
	t.Helper()
	ca, ok := c.Options.(*protocol.CredentialAssertion)
	if !ok {
		t.Fatalf("options %T, want request options", c.Options)
	}
	return a.assertChallenge(t, ca.Response.Challenge)
}

func (a *authenticator) assertChallenge(t *testing.T, challenge []byte) []byte {
	t.Helper()
	a.counter++
	cd := a.clientData("webauthn.get", challenge)
	ad := a.authData(0x01|0x04, nil)
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.credID), "rawId": b64u.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(cd),
			"authenticatorData": b64u.EncodeToString(ad),
			"signature":         b64u.EncodeToString(sig),
			"userHandle":        b64u.EncodeToString(a.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}
