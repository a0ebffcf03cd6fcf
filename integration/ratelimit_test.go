package integration

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestRouteRateLimit runs a rate-limited route in a real Caddy behind a
// trusted proxy (X-Forwarded-For tells client addresses): past the
// limit a client gets 429 with Retry-After and the upstream never sees
// the request; another client is unaffected; the counts survive a
// config reload; a change of the limit, through the admin API, applies
// at once without a reload; invalid limits get 400 naming the field,
// and nothing changes.
func TestRouteRateLimit(t *testing.T) {
	e := rtStart(t, "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}")
	up := rtNewUpstream(t, "limited", false)
	const host = "limited.ratelimit.test"
	spec := rtWith(rtProxy(host, "off", up.URL), "rate_limit", map[string]any{"requests": 3, "per": "1m"})
	r := e.dash.create(spec)

	from := func(ip string) (*http.Response, []byte) {
		t.Helper()
		return e.get(host, "/", "X-Forwarded-For", ip)
	}
	for i := range 3 {
		if resp, raw := from("203.0.113.1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s, want 200", i+1, resp.StatusCode, raw)
		}
	}
	hits := up.hits.Load()
	resp, raw := from("203.0.113.1")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || retry > 20 || len(raw) == 0 {
		t.Fatalf("4th request: %d, Retry-After %q, body %q; want 429, 1 to 20 s, a body", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	if up.hits.Load() != hits {
		t.Fatal("the limited request reached the upstream")
	}
	if resp, raw := from("203.0.113.2"); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %d %s, want 200", resp.StatusCode, raw)
	}

	t.Run("counts survive a reload", func(t *testing.T) {
		loads := rtCount(e.inst.FullLog(), "load complete")
		out, err := exec.Command(caddyBin, "reload", "--force", "--config", e.inst.ConfigFile(), "--adapter", "caddyfile",
			"--address", e.inst.Admin).CombinedOutput()
		if err != nil {
			t.Fatalf("caddy reload: %v\n%s", err, out)
		}
		rtPoll(t, 10*time.Second, func() string {
			if n := rtCount(e.inst.FullLog(), "load complete"); n <= loads {
				return "no new config loaded"
			}
			return ""
		})
		if resp, raw := from("203.0.113.1"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after a reload: %d %s, want 429", resp.StatusCode, raw)
		}
	})

	t.Run("invalid limits", func(t *testing.T) {
		cases := []struct {
			name  string
			limit map[string]any
			field string
		}{
			{"period not a duration", map[string]any{"requests": 3, "per": "fast"}, "rate_limit.per"},
			{"period too short", map[string]any{"requests": 3, "per": "1ms"}, "rate_limit.per"},
			{"user without a login", map[string]any{"requests": 3, "per": "1m", "key": "user"}, "rate_limit.key"},
			{"unknown key", map[string]any{"requests": 3, "per": "1m", "key": "cookie:sid"}, "rate_limit.key"},
			{"no requests", map[string]any{"per": "1m"}, "rate_limit.requests"},
		}
		for _, api := range []rtAPI{e.dash, e.api} {
			for _, c := range cases {
				status, raw := api.call(http.MethodPut, "/"+r.ID, rtWith(spec, "version", r.Version, "rate_limit", c.limit))
				rtWantFieldError(t, api, c.name, status, raw, http.StatusBadRequest, c.field)
			}
		}
		if got := e.dash.get(r.ID); got.Version != r.Version {
			t.Fatalf("version %d after refused changes, want %d", got.Version, r.Version)
		}
		if resp, _ := from("203.0.113.1"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after refused changes: %d, want the limit still live (429)", resp.StatusCode)
		}
	})

	t.Run("a change applies live", func(t *testing.T) {
		loads := rtCount(e.inst.FullLog(), "load complete")
		r = e.api.update(r.ID, r.Version, rtWith(spec, "rate_limit", map[string]any{"requests": 10, "per": "1m", "burst": 5}))
		for i := range 5 {
			if resp, raw := from("203.0.113.1"); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d after raising the limit: %d %s, want 200", i+1, resp.StatusCode, raw)
			}
		}
		if resp, _ := from("203.0.113.1"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("6th request with burst 5: %d, want 429", resp.StatusCode)
		}
		if n := rtCount(e.inst.FullLog(), "load complete"); n != loads {
			t.Errorf("the change reloaded the config (%d loads, was %d)", n, loads)
		}
		var got struct {
			RateLimit map[string]any `json:"rate_limit"`
		}
		_, raw := e.dash.call(http.MethodGet, "/"+r.ID, nil)
		if err := json.Unmarshal(raw, &got); err != nil || got.RateLimit["requests"] != 10.0 || got.RateLimit["burst"] != 5.0 ||
			got.RateLimit["key"] != "client_ip" {
			t.Fatalf("route's rate_limit = %v (%v), want requests 10, burst 5, key client_ip", got.RateLimit, err)
		}
	})

	t.Run("removing the limit", func(t *testing.T) {
		delete(spec, "rate_limit")
		r = e.dash.update(r.ID, r.Version, spec)
		for i := range 5 {
			if resp, raw := from("203.0.113.1"); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d without a limit: %d %s, want 200", i+1, resp.StatusCode, raw)
			}
		}
	})
}
