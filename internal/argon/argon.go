// Package argon hashes secrets that are only ever checked (passwords,
// route tokens) with argon2id, in modular-crypt form, and bounds how many
// hashes the process computes at once.
package argon

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The parameters of new hashes (RFC 9106 / OWASP: 19 MiB, 2 passes, 1 lane).
const (
	memory  = 19 * 1024
	passes  = 2
	threads = 1
	keyLen  = 32
	saltLen = 16
)

// ErrBadHash is what Verify answers for a hash it does not take.
var ErrBadHash = errors.New("unsupported password hash format")

// slots bounds how many argon2 computations run at once in the process
// (each takes 19 MiB), so a flood of logins or token guesses queues
// instead of exhausting memory.
var slots = make(chan struct{}, max(2, runtime.NumCPU()))

// Hash returns the argon2id hash of secret in modular-crypt form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func Hash(secret string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := compute(secret, salt, passes, memory, threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, passes, threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether secret matches hash (from Hash), comparing in
// constant time. Parameters that would exhaust memory or time are
// refused (ErrBadHash), whoever wrote the hash.
func Verify(hash, secret string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var (
		mem, iter uint32
		lanes     uint8
	)
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &lanes); err != nil || mem == 0 || iter == 0 || lanes == 0 {
		return false, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrBadHash
	}
	if mem > 256*1024 || iter > 16 || lanes > 16 {
		return false, ErrBadHash
	}
	got := compute(secret, salt, iter, mem, lanes, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// compute runs argon2id in one of the process's slots.
func compute(secret string, salt []byte, iter, mem uint32, lanes uint8, n uint32) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey([]byte(secret), salt, iter, mem, lanes, n)
}
