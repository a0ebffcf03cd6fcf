package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRefusedAttemptsStoreNothing prevents anonymous audit-log and disk
// flooding: one client used to write an audit row for every login or
// setup attempt refused by the rate limit (about 2,400 a second), and
// 20,000 of them grew the data directory by over 500 MB. Now a refused
// attempt writes nothing: 20,000 of them leave the database where it was,
// give or take a few hundred KB, and the audit log holds the lock, not
// the refusals.
func TestRefusedAttemptsStoreNothing(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, admin := e.inst, e.Base, e.admin

	// 20 failures lock the client's address.
	for i := range 20 {
		resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/auth/login",
			strings.NewReader(fmt.Sprintf(`{"email":"guess%d@example.com","password":"wrong password"}`, i)),
			http.Header{"Content-Type": {"application/json"}, "Origin": {base}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s, want 401", i, resp.StatusCode, raw)
		}
	}
	entriesBefore := len(floodAudit(t, admin))
	dir := filepath.Join(inst.Home, "data", "caddy", "proxyos")
	sizeBefore := dirSize(t, dir)

	const attempts = 20_000
	var next, refused, other atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for {
				n := next.Add(1)
				if n > attempts {
					return
				}
				path, body := "/api/auth/login", fmt.Sprintf(`{"email":"flood%d@example.com","password":"wrong password"}`, n)
				if n%10 == 0 {
					path, body = "/api/setup", fmt.Sprintf(`{"email":"flood%d@example.com","password":"wrong password","setup_code":"XXXX"}`, n)
				}
				req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", base)
				resp, err := hc.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if refused.Load() != attempts {
		t.Fatalf("%d of %d attempts refused with 429 (%d other answers), want all", refused.Load(), attempts, other.Load())
	}
	sizeAfter := dirSize(t, dir)
	t.Logf("data directory: %d bytes before, %d after %d refused attempts", sizeBefore, sizeAfter, attempts)
	if grew := sizeAfter - sizeBefore; grew > 300<<10 {
		t.Errorf("the data directory grew by %d bytes with %d refused attempts, want at most 300 KB", grew, attempts)
	}
	if n := len(floodAudit(t, admin)); n != entriesBefore {
		t.Errorf("%d audit entries after the refused attempts, %d before: refusals must not be entries of their own", n, entriesBefore)
	}
	var locks int
	for _, e := range floodAudit(t, admin) {
		if e["action"] == "login.lock" {
			locks++
		}
	}
	if locks != 1 {
		t.Errorf("%d login.lock entries, want 1 for the client's locked address", locks)
	}
}

// floodAudit returns the newest audit entries (up to 500).
func floodAudit(t *testing.T, admin *client) []map[string]any {
	t.Helper()
	resp, raw := admin.Get("/api/audit?limit=500", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, raw)
	}
	var out []map[string]any
	for _, e := range decode(t, raw)["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// dirSize sums the sizes of the files in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			n += info.Size()
		}
	}
	return n
}
