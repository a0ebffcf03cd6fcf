package route

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Keys of a rate limit: what requests are counted against.
const (
	RateLimitClientIP = "client_ip" // the client's IP (IPv6: its /64)
	RateLimitUser     = "user"      // the logged-in user ({http.auth.user.id})
	RateLimitHeader   = "header:"   // prefix of header:<name>, a request header's value
)

// Bounds of a rate limit's settings.
const (
	maxRateRequests = 1_000_000_000
	minRatePer      = time.Second
	maxRatePer      = 24 * time.Hour
)

// RateLimit bounds the requests each client makes to the route: past
// the limit, a request gets 429 Too Many Requests with Retry-After (the
// seconds until one would pass) and never reaches the upstream. It is
// checked after the login gate, so the user is known.
//
// The limit is a sliding one (the generic cell rate algorithm): a client
// may make Burst requests at once, then one every Per/Requests; being
// idle earns requests back at that pace, up to Burst. Each node of a
// cluster counts its own requests: behind a load balancer spreading
// clients over n nodes, a client may get up to n times the limit.
type RateLimit struct {
	// Requests allowed per Per (1 to 1,000,000,000).
	Requests int `json:"requests"`
	// Per is the period, a duration from 1s to 24h such as "1s", "1m"
	// or "1h".
	Per string `json:"per"`
	// Key is what requests count against: client_ip (default; the client
	// IP as Caddy computes it with trusted_proxies, an IPv6 client by its
	// /64), user (the logged-in user; needs require_login or a login
	// rule) or header:<name> (the value of a request header, such as
	// header:X-Api-Key). A request without a user or without the header
	// counts against its client IP.
	Key string `json:"key,omitempty"`
	// Burst is how many requests a client may make at once (1 to
	// 1,000,000,000). Default: Requests.
	Burst int `json:"burst,omitempty"`
}

// validateRateLimit checks r's rate limit, if any.
func (r *Route) validateRateLimit() error {
	rl := r.RateLimit
	if rl == nil {
		return nil
	}
	if rl.Requests < 1 || rl.Requests > maxRateRequests {
		return errf("rate_limit.requests", "%d is not a number of requests from 1 to %d", rl.Requests, maxRateRequests)
	}
	if d, err := caddy.ParseDuration(rl.Per); err != nil || d < minRatePer || d > maxRatePer {
		return errf("rate_limit.per", "%q is not a duration from %s to %s", rl.Per, minRatePer, maxRatePer)
	}
	if rl.Burst < 0 || rl.Burst > maxRateRequests {
		return errf("rate_limit.burst", "%d is not a number of requests from 1 to %d", rl.Burst, maxRateRequests)
	}
	switch name, isHeader := strings.CutPrefix(rl.Key, RateLimitHeader); {
	case rl.Key == RateLimitClientIP:
	case rl.Key == RateLimitUser:
		if r.Auth == nil || !r.Auth.logs() {
			return errf("rate_limit.key", "user needs require_login or a login rule: without a login there is no user to count")
		}
	case isHeader:
		if !validHeaderName(name) {
			return errf("rate_limit.key", "%q is not a header name", name)
		}
	default:
		return errf("rate_limit.key", "%q is not a key (client_ip, user or header:<name>)", rl.Key)
	}
	return nil
}

// rateLimitHandler is the proxyos_rate_limit handler of r's rate limit,
// or nil. It names the route, whose limiter survives reloads and
// changes of other settings.
func rateLimitHandler(r *Route) map[string]any {
	rl := r.RateLimit
	if rl == nil {
		return nil
	}
	h := map[string]any{
		"handler":  "proxyos_rate_limit",
		"route_id": r.ID,
		"requests": rl.Requests,
		"per":      rl.Per,
		"key":      rl.Key,
	}
	if rl.Burst > 0 {
		h["burst"] = rl.Burst
	}
	return h
}
