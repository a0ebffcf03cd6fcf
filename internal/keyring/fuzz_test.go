package keyring

import "testing"

// Secrets of the fuzz key ring. The seed corpus in
// testdata/fuzz/FuzzParseToken holds cookies signed with them.
const (
	fuzzCurrentSecret  = "fuzz-current-secret-0001"
	fuzzPreviousSecret = "fuzz-previous-secret-0001"
)

// FuzzParseToken checks that parseToken never panics, returns only its
// documented reasons, and accepts exactly the cookies the ring signed:
// re-signing an accepted token with the key named in the cookie gives
// back the very same string (no forgery, no alternative encodings).
func FuzzParseToken(f *testing.F) {
	k := mustKeyring(f, fuzzCurrentSecret, fuzzPreviousSecret)
	prev := mustKeyring(f, fuzzPreviousSecret)
	f.Add(k.SignToken(NewToken()))
	f.Add(prev.SignToken(NewToken()))
	f.Add(mustKeyring(f, "fuzz-unknown-secret-0001").SignToken(NewToken()))
	f.Add("")
	f.Add("00000000.")

	f.Fuzz(func(t *testing.T, value string) {
		tok, reason := k.ParseToken(value)
		switch reason {
		case OK:
		case Malformed, UnknownKey, BadSignature:
			return
		default:
			t.Fatalf("parseToken(%q): undocumented reason %q", value, reason)
		}
		var resigned string
		switch KeyIDOf(value) {
		case k.CurrentID():
			resigned = k.SignToken(tok)
		case prev.CurrentID():
			resigned = prev.SignToken(tok)
		default:
			t.Fatalf("parseToken(%q) accepted a key id not in the ring", value)
		}
		if resigned != value {
			t.Fatalf("parseToken accepted %q, but the ring signs that token as %q", value, resigned)
		}
	})
}
