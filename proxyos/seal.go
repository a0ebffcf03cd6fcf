package proxyos

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

// errUnsealable is returned for a sealed value that cannot be opened:
// damaged, moved to another row, or sealed with a key no longer in the
// ring.
var errUnsealable = errors.New("sealed value cannot be opened")

// UnknownKeyError says a sealed value was made with a secret that is not
// configured (neither secret nor previous_secrets).
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("sealed with key %s, which is not configured", e.KeyID)
}

// seal encrypts plaintext with the current key (AES-256-GCM). The result
// names the key, so it opens with any ring that still holds that key;
// context binds it to where it is stored (e.g. "totp:<user id>"), so a
// value copied into another row does not open.
func (k *Keyring) seal(plaintext []byte, context string) (string, error) {
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

// open decrypts a value made by seal with the same context.
func (k *Keyring) open(sealed, context string) ([]byte, error) {
	id, err := sealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	rk := k.key(id)
	if rk == nil {
		return nil, &UnknownKeyError{KeyID: id}
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(sealVersion)+1+keyIDLen+1:])
	if err != nil {
		return nil, errUnsealable
	}
	aead, err := rk.aead()
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errUnsealable
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, errUnsealable
	}
	return pt, nil
}

// sealedKeyID returns the id of the key a sealed value was made with.
func sealedKeyID(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealVersion+".")
	if !ok || len(rest) < keyIDLen+1 || rest[keyIDLen] != '.' {
		return "", errUnsealable
	}
	return rest[:keyIDLen], nil
}

// resealIfOld returns sealed re-made with the current key, or "" when it
// already uses the current key.
func (k *Keyring) resealIfOld(sealed, context string) (string, error) {
	id, err := sealedKeyID(sealed)
	if err != nil {
		return "", err
	}
	if id == k.current.id {
		return "", nil
	}
	pt, err := k.open(sealed, context)
	if err != nil {
		return "", err
	}
	return k.seal(pt, context)
}

func (rk *ringKey) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(rk.dataKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
