package proxyos

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/account"
)

// TestLoginRateLimitUnderConcurrency prevents password guessing by
// parallel requests: every attempt is counted before the password is
// hashed, so a burst of simultaneous guesses for one account gets no more
// tries than the account's limit; the rest are refused with 429.
func TestLoginRateLimitUnderConcurrency(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	const attempts = 3 * account.AccountFailures
	codes := make(chan int, attempts)
	var wg sync.WaitGroup
	for range attempts {
		wg.Go(func() {
			req := apiRequest(http.MethodPost, "/api/auth/login", `{"email":"ada@example.com","password":"wrong guess"}`)
			rec := httptest.NewRecorder()
			req, _ = prepare(req, rec)
			if err := d.ServeHTTP(rec, req, nil); err != nil {
				t.Error(err)
			}
			codes <- rec.Code
		})
	}
	wg.Wait()
	close(codes)
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	if counts[http.StatusUnauthorized] > account.AccountFailures || counts[http.StatusTooManyRequests] < attempts-account.AccountFailures {
		t.Errorf("answers %v: want at most %d password checks (401) and the rest 429", counts, account.AccountFailures)
	}
}

// loginFrom posts a login from the client address ip (with the device
// cookie, if any) and returns the status and the response.
func loginFrom(t *testing.T, d *Dashboard, ip, email, password, device string) *httptest.ResponseRecorder {
	t.Helper()
	req := apiRequest(http.MethodPost, "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	req.RemoteAddr = net.JoinHostPort(ip, "1234")
	if device != "" {
		req.AddCookie(&http.Cookie{Name: account.DeviceCookie, Value: device})
	}
	return serve(t, d, req)
}

// TestStrangersCannotLockOutTheOwner prevents a denial of service: five
// wrong passwords from strangers' networks used to lock an account for
// everyone. Now they lock it for those networks only; the owner logs in
// from theirs. Guessing spread over many networks still stops at the
// account's total limit, which the owner's known device gets through.
func TestStrangersCannotLockOutTheOwner(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "ada password", RoleViewer)
	d := a.dashboard()

	// The owner logs in once: the browser becomes a known device.
	rec := loginFrom(t, d, "198.51.100.1", "ada@example.com", "ada password", "")
	var device string
	for _, c := range rec.Result().Cookies() {
		if c.Name == account.DeviceCookie {
			device = c.Value
			if !c.HttpOnly || c.Path != "/api/auth/" || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("device cookie %+v, want HttpOnly, Path /api/auth/, SameSite Strict", c)
			}
		}
	}
	if rec.Code != http.StatusOK || device == "" {
		t.Fatalf("owner's login: %d, device cookie %q", rec.Code, device)
	}

	// A stranger locks the account from their network only.
	for range account.AccountFailures {
		loginFrom(t, d, "203.0.113.9", "ada@example.com", "guess", "")
	}
	if rec := loginFrom(t, d, "203.0.113.9", "ada@example.com", "ada password", ""); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("stranger's network after %d failures: %d, want 429", account.AccountFailures, rec.Code)
	}
	if rec := loginFrom(t, d, "198.51.100.1", "ada@example.com", "ada password", ""); rec.Code != http.StatusOK {
		t.Fatalf("owner's network while a stranger's is locked: %d %s, want 200", rec.Code, rec.Body)
	}

	// Guesses from many networks reach the account's total limit.
	for i := 0; i < account.AccountTotalFailures; i++ {
		loginFrom(t, d, fmt.Sprintf("10.%d.%d.1", i/200, i%200), "ada@example.com", "guess", "")
	}
	if rec := loginFrom(t, d, "198.51.100.77", "ada@example.com", "ada password", ""); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("new network after %d failures in total: %d, want 429", account.AccountTotalFailures, rec.Code)
	}
	// The owner's known device still gets in; a device cookie of
	// another account does not help a stranger.
	if rec := loginFrom(t, d, "198.51.100.77", "ada@example.com", "ada password", device); rec.Code != http.StatusOK {
		t.Fatalf("owner's known device: %d %s, want 200", rec.Code, rec.Body)
	}
	a.addUser(t, "eve@example.com", "eve password", RoleViewer)
	eveDevice := ""
	for _, c := range loginFrom(t, d, "198.51.100.66", "eve@example.com", "eve password", "").Result().Cookies() {
		if c.Name == account.DeviceCookie {
			eveDevice = c.Value
		}
	}
	if rec := loginFrom(t, d, "198.51.100.66", "ada@example.com", "ada password", eveDevice); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("another account's device cookie: %d, want 429", rec.Code)
	}
}
