package proxyos

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/ratelimit"
	"github.com/proxyos/caddy-proxyos/internal/route"
)

func init() {
	caddy.RegisterModule(RateLimit{})
}

// RateLimit limits the requests of a managed route's clients (a route's
// rate_limit): each key (client IP, user or header value) may make Burst
// requests at once, then one every Per/Requests. A request past the
// limit gets 429 Too Many Requests, with Retry-After in seconds and a
// short text body saying when to retry, and goes no further.
//
// The route's limiter is shared by the route's versions and by the
// configs that serve it: a config reload or a change of the route's
// other settings keeps the counts; a change of the limit's settings
// starts afresh. Each node of a cluster counts its own requests. A
// limiter remembers at most ratelimit.DefaultMaxKeys keys, evicting the
// expired (or, under a flood of keys, the closest to expiry) first.
//
// The router puts it in the routes it compiles, after the login gate; it
// is not meant for handwritten configs.
type RateLimit struct {
	// RouteID is the managed route limited, whose limiter this is.
	RouteID string `json:"route_id"`
	// Requests allowed per Per.
	Requests int `json:"requests"`
	// Per is the period of Requests.
	Per caddy.Duration `json:"per"`
	// Burst is how many requests a key may make at once. Default:
	// Requests.
	Burst int `json:"burst,omitempty"`
	// Key is client_ip (default), user ({http.auth.user.id}) or
	// header:<name>. A request without a user or without the header
	// counts against its client IP.
	Key string `json:"key,omitempty"`

	limiter *ratelimit.Limiter
	pool    *caddy.UsagePool
	poolKey string
	kind    byte
	header  string // canonical, for key header:<name>
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (RateLimit) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_rate_limit",
		New: func() caddy.Module { return new(RateLimit) },
	}
}

// Provision finds the route's limiter in the state shared across
// reloads, or makes it.
func (h *RateLimit) Provision(ctx caddy.Context) error {
	if h.RouteID == "" {
		return errors.New("the proxyos_rate_limit handler is used by proxyos managed routes only")
	}
	h.logger = ctx.Logger()
	if err := h.parseKey(); err != nil {
		return err
	}
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	st := app.(*App).state
	h.pool = st.rateLimits
	h.poolKey = fmt.Sprintf("%s %d %d %d %s", h.RouteID, h.Requests, h.Per, h.Burst, h.Key)
	val, _, err := h.pool.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
		return sharedLimiter{ratelimit.New(h.Requests, time.Duration(h.Per), h.Burst, 0, st.now)}, nil
	})
	if err != nil {
		return err
	}
	h.limiter = val.(sharedLimiter).Limiter
	return nil
}

// parseKey sets what requests count against from Key.
func (h *RateLimit) parseKey() error {
	switch name, isHeader := strings.CutPrefix(h.Key, route.RateLimitHeader); {
	case h.Key == "" || h.Key == route.RateLimitClientIP:
		h.kind = ratelimit.KindIP
	case h.Key == route.RateLimitUser:
		h.kind = ratelimit.KindUser
	case isHeader && name != "":
		h.kind, h.header = ratelimit.KindHeader, http.CanonicalHeaderKey(name)
	default:
		return fmt.Errorf("key: %q is not a key (client_ip, user or header:<name>)", h.Key)
	}
	return nil
}

// Validate checks the limit's settings.
func (h *RateLimit) Validate() error {
	if h.Requests < 1 {
		return fmt.Errorf("requests: %d is not a positive number", h.Requests)
	}
	if h.Per <= 0 {
		return fmt.Errorf("per: %s is not a positive duration", time.Duration(h.Per))
	}
	if h.Burst < 0 {
		return fmt.Errorf("burst: %d is negative", h.Burst)
	}
	return nil
}

// ServeHTTP counts the request against its key and passes it on, or
// answers 429.
func (h *RateLimit) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	retry, ok := h.limiter.Allow(h.key(r))
	if ok {
		return next.ServeHTTP(w, r)
	}
	// Written here rather than returned as an error, so every client
	// learns when to retry whatever the site's error handling.
	secs := strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10)
	if c := h.logger.Check(zap.DebugLevel, "rate limited"); c != nil {
		c.Write(zap.String("route_id", h.RouteID), zap.String("remote_ip", api.ClientIP(r)), zap.String("retry_after", secs))
	}
	w.Header().Set("Retry-After", secs)
	http.Error(w, "too many requests: retry in "+secs+"s", http.StatusTooManyRequests)
	return nil
}

// key returns what r counts against: its user or header value, else its
// client IP.
func (h *RateLimit) key(r *http.Request) ratelimit.Key {
	switch h.kind {
	case ratelimit.KindUser:
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if v, _ := repl.Get("http.auth.user.id"); v != nil {
				if id, _ := v.(string); id != "" {
					return h.limiter.KeyOf(ratelimit.KindUser, id)
				}
			}
		}
	case ratelimit.KindHeader:
		if v := r.Header[h.header]; len(v) > 0 && v[0] != "" {
			return h.limiter.KeyOf(ratelimit.KindHeader, v[0])
		}
	}
	return h.limiter.IPKey(api.ClientIP(r))
}

// ReadsHeadersOnly tells the router that the handler leaves the
// request's headers alone (see router.HeaderReader).
func (h *RateLimit) ReadsHeadersOnly() {}

// Rejected returns how many requests the route's limiter refused (on
// this node, since the limit's settings last changed), for metrics.
func (h *RateLimit) Rejected() uint64 { return h.limiter.Rejected() }

// Cleanup releases the route's limiter: the last version of the route
// (in any config) to let go of it drops it.
func (h *RateLimit) Cleanup() error {
	if h.pool == nil || h.limiter == nil {
		return nil
	}
	_, err := h.pool.Delete(h.poolKey)
	return err
}

// sharedLimiter is a route's limiter in the state's usage pool.
type sharedLimiter struct{ *ratelimit.Limiter }

// Destruct does nothing: a limiter holds only memory.
func (sharedLimiter) Destruct() error { return nil }

// Interface guards
var (
	_ caddy.Provisioner           = (*RateLimit)(nil)
	_ caddy.Validator             = (*RateLimit)(nil)
	_ caddy.CleanerUpper          = (*RateLimit)(nil)
	_ caddyhttp.MiddlewareHandler = (*RateLimit)(nil)
)
