// Package location holds the proxyos_locations handler: the locations
// of a managed route (paths of one host served with settings of their
// own), each a chain of handlers built once, the one that serves a
// request picked by its path without allocating.
package location

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves a request with the handlers of the first of its
// locations whose path matches the request's, else with its default
// handlers, else passes it on to the next handler. A location's
// handlers (and the default ones) end the chain as a terminal route's
// do: nothing after the proxyos_locations handler runs once one of them
// served the request.
//
// A location's path is "/exact" (that path only) or a prefix ending in
// "*" ("/api/*", "/api*"). Matching is that of Caddy's path matcher for
// these two forms: case-insensitive, on the cleaned request path
// (r.URL.Path, so an escaped "/" is a "/"). The locations are tried in
// their order: list the most specific first. Unlike a list of routes
// behind path matchers, picking a location and running its handlers
// allocates nothing: each location's handlers are chained once, when the
// handler is provisioned.
type Handler struct {
	// Locations are tried in order; the first whose path matches serves
	// the request.
	Locations []Location `json:"locations,omitempty"`

	// DefaultRaw are the handlers of requests no location matches.
	// Without them such requests go on to the next handler.
	DefaultRaw []json.RawMessage `json:"default,omitempty" caddy:"namespace=http.handlers inline_key=handler"`

	// Default are the provisioned default handlers.
	Default []caddyhttp.MiddlewareHandler `json:"-"`

	fallback caddyhttp.Handler // Default chained; nil without them
}

// Location is one path and the handlers of the requests it matches.
type Location struct {
	// Path is "/exact" or a prefix ending in "*": it starts with "/" and
	// has no "%", braces, "//" or glob characters other than a final "*".
	Path string `json:"path"`

	// HandlersRaw are the location's handlers, in order.
	HandlersRaw []json.RawMessage `json:"handle,omitempty" caddy:"namespace=http.handlers inline_key=handler"`

	// Handlers are the provisioned handlers.
	Handlers []caddyhttp.MiddlewareHandler `json:"-"`

	pattern pattern
	chain   caddyhttp.Handler
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_locations",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads each location's handlers and the default ones through
// ctx (so Caddy cleans them up with it) and chains them.
func (h *Handler) Provision(ctx caddy.Context) error {
	for i := range h.Locations {
		l := &h.Locations[i]
		l.pattern = parsePattern(l.Path)
		mods, err := ctx.LoadModule(l, "HandlersRaw")
		if err != nil {
			return fmt.Errorf("locations[%d] %q: loading handlers: %w", i, l.Path, err)
		}
		l.Handlers = middleware(mods)
		l.chain = Chain(l.Handlers, terminal)
	}
	mods, err := ctx.LoadModule(h, "DefaultRaw")
	if err != nil {
		return fmt.Errorf("default: loading handlers: %w", err)
	}
	h.Default = middleware(mods)
	if len(h.Default) > 0 {
		h.fallback = Chain(h.Default, terminal)
	}
	return nil
}

// Validate checks the locations' paths.
func (h *Handler) Validate() error {
	for i, l := range h.Locations {
		if err := CheckPath(l.Path); err != nil {
			return fmt.Errorf("locations[%d].path: %q %w", i, l.Path, err)
		}
	}
	return nil
}

// ServeHTTP serves r with the chain of the first location matching its
// path, else the default chain, else next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if l := h.Match(r.URL.Path); l != nil {
		return l.chain.ServeHTTP(w, r)
	}
	if h.fallback != nil {
		return h.fallback.ServeHTTP(w, r)
	}
	return next.ServeHTTP(w, r)
}

// Match returns the first location whose path matches the request path
// p (r.URL.Path), or nil.
func (h *Handler) Match(p string) *Location {
	if len(h.Locations) == 0 {
		return nil
	}
	k := cleanKey(p)
	for i := range h.Locations {
		if l := &h.Locations[i]; l.pattern.match(k) {
			return l
		}
	}
	return nil
}

// middleware converts the modules LoadModule returned for a handler
// list.
func middleware(mods any) []caddyhttp.MiddlewareHandler {
	list, _ := mods.([]any)
	out := make([]caddyhttp.MiddlewareHandler, 0, len(list))
	for _, m := range list {
		out = append(out, m.(caddyhttp.MiddlewareHandler))
	}
	return out
}

// Chain links handlers in order, each one's next the one after it and
// the last one's end, once, so that serving a request through the chain
// allocates nothing of its own.
func Chain(handlers []caddyhttp.MiddlewareHandler, end caddyhttp.Handler) caddyhttp.Handler {
	next := end
	for i := len(handlers) - 1; i >= 0; i-- {
		next = &link{h: handlers[i], next: next}
	}
	return next
}

// link is one handler of a chain with its next.
type link struct {
	h    caddyhttp.MiddlewareHandler
	next caddyhttp.Handler
}

func (l *link) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return l.h.ServeHTTP(w, r, l.next)
}

// terminal ends a location's chain as Caddy ends a terminal route: a
// request no handler answered is marked unhandled, and while handling an
// error the error's status is written.
var terminal caddyhttp.Handler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	if err, ok := r.Context().Value(caddyhttp.ErrorCtxKey).(error); ok {
		status := http.StatusInternalServerError
		if he, ok := err.(caddyhttp.HandlerError); ok {
			status = he.StatusCode
		}
		w.WriteHeader(status)
		return nil
	}
	caddyhttp.SetVar(r.Context(), "unhandled", true)
	return nil
})

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
