package route

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/access"
)

// Options are facts about the server that compiled routes depend on.
type Options struct {
	// Transport is the reverse_proxy transport module (its "protocol")
	// that proxy routes use. Default: Caddy's "http".
	Transport string
}

// HTTPSPortVar is the request variable holding ":<port>" when HTTPS is
// not on port 443; force_https redirects include it. The proxyos_routes
// handler sets it.
const HTTPSPortVar = "proxyos_https_port"

// hstsValue is sent by routes with hsts set: one year, subdomains not
// included (a route does not own its subdomains).
const hstsValue = "max-age=31536000"

// Compile turns a validated route into Caddy's JSON route list: access
// rules, force-HTTPS redirect, header edits, the login gate, the rate
// limit, compression, prefix stripping and finally the reverse_proxy,
// redirect or static response.
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

	var handle []map[string]any
	if h := headersHandler(r); h != nil {
		handle = append(handle, h)
	}
	// The gate comes after the header edits, so what it tells the
	// upstream about the user is the last word.
	if r.HasGate() {
		gate := map[string]any{"handler": "proxyos_auth"}
		if len(r.Auth.Roles) > 0 {
			gate["roles"] = r.Auth.Roles
		}
		if len(r.Auth.Emails) > 0 {
			gate["emails"] = r.Auth.Emails
		}
		if len(r.Auth.Groups) > 0 {
			gate["groups"] = r.Auth.Groups
		}
		if len(r.Auth.Rules) > 0 {
			gate["rules"] = r.Auth.Rules
		}
		if !r.Auth.RequireLogin {
			gate["default"] = access.Allow.String()
		}
		handle = append(handle, gate)
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
	if r.StripPrefix != "" {
		handle = append(handle, map[string]any{"handler": "rewrite", "strip_path_prefix": escape(r.StripPrefix)})
	}
	switch r.Kind {
	case KindProxy:
		rp, err := reverseProxy(r, opts)
		if err != nil {
			return nil, err
		}
		handle = append(handle, rp)
	case KindRedirect:
		loc := escape(r.Redirect.To)
		if r.Redirect.PreservePath {
			loc = strings.TrimRight(loc, "/") + "{http.request.uri}"
		}
		handle = append(handle, map[string]any{
			"handler":     "static_response",
			"status_code": r.Redirect.Status,
			"headers":     map[string][]string{"Location": {loc}},
		})
	case KindStatic:
		handle = append(handle, map[string]any{
			"handler":     "static_response",
			"status_code": r.Static.Status,
			"headers":     map[string][]string{"Content-Type": {escape(r.Static.ContentType)}},
			"body":        escape(r.Static.Body),
		})
	default:
		return nil, fmt.Errorf("kind %q cannot be compiled", r.Kind)
	}
	terminal(nil, handle...)

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
	}
	if scheme == "https" || opts.Transport != "" {
		rp["transport"] = transport
	}
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

// headersHandler builds the headers handler for header edits and HSTS.
func headersHandler(r *Route) map[string]any {
	h := map[string]any{}
	if r.Headers != nil && r.Headers.Request != nil {
		if ops := headerOps(r.Headers.Request); ops != nil {
			h["request"] = ops
		}
	}
	resp := map[string]any{}
	if r.Headers != nil && r.Headers.Response != nil {
		if ops := headerOps(r.Headers.Response); ops != nil {
			resp = ops
		}
	}
	if r.HSTS {
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
