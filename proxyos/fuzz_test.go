package proxyos

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSafeReturnURL checks that no input makes the login page an open
// redirect: the result is "/", a path on the dashboard's own origin, or
// an absolute http(s) URL on a host that shares the session cookie.
func FuzzSafeReturnURL(f *testing.F) {
	a := returnURLApp(f)
	for _, s := range []string{
		"/", "/x?y#z", "//evil.com", "/\\evil.com", "https://evil.com#@localhost",
		"https://grafana.example.com/d", "http://localhost:1/", "javascript:alert(1)",
		"https://user:pw@localhost/", "http://localhost.evil.com", "/%2F%2Fevil.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := returnURLRequest()
		got := a.safeReturnURL(raw, r)
		checkReturnURL(t, a, r, raw, got)
		if again := a.safeReturnURL(got, r); again != got {
			t.Fatalf("safeReturnURL(%q) = %q, but that gives %q", raw, got, again)
		}
	})
}

// FuzzDecodeLogin checks that any login body is either decoded or refused
// with a FieldError on "body" — never a panic or another error type.
func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@b.c","password":"pw","return_to":"/"}`,
		`{"email":"a@b.c","password":"pw","totp":"123456"}`,
		`{"email":"a@b.c","admin":true}`,
		`{"email":1}`,
		`{} {}`,
		`[`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Email    string `json:"email"`
			Password string `json:"password"`
			TOTP     string `json:"totp"`
			ReturnTo string `json:"return_to"`
		}
		req := httptest.NewRequest(http.MethodPost, "http://dash.test/api/auth/login", bytes.NewReader(body))
		err := decodeJSON(httptest.NewRecorder(), req, &v)
		if err == nil {
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "body" {
			t.Fatalf("decodeJSON(%q) = %v, want a FieldError on body", body, err)
		}
	})
}

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
