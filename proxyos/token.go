package proxyos

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	cookieLen   = keyIDLen + 1 + tokenB64Len + 1 + macB64Len
)

// tokenEncoding decodes cookie parts strictly: accepting non-zero
// padding bits in the last character would give one token several valid
// cookie values.
var tokenEncoding = base64.RawURLEncoding.Strict()

// sessionToken is a parsed, MAC-verified session token.
type sessionToken [tokenBytes]byte

// newSessionToken returns a fresh random token.
func newSessionToken() sessionToken {
	var t sessionToken
	rand.Read(t[:]) // never fails (crypto/rand panics instead)
	return t
}

// hash returns the hex SHA-256 of the token: the only form stored.
func (t *sessionToken) hash() string {
	sum := sha256.Sum256(t[:])
	return hex.EncodeToString(sum[:])
}

// cacheKey is the token's key in the session cache.
func (t *sessionToken) cacheKey() [sha256.Size]byte { return sha256.Sum256(t[:]) }

// signToken makes the cookie value of t with the keyring's current key.
func (k *Keyring) signToken(t sessionToken) string {
	var mac [sha256.Size]byte
	k.current.sum(t[:], &mac)
	buf := make([]byte, 0, cookieLen)
	buf = append(buf, k.current.id...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, t[:])
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, mac[:])
	return string(buf)
}

// parseToken checks a cookie value and returns its token, or the reason it
// is not acceptable: ReasonMalformed, ReasonUnknownKey or ReasonBadSignature.
// It does not allocate.
func (k *Keyring) parseToken(value string) (sessionToken, Reason) {
	var t sessionToken
	if len(value) != cookieLen || value[keyIDLen] != '.' || value[keyIDLen+1+tokenB64Len] != '.' {
		return t, ReasonMalformed
	}
	var idBuf [keyIDLen]byte
	copy(idBuf[:], value[:keyIDLen])
	for _, c := range idBuf {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return t, ReasonMalformed
		}
	}
	var (
		tokBuf [tokenB64Len]byte
		macBuf [macB64Len]byte
		mac    [sha256.Size]byte
		want   [sha256.Size]byte
	)
	copy(tokBuf[:], value[keyIDLen+1:])
	copy(macBuf[:], value[keyIDLen+1+tokenB64Len+1:])
	if n, err := tokenEncoding.Decode(t[:], tokBuf[:]); err != nil || n != tokenBytes {
		return t, ReasonMalformed
	}
	if n, err := tokenEncoding.Decode(mac[:], macBuf[:]); err != nil || n != sha256.Size {
		return t, ReasonMalformed
	}
	rk := k.byID[string(idBuf[:])] // no allocation for map lookups by converted key
	if rk == nil {
		return t, ReasonUnknownKey
	}
	rk.sum(t[:], &want)
	if !hmac.Equal(mac[:], want[:]) {
		return t, ReasonBadSignature
	}
	return t, ""
}

// keyIDOf returns the key id prefix of a cookie value, if it has one. It is
// used for logging unknown keys; key ids are not secret.
func keyIDOf(value string) string {
	if len(value) < keyIDLen {
		return ""
	}
	for _, c := range []byte(value[:keyIDLen]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return value[:keyIDLen]
}
