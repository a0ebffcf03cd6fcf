package route

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/access"
)

func TestValidateRateLimit(t *testing.T) {
	login := &Auth{RequireLogin: true}
	loginRule := &Auth{Rules: []access.Rule{{Action: "login", Path: "/admin/*"}}}
	tests := []struct {
		name  string
		rl    RateLimit
		auth  *Auth
		field string // "" for valid
	}{
		{"client ip", RateLimit{Requests: 100, Per: "1m"}, nil, ""},
		{"header", RateLimit{Requests: 10, Per: "1s", Key: "header:X-Api-Key", Burst: 20}, nil, ""},
		{"user behind a login", RateLimit{Requests: 10, Per: "1h", Key: "user"}, login, ""},
		{"user behind a login rule", RateLimit{Requests: 10, Per: "1h", Key: "user"}, loginRule, ""},
		{"user without a login", RateLimit{Requests: 10, Per: "1m", Key: "user"}, nil, "rate_limit.key"},
		{"user with allow rules only", RateLimit{Requests: 10, Per: "1m", Key: "user"},
			&Auth{Rules: []access.Rule{{Action: "allow", Path: "/*"}}}, "rate_limit.key"},
		{"unknown key", RateLimit{Requests: 10, Per: "1m", Key: "cookie"}, nil, "rate_limit.key"},
		{"bad header name", RateLimit{Requests: 10, Per: "1m", Key: "header:X Bad"}, nil, "rate_limit.key"},
		{"empty header name", RateLimit{Requests: 10, Per: "1m", Key: "header:"}, nil, "rate_limit.key"},
		{"no requests", RateLimit{Per: "1m"}, nil, "rate_limit.requests"},
		{"too many requests", RateLimit{Requests: 2_000_000_000, Per: "1m"}, nil, "rate_limit.requests"},
		{"no period", RateLimit{Requests: 10}, nil, "rate_limit.per"},
		{"not a duration", RateLimit{Requests: 10, Per: "minute"}, nil, "rate_limit.per"},
		{"period too short", RateLimit{Requests: 10, Per: "10ms"}, nil, "rate_limit.per"},
		{"period too long", RateLimit{Requests: 10, Per: "30d"}, nil, "rate_limit.per"},
		{"negative burst", RateLimit{Requests: 10, Per: "1m", Burst: -1}, nil, "rate_limit.burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rtuProxy()
			rl := tt.rl
			r.RateLimit, r.Auth = &rl, tt.auth
			r.Normalize()
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want an error on %s", err, tt.field)
			}
		})
	}
}

func TestNormalizeRateLimitKey(t *testing.T) {
	r := rtuProxy()
	r.RateLimit = &RateLimit{Requests: 1, Per: "1s"}
	r.Normalize()
	if r.RateLimit.Key != RateLimitClientIP {
		t.Fatalf("Key = %q, want the default %q", r.RateLimit.Key, RateLimitClientIP)
	}
}

// TestCompileRateLimit checks that the limit follows the gate (the user
// is known) and precedes what serves the request, and names the route.
func TestCompileRateLimit(t *testing.T) {
	r := rtuProxy()
	r.Auth = &Auth{RequireLogin: true}
	r.Compress = true
	r.RateLimit = &RateLimit{Requests: 100, Per: "1m", Key: "user", Burst: 10}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	got := rtuCompileJSON(t, r)
	chain := got[len(got)-1]
	want := []string{"proxyos_auth", "proxyos_rate_limit", "encode", "reverse_proxy"}
	if names := rtuHandlerNames(chain); !reflect.DeepEqual(names, want) {
		t.Fatalf("handlers = %q, want %q", names, want)
	}
	rtuAssertJSON(t, "rate limit", chain.Handle[1],
		`{"handler":"proxyos_rate_limit","route_id":"r1","requests":100,"per":"1m","key":"user","burst":10}`)

	r.RateLimit = nil
	if names := rtuHandlerNames(rtuCompileJSON(t, r)[0]); names[1] != "encode" {
		t.Errorf("without a rate limit, handlers = %q", names)
	}
}

// TestRateLimitRoundTrip checks the field survives the route's JSON (the
// store, the API, export and import).
func TestRateLimitRoundTrip(t *testing.T) {
	r := rtuProxy()
	r.RateLimit = &RateLimit{Requests: 5, Per: "1s", Key: "header:X-Api-Key", Burst: 7}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Route
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.RateLimit, r.RateLimit) {
		t.Fatalf("rate_limit = %+v after a round trip, want %+v (%s)", back.RateLimit, r.RateLimit, raw)
	}
}
