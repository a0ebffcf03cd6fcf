package account

import (
	"strings"
	"testing"
)

// FuzzParseAPIKey checks that the API key parser never panics and accepts
// only the one shape keys are made in: the prefix, then an id and a
// secret of lower-case base32 that decode to exactly their byte lengths.
func FuzzParseAPIKey(f *testing.F) {
	id, secret := make([]byte, apiKeyIDBytes), make([]byte, apiKeySecretLen)
	f.Add(apiKeyPrefix + keyEncoding.EncodeToString(id) + keyEncoding.EncodeToString(secret))
	f.Add("pxos_")
	f.Add("PXOS_" + strings.Repeat("a", apiKeyLen-5))
	f.Add("pxos_" + strings.Repeat("1", apiKeyLen-5))
	f.Add("Bearer pxos_abc")
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := parseAPIKey(raw)
		if !ok {
			if got != "" {
				t.Fatalf("parseAPIKey(%q) refused the key but returned id %q", raw, got)
			}
			return
		}
		if len(raw) != apiKeyLen || !strings.HasPrefix(raw, apiKeyPrefix) || got != raw[len(apiKeyPrefix):len(apiKeyPrefix)+apiKeyIDChars] {
			t.Fatalf("parseAPIKey(%q) = %q: accepted a key of the wrong shape", raw, got)
		}
		idBytes, err := keyEncoding.DecodeString(got)
		if err != nil || len(idBytes) != apiKeyIDBytes || keyEncoding.EncodeToString(idBytes) != got {
			t.Fatalf("parseAPIKey(%q) accepted id %q, which is not a canonical id", raw, got)
		}
		sec, err := keyEncoding.DecodeString(raw[len(apiKeyPrefix)+apiKeyIDChars:])
		if err != nil || len(sec) != apiKeySecretLen {
			t.Fatalf("parseAPIKey(%q) accepted a secret that does not decode to %d bytes", raw, apiKeySecretLen)
		}
	})
}
