package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/session"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Email string `json:"email"`
	}
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"ok", `{"email":"a@b.c"}`, "a@b.c", ""},
		{"trailing whitespace", "{\"email\":\"a@b.c\"}\n", "a@b.c", ""},
		{"unknown field", `{"email":"a@b.c","admin":true}`, "", `body: not valid JSON: json: unknown field "admin"`},
		{"trailing value", `{"email":"a"}{"email":"b"}`, "", "body: unexpected data after the JSON value"},
		{"not json", `email=a`, "", "body: not valid JSON"},
		{"empty", ``, "", "body: not valid JSON: EOF"},
		{"too large", `{"email":"` + strings.Repeat("a", maxBodyBytes) + `"}`, "", "body: not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.in))
			var b body
			err := Decode(httptest.NewRecorder(), req, &b)
			if tt.wantErr == "" {
				if err != nil || b.Email != tt.want {
					t.Errorf("decodeJSON = %v, email %q", err, b.Email)
				}
				return
			}
			var fe *fail.FieldError
			if !errors.As(err, &fe) || fe.Field != "body" || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("decodeJSON = %v, want a FieldError starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteUnauthenticated(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteUnauthenticated(rec, session.ReasonIdleTimeout)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", rec.Code)
	}
	if got, want := rec.Body.String(), `{"error":"unauthenticated","reason":"idle_timeout"}`+"\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rec.Header())
	}
}

// TestStatusOf maps each kind of service error to its status and body,
// the one mapping of the dashboard's API and Caddy's admin API.
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		body   Body
		retry  time.Duration
	}{
		{fail.Field("email", "required"), 400, Body{Error: "email: required", Field: "email"}, 0},
		{fmt.Errorf("creating: %w", fail.Field("role", "bad")), 400, Body{Error: "role: bad", Field: "role"}, 0},
		{fail.Unauthenticated("expired"), 401, Body{Error: "unauthenticated", Reason: "expired"}, 0},
		{&fail.UnauthenticatedError{Message: "invalid email or password"}, 401, Body{Error: "invalid email or password"}, 0},
		{fail.Forbidden("role", "no"), 403, Body{Error: "no", Field: "role"}, 0},
		{fail.NotFound("no such user"), 404, Body{Error: "no such user"}, 0},
		{fail.Conflict("version", "stale"), 409, Body{Error: "stale", Field: "version"}, 0},
		{&fail.RateLimitedError{RetryAfter: 1500 * time.Millisecond}, 429, Body{Error: "too many failed attempts; retry in 2s"}, 1500 * time.Millisecond},
		{&fail.UnavailableError{Message: "database unavailable"}, 503, Body{Error: "database unavailable"}, 0},
	} {
		status, body, retry, ok := StatusOf(tc.err)
		if !ok || status != tc.status || body != tc.body || retry != tc.retry {
			t.Errorf("StatusOf(%v) = %d %+v %v %v, want %d %+v %v", tc.err, status, body, retry, ok, tc.status, tc.body, tc.retry)
		}
	}
	if status, body, _, ok := StatusOf(errors.New("driver: connection refused to db.internal")); ok || status != 500 || strings.Contains(body.Error, "db.internal") {
		t.Errorf("an unexpected error: %d %+v %v, want a 500 without details", status, body, ok)
	}
	if got := RetryAfterSeconds(1500 * time.Millisecond); got != "2" {
		t.Errorf("RetryAfterSeconds(1.5s) = %q, want 2 (rounded up)", got)
	}
}
