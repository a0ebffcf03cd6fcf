package route

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/access"
	_ "github.com/proxyos/caddy-proxyos/internal/location" // the proxyos_locations handler of routes with locations
)

// Options are facts about the server that compiled routes depend on.
type Options struct {
	// Transport is the reverse_proxy transport module (its "protocol")
	// that proxy routes use. Default: Caddy's "http".
	Transport string
	// ErrorPages are the default error pages of every route (the app's
	// error_pages), which a route's own override status by status.
	ErrorPages map[string]string
}

// HTTPSPortVar is the request variable holding ":<port>" when HTTPS is
// not on port 443; force_https redirects include it. The proxyos_routes
// handler sets it.
const HTTPSPortVar = "proxyos_https_port"

// hstsValue is sent by routes with hsts set: one year, subdomains not
// included (a route does not own its subdomains).
const hstsValue = "max-age=31536000"

// Compile turns a validated route into Caddy's JSON route list: access
// rules, force-HTTPS redirect, then either the maintenance page or the
// error pages, header edits, the gate, the rate limit, compression, and
// the default location: prefix stripping and the reverse_proxy, redirect
// or static response. With locations, a proxyos_locations handler holds
// each location's handlers and the default location's; it picks the
// most specific location that matches the request's path (the locations
// listed most specific first), else the default.
// Every value a user typed is escaped so Caddy never expands it as a
// placeholder (a static body cannot read {env.*}, for example).
func Compile(r *Route, opts Options) (caddyhttp.RouteList, error) {
	var routes []map[string]any
	terminal := func(match []map[string]any, handle ...map[string]any) {
		rt := map[string]any{"handle": handle, "terminal": true}
		if match != nil {
			rt["match"] = match
		}
		routes = append(routes, rt)
	}
	forbidden := map[string]any{"handler": "static_response", "status_code": 403, "body": "Forbidden"}

	if a := r.Access; a != nil {
		if len(a.Deny) > 0 {
			terminal([]map[string]any{{"client_ip": map[string]any{"ranges": a.Deny}}}, forbidden)
		}
		if len(a.Allow) > 0 {
			terminal([]map[string]any{{"not": []map[string]any{{"client_ip": map[string]any{"ranges": a.Allow}}}}}, forbidden)
		}
	}
	if r.ForceHTTPS {
		host := "{http.request.host}{http.vars." + HTTPSPortVar + "}"
		terminal([]map[string]any{{"protocol": "http"}}, map[string]any{
			"handler":     "static_response",
			"status_code": 308,
			"headers":     map[string][]string{"Location": {"https://" + host + "{http.request.uri}"}},
		})
	}

	if m := r.Maintenance; m != nil && m.On {
		terminal(nil, maintenanceHandler(m))
		return toRouteList(routes)
	}

	var handle []map[string]any
	if pages := r.ErrorPages.merged(opts.ErrorPages); pages != nil {
		// first, so it sees the errors of every handler after it
		handle = append(handle, map[string]any{"handler": "proxyos_error_pages", "pages": pages})
	}
	var own *HeaderOps // the default location's request header edits
	if r.Headers != nil {
		own = r.Headers.Request
	}
	if len(r.Locations) == 0 {
		own = nil
		if h := headersHandler(r.Headers, r.HSTS); h != nil {
			handle = append(handle, h)
		}
	} else if h := headersHandler(&Headers{Response: responseOps(r.Headers)}, r.HSTS); h != nil {
		handle = append(handle, h)
	}
	// The gate comes after the header edits, so what it tells the
	// upstream about the user is the last word.
	if r.HasGate() {
		handle = append(handle, gateHandler(r.Auth))
	}
	// The rate limit comes after the gate, which knows the user.
	if h := rateLimitHandler(r); h != nil {
		handle = append(handle, h)
	}
	if r.Compress {
		handle = append(handle, map[string]any{
			"handler":   "encode",
			"encodings": map[string]any{"zstd": map[string]any{}, "gzip": map[string]any{}},
			"prefer":    []string{"zstd", "gzip"},
		})
	}
	def, err := defaultHandlers(r, own, opts)
	if err != nil {
		return nil, err
	}
	if len(r.Locations) == 0 {
		terminal(nil, append(handle, def...)...)
		return toRouteList(routes)
	}
	// What every location shares runs first; then proxyos_locations
	// picks the most specific location, else the default.
	locs := make([]map[string]any, 0, len(r.Locations))
	for _, l := range r.ordered() {
		lh, err := locationHandlers(&l, opts)
		if err != nil {
			return nil, err
		}
		locs = append(locs, map[string]any{"path": l.Path, "handle": lh})
	}
	terminal(nil, append(handle, map[string]any{"handler": "proxyos_locations", "locations": locs, "default": def})...)
	return toRouteList(routes)
}

// defaultHandlers are the handlers of the route's own kind (its default
// location, with locations): its request header edits own, prefix
// stripping and final handler.
func defaultHandlers(r *Route, own *HeaderOps, opts Options) ([]map[string]any, error) {
	var out []map[string]any
	if h := headersHandler(&Headers{Request: own}, false); h != nil {
		out = append(out, h)
	}
	if r.StripPrefix != "" {
		out = append(out, stripHandler(r.StripPrefix))
	}
	final, err := finalHandler(r, opts)
	if err != nil {
		return nil, err
	}
	return append(out, final), nil
}

// toRouteList decodes Caddy's route list from its JSON.
func toRouteList(routes []map[string]any) (caddyhttp.RouteList, error) {
	raw, err := json.Marshal(routes)
	if err != nil {
		return nil, err
	}
	var list caddyhttp.RouteList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// gateHandler is the proxyos_auth gate of a route with a login or
// access rules.
func gateHandler(a *Auth) map[string]any {
	gate := map[string]any{"handler": "proxyos_auth"}
	if len(a.Roles) > 0 {
		gate["roles"] = a.Roles
	}
	if len(a.Emails) > 0 {
		gate["emails"] = a.Emails
	}
	if len(a.Groups) > 0 {
		gate["groups"] = a.Groups
	}
	if len(a.Rules) > 0 {
		gate["rules"] = a.Rules
	}
	if !a.RequireLogin {
		gate["default"] = access.Allow.String()
	}
	return gate
}

func stripHandler(prefix string) map[string]any {
	return map[string]any{"handler": "rewrite", "strip_path_prefix": escape(prefix)}
}

// finalHandler is the handler that answers the route's (or default
// location's) requests: reverse_proxy, a redirect or a static response.
func finalHandler(r *Route, opts Options) (map[string]any, error) {
	switch r.Kind {
	case KindProxy:
		return reverseProxy(r, opts)
	case KindRedirect:
		loc := escape(r.Redirect.To)
		if r.Redirect.PreservePath {
			loc = strings.TrimRight(loc, "/") + "{http.request.uri}"
		}
		return map[string]any{
			"handler":     "static_response",
			"status_code": r.Redirect.Status,
			"headers":     map[string][]string{"Location": {loc}},
		}, nil
	case KindStatic:
		return map[string]any{
			"handler":     "static_response",
			"status_code": r.Static.Status,
			"headers":     map[string][]string{"Content-Type": {escape(r.Static.ContentType)}},
			"body":        escape(r.Static.Body),
		}, nil
	}
	return nil, fmt.Errorf("kind %q cannot be compiled", r.Kind)
}

// locationHandlers are the handlers of a location, after what the route
// shares: its header edits, prefix stripping and final handler (built
// as a route's of the location's kind, so both compile the same way).
func locationHandlers(l *Location, opts Options) ([]map[string]any, error) {
	var out []map[string]any
	if h := headersHandler(l.Headers, false); h != nil {
		out = append(out, h)
	}
	if l.StripPrefix != "" {
		out = append(out, stripHandler(l.StripPrefix))
	}
	final, err := finalHandler(&Route{Kind: l.Kind, Upstreams: l.Upstreams, Redirect: l.Redirect, Static: l.Static}, opts)
	if err != nil {
		return nil, err
	}
	return append(out, final), nil
}

// responseOps returns the response header edits of h, or nil.
func responseOps(h *Headers) *HeaderOps {
	if h == nil {
		return nil
	}
	return h.Response
}

func reverseProxy(r *Route, opts Options) (map[string]any, error) {
	var (
		ups    []map[string]any
		scheme string
	)
	for _, u := range r.Upstreams {
		s, dial, err := ParseUpstream(u)
		if err != nil {
			return nil, err
		}
		scheme = s
		ups = append(ups, map[string]any{"dial": dial})
	}
	rp := map[string]any{"handler": "reverse_proxy", "upstreams": ups}
	transport := map[string]any{"protocol": "http"}
	if opts.Transport != "" {
		transport["protocol"] = opts.Transport
	}
	if scheme == "https" {
		tls := map[string]any{}
		if t := r.UpstreamTLS; t != nil {
			if t.SkipVerify {
				tls["insecure_skip_verify"] = true
			}
			if t.ServerName != "" {
				tls["server_name"] = t.ServerName
			}
		}
		transport["tls"] = tls
	} else {
		// Without TLS an upstream speaks HTTP/1.1 (HTTP/2 needs TLS
		// here): a transport set up for HTTP/2 as well would only hold
		// memory, per route, that every garbage collection walks.
		transport["versions"] = []string{"1.1"}
	}
	rp["transport"] = transport
	if r.UpstreamHost != "" {
		// reverse_proxy's own header edit sets the request's Host for
		// the upstream; not a placeholder field once escaped
		rp["headers"] = map[string]any{"request": map[string]any{"set": map[string][]string{"Host": {escape(r.UpstreamHost)}}}}
	}
	if lb := r.LoadBalancing; lb != nil {
		rp["load_balancing"] = map[string]any{"selection_policy": map[string]any{"policy": lb.Policy}}
		if hc := lb.HealthCheck; hc != nil {
			active := map[string]any{"uri": hc.Path} // not a placeholder field
			if hc.Interval != "" {
				active["interval"] = hc.Interval
			}
			if hc.Timeout != "" {
				active["timeout"] = hc.Timeout
			}
			rp["health_checks"] = map[string]any{"active": active}
		}
	}
	return rp, nil
}

// headersHandler builds the headers handler for the header edits h and,
// with hsts, the HSTS header; nil when there is nothing to do.
func headersHandler(hs *Headers, hsts bool) map[string]any {
	h := map[string]any{}
	if hs != nil && hs.Request != nil {
		if ops := headerOps(hs.Request); ops != nil {
			h["request"] = ops
		}
	}
	resp := map[string]any{}
	if hs != nil && hs.Response != nil {
		if ops := headerOps(hs.Response); ops != nil {
			resp = ops
		}
	}
	if hsts {
		set, _ := resp["set"].(map[string][]string)
		if set == nil {
			set = map[string][]string{}
		}
		set["Strict-Transport-Security"] = []string{hstsValue}
		resp["set"] = set
	}
	if len(resp) > 0 {
		resp["deferred"] = true
		h["response"] = resp
	}
	if len(h) == 0 {
		return nil
	}
	h["handler"] = "headers"
	return h
}

func headerOps(o *HeaderOps) map[string]any {
	ops := map[string]any{}
	if len(o.Set) > 0 {
		set := make(map[string][]string, len(o.Set))
		for k, v := range o.Set {
			set[k] = []string{escape(v)}
		}
		ops["set"] = set
	}
	if len(o.Delete) > 0 {
		ops["delete"] = o.Delete
	}
	if len(ops) == 0 {
		return nil
	}
	return ops
}

// escape makes Caddy's replacer treat braces in s literally.
func escape(s string) string {
	if !strings.ContainsAny(s, "{}") {
		return s
	}
	return strings.NewReplacer("{", `\{`, "}", `\}`).Replace(s)
}
