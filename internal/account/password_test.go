package account

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/argon"
)

// modularCrypt is the exact shape of a hash made by HashPassword: PHC
// modular-crypt format with the configured argon2id parameters, a 16-byte
// salt and a 32-byte key, both unpadded standard base64.
var modularCrypt = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

// TestHashPassword hashes twice at full cost; the other password tests
// use cheap parameters.
func TestHashPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h1, h2 := HashPassword(pw), HashPassword(pw)

	t.Run("modular crypt format", func(t *testing.T) {
		if !modularCrypt.MatchString(h1) {
			t.Errorf("hash %q is not $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>", h1)
		}
		if strings.Contains(h1, pw) {
			t.Error("hash contains the password")
		}
	})
	t.Run("salted", func(t *testing.T) {
		if h1 == h2 {
			t.Error("two hashes of one password are equal: no random salt")
		}
		if strings.Split(h1, "$")[4] == strings.Split(h2, "$")[4] {
			t.Error("two hashes share a salt")
		}
	})
	t.Run("verifies", func(t *testing.T) {
		ok, err := VerifyPassword(h1, pw)
		if err != nil || !ok {
			t.Errorf("VerifyPassword(right password) = %v, %v", ok, err)
		}
		ok, err = VerifyPassword(h2, pw+"!")
		if err != nil || ok {
			t.Errorf("VerifyPassword(wrong password) = %v, %v", ok, err)
		}
	})
}

// TestVerifyPasswordReferenceVector checks interoperability with hashes
// made by other argon2id implementations: the key is the reference CLI's
// output for password "password", salt "somesalt", t=1, m=64, p=1.
func TestVerifyPasswordReferenceVector(t *testing.T) {
	const h = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", "password", true},
		{"wrong", "Password", false},
		{"prefix", "passwor", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(h, tt.pw)
			if err != nil || ok != tt.want {
				t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7"
	tests := []struct {
		name, hash string
	}{
		{"empty", ""},
		{"plain text", "password"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"zero memory", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"garbled params", "$argon2id$v=19$memory$" + salt + "$" + key},
		{"bad salt base64", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key},
		{"padded key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "=="},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, "password")
			if ok || !errors.Is(err, argon.ErrBadHash) {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false, errBadHash", tt.hash, ok, err)
			}
		})
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	tests := []struct {
		name    string
		pw      string
		wantErr string
	}{
		{"empty", "", "password: must be at least 8 characters"},
		{"seven", "1234567", "password: must be at least 8 characters"},
		{"eight", "12345678", ""},
		{"eight multi-byte characters", "пароль12", ""},
		{"four multi-byte characters, eight bytes", "ääää", "password: must be at least 8 characters"},
		{"64 characters", strings.Repeat("p", 64), ""},
		{"maximum", strings.Repeat("p", MaxPasswordLen), ""},
		{"over maximum", strings.Repeat("p", MaxPasswordLen+1), "password: must be at most 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tt.pw)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckPasswordPolicy refused: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("CheckPasswordPolicy = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifyDummy checks the dummy hash that unknown accounts are checked
// against, so login timing does not reveal which emails exist: it must
// be a real hash of full cost that matches no ordinary password.
func TestVerifyDummy(t *testing.T) {
	verifyDummy("whatever-password")
	if !modularCrypt.MatchString(dummyHash) {
		t.Fatalf("dummy hash %q is not a full-cost argon2id hash", dummyHash)
	}
	first := dummyHash
	verifyDummy("another")
	if dummyHash != first {
		t.Error("dummy hash recomputed on every call")
	}
}
