package proxyos

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/session"
)

// enrolTOTP turns TOTP on for u through the API and returns the secret
// and the recovery codes.
func enrolTOTP(t *testing.T, a *testApp, d *Dashboard, cookie string) ([]byte, []string) {
	t.Helper()
	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp", `{}`), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"password"`) {
		t.Fatalf("begin without the password: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp", withPassword(t, `{}`)), cookie))
	if rec.Code != http.StatusOK {
		t.Fatalf("begin: %d %s", rec.Code, rec.Body)
	}
	var enr account.TOTPEnrolment
	decodeBody(t, rec, &enr)
	if !strings.HasPrefix(enr.QR, "data:image/png;base64,") || !strings.HasPrefix(enr.URI, "otpauth://totp/") {
		t.Fatalf("enrolment %+v", enr)
	}
	secret, err := b32.DecodeString(enr.Secret)
	if err != nil || len(secret) != 20 {
		t.Fatalf("secret %q: %v", enr.Secret, err)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/confirm", `{"code":"000000x"}`), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"code"`) {
		t.Fatalf("confirm with a wrong code: %d %s", rec.Code, rec.Body)
	}
	code := account.TOTPCode(secret, a.clock.Now())
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/confirm", fmt.Sprintf(`{"code":%q}`, code)), cookie))
	if rec.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	decodeBody(t, rec, &out)
	if len(out.RecoveryCodes) != numRecoveryCodes {
		t.Fatalf("%d recovery codes", len(out.RecoveryCodes))
	}
	return secret, out.RecoveryCodes
}

// totpPeriod is the time step of TOTP codes, numRecoveryCodes how many
// recovery codes an enrolment gives (RFC 6238's default, and the
// dashboard's promise).
const (
	totpPeriod       = 30 * time.Second
	numRecoveryCodes = 10
)

// b32 is the encoding of TOTP secrets in enrolments and otpauth URIs.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func loginTOTP(t *testing.T, d *Dashboard, email, password, code string) (int, session.Reason) {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q,"totp":%q}`, email, password, code)
	if code == "" {
		body = fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	}
	rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", body))
	var e api.Body
	if rec.Code != http.StatusOK {
		decodeBody(t, rec, &e)
	}
	return rec.Code, e.Reason
}

func TestLoginWithTOTP(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleOperator)
	secret, codes := enrolTOTP(t, a, d, a.newSession(t, u))

	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", ""); st != 401 || reason != account.ReasonTOTPRequired {
		t.Fatalf("login without code: %d %s, want 401 totp_required", st, reason)
	}
	if st, reason := loginTOTP(t, d, u.Email, "wrong password!!", ""); st != 401 || reason != "" {
		t.Fatalf("wrong password: %d %q; must not reveal that TOTP is on", st, reason)
	}
	// Attack: replaying the code used to confirm the enrolment.
	used := account.TOTPCode(secret, a.clock.Now())
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", used); st != 401 || reason != account.ReasonTOTPInvalid {
		t.Fatalf("replayed confirm code: %d %s, want totp_invalid", st, reason)
	}
	a.clock.Advance(totpPeriod)
	code := account.TOTPCode(secret, a.clock.Now())
	if st, _ := loginTOTP(t, d, u.Email, "correct horse battery", code); st != 200 {
		t.Fatalf("login with a fresh code: %d", st)
	}
	// Attack: replaying a code that just logged someone in.
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", code); st != 401 || reason != account.ReasonTOTPInvalid {
		t.Fatalf("replayed login code: %d %s", st, reason)
	}
	// An older step inside the skew window is spent as well.
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", account.TOTPCode(secret, a.clock.Now().Add(-totpPeriod))); st != 401 || reason != account.ReasonTOTPInvalid {
		t.Fatalf("code of an earlier step after a later one: %d %s", st, reason)
	}
	// Recovery codes: any spelling, once.
	if st, _ := loginTOTP(t, d, u.Email, "correct horse battery", strings.ToUpper(codes[0])); st != 200 {
		t.Fatalf("login with a recovery code: %d", st)
	}
	// Attack: reusing a recovery code.
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", codes[0]); st != 401 || reason != account.ReasonTOTPInvalid {
		t.Fatalf("reused recovery code: %d %s", st, reason)
	}
	left, _ := a.state.store.RecoveryCodesLeft(context.Background(), u.ID)
	if left != numRecoveryCodes-1 {
		t.Fatalf("%d recovery codes left, want %d", left, numRecoveryCodes-1)
	}
}

// Attack: guessing TOTP codes with a known password. Wrong codes count
// like wrong passwords, so the account locks after a few.
func TestTOTPBruteForceRateLimited(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	secret, _ := enrolTOTP(t, a, d, a.newSession(t, u))
	a.clock.Advance(totpPeriod)
	right := account.TOTPCode(secret, a.clock.Now())
	locked := false
	for i := 0; i < account.AccountFailures+2; i++ {
		guess := fmt.Sprintf("%06d", i)
		if guess == right {
			continue
		}
		st, _ := loginTOTP(t, d, u.Email, "correct horse battery", guess)
		if st == http.StatusTooManyRequests {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("wrong codes were never rate limited")
	}
	if st, _ := loginTOTP(t, d, u.Email, "correct horse battery", right); st != http.StatusTooManyRequests {
		t.Fatalf("the right code while locked: %d, want 429", st)
	}
}

// The password step alone is not a failed attempt: a user who logs in
// with TOTP many times in a row is never locked out by it.
func TestTOTPRequiredStepNotCounted(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	enrolTOTP(t, a, d, a.newSession(t, u))
	for i := 0; i < account.AccountFailures+3; i++ {
		if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", ""); reason != account.ReasonTOTPRequired {
			t.Fatalf("attempt %d: %d %s", i, st, reason)
		}
	}
}

func TestDisableTOTP(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	cookie := a.newSession(t, u)
	secret, _ := enrolTOTP(t, a, d, cookie)
	a.clock.Advance(totpPeriod)
	code := account.TOTPCode(secret, a.clock.Now())

	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/disable",
		fmt.Sprintf(`{"password":"wrong password!!","code":%q}`, code)), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"password"`) {
		t.Fatalf("wrong password: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/disable",
		`{"password":"correct horse battery","code":"123"}`), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"code"`) {
		t.Fatalf("wrong code: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/disable",
		fmt.Sprintf(`{"password":"correct horse battery","code":%q}`, code)), cookie))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", ""); st != 200 {
		t.Fatalf("login after disabling: %d %s", st, reason)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/account", ""), cookie))
	if !strings.Contains(rec.Body.String(), `"totp_enabled":false`) {
		t.Fatalf("account: %s", rec.Body)
	}
}

func TestBeginTOTPWhenEnabled(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	cookie := a.newSession(t, u)
	enrolTOTP(t, a, d, cookie)
	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp", withPassword(t, `{}`)), cookie))
	if rec.Code != http.StatusConflict {
		t.Fatalf("begin while enabled: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/account/totp/confirm", `{"code":"123456"}`), cookie))
	if rec.Code != http.StatusConflict {
		t.Fatalf("confirm while enabled: %d %s", rec.Code, rec.Body)
	}
}

// Attack: reading TOTP secrets from a copy of the database. They are
// sealed with the key ring; after a secret rotation they are re-sealed
// with the new key at start-up, so the old secret can be dropped.
func TestTOTPSecretSealedAndResealed(t *testing.T) {
	oldSecret, newSecret := randomSecret(t), randomSecret(t)
	a := newTestApp(t, func(a *App) { a.Secret = oldSecret })
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	secret, _ := enrolTOTP(t, a, d, a.newSession(t, u))
	st, _ := a.state.store.UserTOTP(context.Background(), u.ID)
	if strings.Contains(st.Secret, b32.EncodeToString(secret)) || !strings.HasPrefix(st.Secret, "v1."+a.keys.CurrentID()+".") {
		t.Fatalf("stored TOTP secret %q is not sealed with the current key", st.Secret)
	}

	a.rekey(mustKeyring(t, newSecret, oldSecret))
	a.accounts.Reseal(context.Background())
	st2, _ := a.state.store.UserTOTP(context.Background(), u.ID)
	if !strings.HasPrefix(st2.Secret, "v1."+a.keys.CurrentID()+".") {
		t.Fatalf("after start-up with a new secret, TOTP secret is %q", st2.Secret)
	}
	a.rekey(mustKeyring(t, newSecret))
	a.clock.Advance(totpPeriod)
	if code, reason := loginTOTP(t, d, u.Email, "correct horse battery", account.TOTPCode(secret, a.clock.Now())); code != 200 {
		t.Fatalf("login after dropping the old secret: %d %s", code, reason)
	}
}

func TestResetTOTPByAdmin(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	enrolTOTP(t, a, d, a.newSession(t, u))
	rec := serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/users/"+u.ID, `{"reset_totp":true}`), a.newSession(t, admin)))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"totp_enabled":false`) {
		t.Fatalf("reset: %d %s", rec.Code, rec.Body)
	}
	if st, reason := loginTOTP(t, d, u.Email, "correct horse battery", ""); st != 200 {
		t.Fatalf("login after reset: %d %s", st, reason)
	}
	yes := true
	if _, err := a.accounts.UpdateUser(context.Background(), host, u.ID, account.UserChange{ResetTOTP: &yes}, ""); err != nil {
		t.Fatalf("reset of a user without TOTP: %v", err)
	}
}
