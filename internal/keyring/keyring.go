// Package keyring derives proxyos's keys from the configured secrets and
// uses them: session tokens and their MACs, and sealing (authenticated
// encryption) of the secrets kept in the database. Keys of previous
// secrets still verify and open, so rotating the secret logs nobody out.
package keyring

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSecretLen is the shortest secret accepted. Generated secrets are 32
// random bytes; a human-chosen one should be at least this long.
const MinSecretLen = 16

// Key purposes. Each secret yields one independent key per purpose, so a
// key used for session MACs can never verify anything else.
const (
	purposeSessionMAC = "proxyos session mac v1"
	purposeKeyID      = "proxyos key id v1"
	purposeDataKey    = "proxyos data key v1" // seals secrets kept in the database
)

// KeyIDLen is the length in hex characters of a key id.
const KeyIDLen = 8

// Keyring holds the purpose keys derived from the current secret and from
// previous secrets. New material is always made with the current key;
// previous keys still verify. It is immutable after New.
type Keyring struct {
	current *ringKey
	byID    map[string]*ringKey
}

// ringKey is the set of keys derived from one secret.
type ringKey struct {
	id         string
	sessionMAC []byte
	dataKey    []byte    // AES-256 key of seal and open
	macPool    sync.Pool // of *macState (HMAC-SHA256 with sessionMAC)
}

// macState is a pooled HMAC with its own input and output buffers.
// Passing the caller's arrays through the hash.Hash interface would move
// them to the heap; copying through pooled buffers keeps sum
// allocation-free.
type macState struct {
	h   hash.Hash
	in  [tokenBytes]byte
	out [sha256.Size]byte
}

// New derives keys from the current secret and the previous ones.
// Errors never contain a secret.
func New(current string, previous []string) (*Keyring, error) {
	if len(current) < MinSecretLen {
		return nil, fmt.Errorf("secret: must be at least %d characters", MinSecretLen)
	}
	k := &Keyring{byID: make(map[string]*ringKey)}
	cur, err := deriveRingKey(current)
	if err != nil {
		return nil, err
	}
	k.current = cur
	k.byID[cur.id] = cur
	for i, p := range previous {
		if len(p) < MinSecretLen {
			return nil, fmt.Errorf("previous_secrets[%d]: must be at least %d characters", i, MinSecretLen)
		}
		rk, err := deriveRingKey(p)
		if err != nil {
			return nil, err
		}
		if _, dup := k.byID[rk.id]; !dup {
			k.byID[rk.id] = rk
		}
	}
	return k, nil
}

func deriveRingKey(secret string) (*ringKey, error) {
	idBytes, err := hkdf.Key(sha256.New, []byte(secret), nil, purposeKeyID, KeyIDLen/2)
	if err != nil {
		return nil, errors.New("deriving key id failed")
	}
	mac, err := hkdf.Key(sha256.New, []byte(secret), nil, purposeSessionMAC, 32)
	if err != nil {
		return nil, errors.New("deriving session key failed")
	}
	data, err := hkdf.Key(sha256.New, []byte(secret), nil, purposeDataKey, 32)
	if err != nil {
		return nil, errors.New("deriving data key failed")
	}
	rk := &ringKey{id: hex.EncodeToString(idBytes), sessionMAC: mac, dataKey: data}
	rk.macPool.New = func() any { return &macState{h: hmac.New(sha256.New, rk.sessionMAC)} }
	return rk, nil
}

// CurrentID returns the id of the current key. Key ids are derived one-way
// and reveal nothing about the secret; they name keys in logs and reports.
func (k *Keyring) CurrentID() string { return k.current.id }

// IDs returns the ids of every key, current first.
func (k *Keyring) IDs() []string {
	ids := []string{k.current.id}
	for id := range k.byID {
		if id != k.current.id {
			ids = append(ids, id)
		}
	}
	return ids
}

// key returns the ring key with the given id, or nil.
func (k *Keyring) key(id string) *ringKey { return k.byID[id] }

// sum computes the session MAC of msg into out without allocating.
func (rk *ringKey) sum(msg []byte, out *[sha256.Size]byte) {
	ms := rk.macPool.Get().(*macState)
	ms.h.Reset()
	for len(msg) > 0 {
		n := copy(ms.in[:], msg)
		ms.h.Write(ms.in[:n])
		msg = msg[n:]
	}
	ms.h.Sum(ms.out[:0])
	*out = ms.out
	rk.macPool.Put(ms)
}
