package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealVersion prefixes every sealed value, so the format can change later.
const sealVersion = "v1"

// ErrUnsealable is returned for a sealed value that cannot be opened:
// damaged, moved to another row, or sealed with a key no longer in the
// ring.
var ErrUnsealable = errors.New("sealed value cannot be opened")

// UnknownKeyError says a sealed value was made with a secret that is not
// configured (neither secret nor previous_secrets).
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("sealed with key %s, which is not configured", e.KeyID)
}

// Seal encrypts plaintext with the current key (AES-256-GCM). The result
// names the key, so it opens with any ring that still holds that key;
// context binds it to where it is stored (e.g. "totp:<user id>"), so a
// value copied into another row does not open.
func (k *Keyring) Seal(plaintext []byte, context string) (string, error) {
	aead, err := k.current.aead()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(context))
	return sealVersion + "." + k.current.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same context.
func (k *Keyring) Open(sealed, context string) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	rk := k.key(id)
	if rk == nil {
		return nil, &UnknownKeyError{KeyID: id}
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(sealVersion)+1+KeyIDLen+1:])
	if err != nil {
		return nil, ErrUnsealable
	}
	aead, err := rk.aead()
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, ErrUnsealable
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrUnsealable
	}
	return pt, nil
}

// SealedKeyID returns the id of the key a sealed value was made with.
func SealedKeyID(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealVersion+".")
	if !ok || len(rest) < KeyIDLen+1 || rest[KeyIDLen] != '.' {
		return "", ErrUnsealable
	}
	return rest[:KeyIDLen], nil
}

// ResealIfOld returns sealed re-made with the current key, or "" when it
// already uses the current key.
func (k *Keyring) ResealIfOld(sealed, context string) (string, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return "", err
	}
	if id == k.current.id {
		return "", nil
	}
	pt, err := k.Open(sealed, context)
	if err != nil {
		return "", err
	}
	return k.Seal(pt, context)
}

func (rk *ringKey) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(rk.dataKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// IsSealed reports whether v has the form of a value made by Seal.
func IsSealed(v string) bool {
	id, err := SealedKeyID(v)
	if err != nil || strings.Trim(id, "0123456789abcdef") != "" {
		return false
	}
	body := v[len(sealVersion)+1+KeyIDLen+1:]
	return len(body) >= 16 && strings.Trim(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}
