package account

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/proxyos/caddy-proxyos/internal/argon"
)

// Password limits. The maximum only guards against hashing megabytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// CheckPasswordPolicy returns an error naming the field when pw is not an
// acceptable password.
func CheckPasswordPolicy(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return fmt.Errorf("password: must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("password: must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id hash of pw in modular-crypt format
// (see argon.Hash).
func HashPassword(pw string) string { return argon.Hash(pw) }

// VerifyPassword reports whether pw matches the modular-crypt hash, in
// constant time (see argon.Verify).
func VerifyPassword(hash, pw string) (bool, error) { return argon.Verify(hash, pw) }

var (
	dummyHashOnce sync.Once
	dummyHash     string
)

// verifyDummy spends the same time as VerifyPassword on a real hash, for
// logins of unknown accounts, so timing does not reveal which emails exist.
func verifyDummy(pw string) {
	dummyHashOnce.Do(func() { dummyHash = HashPassword("proxyos-dummy-password") })
	VerifyPassword(dummyHash, pw) //nolint:errcheck // result deliberately ignored
}
