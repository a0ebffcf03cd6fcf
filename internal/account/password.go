package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password limits. The maximum only guards against hashing megabytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// argon2id parameters (RFC 9106 / OWASP: 19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

var errBadHash = errors.New("unsupported password hash format")

// hashSlots bounds how many argon2 computations run at once (each takes
// 19 MiB), so a flood of logins queues instead of exhausting memory.
var hashSlots = make(chan struct{}, max(2, runtime.NumCPU()))

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

// HashPassword returns the argon2id hash of pw in modular-crypt format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashSlots
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword reports whether pw matches the modular-crypt hash. The
// comparison is constant-time.
func VerifyPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var (
		mem, iter uint32
		threads   uint8
	)
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil || mem == 0 || iter == 0 || threads == 0 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	if mem > 256*1024 || iter > 16 || threads > 16 {
		return false, errBadHash // refuse parameters that would exhaust memory or time
	}
	hashSlots <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, iter, mem, threads, uint32(len(want)))
	<-hashSlots
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

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
