package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/fail"
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
		err := Decode(httptest.NewRecorder(), req, &v)
		if err == nil {
			return
		}
		var fe *fail.FieldError
		if !errors.As(err, &fe) || fe.Field != "body" {
			t.Fatalf("Decode(%q) = %v, want a FieldError on body", body, err)
		}
	})
}
