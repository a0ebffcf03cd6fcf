package proxyos

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestLoginRateLimitUnderConcurrency prevents password guessing by
// parallel requests: every attempt is counted before the password is
// hashed, so a burst of simultaneous guesses for one account gets no more
// tries than the account's limit; the rest are refused with 429.
func TestLoginRateLimitUnderConcurrency(t *testing.T) {
	a := newTestApp(t)
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	d := a.dashboard()
	const attempts = 3 * accountFailures
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
	if counts[http.StatusUnauthorized] > accountFailures || counts[http.StatusTooManyRequests] < attempts-accountFailures {
		t.Errorf("answers %v: want at most %d password checks (401) and the rest 429", counts, accountFailures)
	}
}

// TestIPLimitKey checks that IPv6 clients are limited by /64, so one
// subscriber cannot rotate through its addresses to dodge the limit.
func TestIPLimitKey(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.7":            "ip:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "ip:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "ip:2001:db8:1:2::/64",
		"::ffff:192.0.2.7":     "ip:::ffff:192.0.2.7",
		"not an ip":            "ip:not an ip",
	} {
		if got := ipLimitKey(ip); got != want {
			t.Errorf("ipLimitKey(%q) = %q, want %q", ip, got, want)
		}
	}
}
