package keyring

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

// A session cookie value is "<key id>.<token>.<mac>": the id of the key
// that signed it (8 hex characters), a random 256-bit token and an
// HMAC-SHA256 of the token, both unpadded base64url. The MAC lets a
// forged or tampered cookie be rejected without a database lookup; the
// database only ever sees a SHA-256 hash of the token.
const (
	tokenBytes  = 32
	tokenB64Len = 43 // base64.RawURLEncoding.EncodedLen(32)
	macB64Len   = 43
	// CookieLen is the length of a signed token.
	CookieLen = KeyIDLen + 1 + tokenB64Len + 1 + macB64Len
)

// tokenEncoding decodes cookie parts strictly: accepting non-zero
// padding bits in the last character would give one token several valid
// cookie values.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Token is a parsed, MAC-verified session token.
type Token [tokenBytes]byte

// NewToken returns a fresh random token.
func NewToken() Token {
	var t Token
	rand.Read(t[:]) // never fails (crypto/rand panics instead)
	return t
}

// Hash returns the hex SHA-256 of the token: the only form stored.
func (t *Token) Hash() string {
	sum := sha256.Sum256(t[:])
	return hex.EncodeToString(sum[:])
}

// CacheKey is the token's key in the session cache.
func (t *Token) CacheKey() [sha256.Size]byte { return sha256.Sum256(t[:]) }

// SignToken makes the cookie value of t with the keyring's current key.
func (k *Keyring) SignToken(t Token) string {
	var mac [sha256.Size]byte
	k.current.sum(t[:], &mac)
	buf := make([]byte, 0, CookieLen)
	buf = append(buf, k.current.id...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, t[:])
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, mac[:])
	return string(buf)
}

// Problem says why a cookie value is not an acceptable token.
type Problem uint8

// The problems ParseToken finds.
const (
	OK           Problem = iota
	Malformed            // not a proxyos token
	UnknownKey           // signed with a secret that is not in the ring
	BadSignature         // tampered or forged
)

func (p Problem) String() string {
	switch p {
	case OK:
		return "ok"
	case Malformed:
		return "malformed"
	case UnknownKey:
		return "unknown_key"
	case BadSignature:
		return "bad_signature"
	}
	return "problem(" + strconv.Itoa(int(p)) + ")"
}

// ParseToken checks a cookie value and returns its token, or the problem
// that makes it unacceptable. It does not allocate.
func (k *Keyring) ParseToken(value string) (Token, Problem) {
	t, p := DecodeToken(value)
	if p == OK {
		p = k.CheckMAC(value, &t)
	}
	return t, p
}

// DecodeToken checks the shape of a cookie value and returns its token,
// whose MAC is not checked yet: only CheckMAC (or ParseToken) makes it a
// token to trust. It does not allocate.
func DecodeToken(value string) (Token, Problem) {
	var t Token
	if len(value) != CookieLen || value[KeyIDLen] != '.' || value[KeyIDLen+1+tokenB64Len] != '.' {
		return t, Malformed
	}
	for i := range KeyIDLen {
		if c := value[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return t, Malformed
		}
	}
	var tokBuf [tokenB64Len]byte
	copy(tokBuf[:], value[KeyIDLen+1:])
	if n, err := tokenEncoding.Decode(t[:], tokBuf[:]); err != nil || n != tokenBytes {
		return t, Malformed
	}
	return t, OK
}

// CheckMAC checks the MAC of cookie value, whose token t DecodeToken
// returned, with the key the value names. It does not allocate.
func (k *Keyring) CheckMAC(value string, t *Token) Problem {
	var (
		macBuf [macB64Len]byte
		mac    [sha256.Size]byte
		want   [sha256.Size]byte
	)
	copy(macBuf[:], value[KeyIDLen+1+tokenB64Len+1:])
	if n, err := tokenEncoding.Decode(mac[:], macBuf[:]); err != nil || n != sha256.Size {
		return Malformed
	}
	rk := k.byID[value[:KeyIDLen]]
	if rk == nil {
		return UnknownKey
	}
	rk.sum(t[:], &want)
	if !hmac.Equal(mac[:], want[:]) {
		return BadSignature
	}
	return OK
}

// KeyIDOf returns the key id prefix of a cookie value, if it has one. It is
// used for logging unknown keys; key ids are not secret.
func KeyIDOf(value string) string {
	if len(value) < KeyIDLen {
		return ""
	}
	for _, c := range []byte(value[:KeyIDLen]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return value[:KeyIDLen]
}
