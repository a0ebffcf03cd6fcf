package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestSignParseRoundTrip(t *testing.T) {
	k := mustKeyring(t, testSecret)
	for i := range 20 {
		tok := NewToken()
		cookie := k.SignToken(tok)
		if len(cookie) != CookieLen {
			t.Fatalf("cookie %d is %d characters, want %d", i, len(cookie), CookieLen)
		}
		if !strings.HasPrefix(cookie, k.CurrentID()+".") {
			t.Fatalf("cookie %q does not start with the current key id", cookie)
		}
		if strings.ContainsAny(cookie, "=+/ ;,\"") {
			t.Fatalf("cookie %q has characters that need quoting in a Cookie header", cookie)
		}
		got, reason := k.ParseToken(cookie)
		if reason != OK {
			t.Fatalf("parseToken(signToken(t)) = reason %q", reason)
		}
		if got != tok {
			t.Fatal("parseToken returned a different token")
		}
	}
}

func TestNewSessionTokenIsRandom(t *testing.T) {
	seen := make(map[Token]bool)
	for range 100 {
		tok := NewToken()
		if tok == (Token{}) || seen[tok] {
			t.Fatal("newSessionToken repeated a value")
		}
		seen[tok] = true
	}
}

func TestTokenHash(t *testing.T) {
	var tok Token
	copy(tok[:], "0123456789abcdef0123456789abcdef")
	sum := sha256.Sum256(tok[:])
	if got, want := tok.Hash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("hash() = %q, want hex SHA-256 %q", got, want)
	}
	if key := tok.CacheKey(); hex.EncodeToString(key[:]) != tok.Hash() {
		t.Error("cacheKey and hash disagree: sessions created and loaded would not match")
	}
}

func TestParseTokenMalformed(t *testing.T) {
	k := mustKeyring(t, testSecret)
	valid := k.SignToken(NewToken())
	tokStart, macStart := KeyIDLen+1, KeyIDLen+1+tokenB64Len+1
	replace := func(i int, s string) string { return valid[:i] + s + valid[i+len(s):] }

	tests := []struct {
		name  string
		value string
	}{
		{"empty", ""},
		{"one short", valid[:len(valid)-1]},
		{"one long", valid + "A"},
		{"missing key id separator", replace(KeyIDLen, "A")},
		{"missing mac separator", replace(macStart-1, "A")},
		{"swapped separator", replace(KeyIDLen, "-")},
		{"upper-case hex key id", strings.ToUpper(valid[:KeyIDLen]) + valid[KeyIDLen:]},
		{"non-hex key id", replace(0, "zz")},
		{"key id with separator", replace(2, ".")},
		{"bad base64 in token", replace(tokStart+5, "*")},
		{"padding in token", replace(tokStart+tokenB64Len-1, "=")},
		{"standard base64 in mac", replace(macStart+3, "+")},
		{"newline in token", replace(tokStart+10, "\n")},
		{"NUL in mac", replace(macStart+10, "\x00")},
		{"bearer-style value", "pxos_" + strings.Repeat("a", CookieLen-5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.value == valid {
				t.Fatal("test case does not change the value")
			}
			if _, reason := k.ParseToken(tt.value); reason != Malformed {
				t.Errorf("parseToken(%q) = %q, want %q", tt.value, reason, Malformed)
			}
		})
	}
}

func TestParseTokenUnknownKey(t *testing.T) {
	k := mustKeyring(t, testSecret, testSecret+"-old")
	other := mustKeyring(t, "some-other-instance-secret")
	if _, reason := k.ParseToken(other.SignToken(NewToken())); reason != UnknownKey {
		t.Errorf("token of another secret: reason %q, want %q", reason, UnknownKey)
	}
}

// TestParseTokenTampering prevents cookie tampering and forgery: changing
// any character of the token or MAC, or moving a MAC to another token or
// key id, must fail the MAC check.
func TestParseTokenTampering(t *testing.T) {
	k := mustKeyring(t, testSecret, testSecret+"-old")
	old := mustKeyring(t, testSecret+"-old")
	tok := NewToken()
	valid := k.SignToken(tok)
	tokStart, macStart := KeyIDLen+1, KeyIDLen+1+tokenB64Len+1

	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	tests := []struct {
		name  string
		value string
	}{
		{"first token char", flip(valid, tokStart)},
		{"middle token char", flip(valid, tokStart+20)},
		{"first mac char", flip(valid, macStart)},
		{"middle mac char", flip(valid, macStart+20)},
		{"mac of another token", valid[:macStart] + k.SignToken(NewToken())[macStart:]},
		{"mac made with another key of the ring", valid[:macStart] + old.SignToken(tok)[macStart:]},
		{"key id of another key of the ring", old.CurrentID() + valid[KeyIDLen:]},
		{"all-zero mac", valid[:macStart] + strings.Repeat("A", macB64Len)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.value == valid || len(tt.value) != CookieLen {
				t.Fatalf("bad test case %q", tt.value)
			}
			if _, reason := k.ParseToken(tt.value); reason != BadSignature {
				t.Errorf("parseToken(%q) = %q, want %q", tt.value, reason, BadSignature)
			}
		})
	}
}

// TestParseTokenCanonical prevents cookie malleability: a cookie differing
// in the unused low bits of its last base64 character would decode to
// the same token and MAC, so one session would have many valid cookie
// values. Exactly one encoding of a token must be accepted.
func TestParseTokenCanonical(t *testing.T) {
	k := mustKeyring(t, testSecret)
	valid := k.SignToken(NewToken())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, pos := range []struct {
		name string
		i    int
	}{
		{"last token char", KeyIDLen + tokenB64Len},
		{"last mac char", CookieLen - 1},
	} {
		t.Run(pos.name, func(t *testing.T) {
			for _, c := range []byte(alphabet) {
				v := valid[:pos.i] + string(c) + valid[pos.i+1:]
				if v == valid {
					continue
				}
				if _, reason := k.ParseToken(v); reason == OK {
					t.Errorf("altered cookie %q accepted", v)
				}
			}
		})
	}
}

// TestParseTokenAllocs guards the hot path: verifying a cookie must not
// allocate.
func TestParseTokenAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	k := mustKeyring(t, testSecret, testSecret+"-old")
	valid := k.SignToken(NewToken())
	for _, tt := range []struct{ name, value string }{
		{"valid", valid},
		{"malformed", strings.Repeat("x", CookieLen)},
		{"unknown key", "00000000" + valid[KeyIDLen:]},
		{"bad signature", valid[:CookieLen-2] + "AA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { k.ParseToken(tt.value) }); n != 0 {
				t.Errorf("parseToken allocates %.1f times per call", n)
			}
		})
	}
}

func TestKeyIDOf(t *testing.T) {
	k := mustKeyring(t, testSecret)
	tests := []struct {
		name, value, want string
	}{
		{"signed cookie", k.SignToken(NewToken()), k.CurrentID()},
		{"just an id", "0123abcd", "0123abcd"},
		{"short", "0123abc", ""},
		{"empty", "", ""},
		{"upper case", "0123ABCD.rest", ""},
		{"not hex", "hello-world", ""},
		{"id with garbage after", "deadbeef<script>", "deadbeef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KeyIDOf(tt.value); got != tt.want {
				t.Errorf("KeyIDOf(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}
