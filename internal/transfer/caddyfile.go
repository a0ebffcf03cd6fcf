package transfer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// FromCaddyfile adapts a Caddyfile with Caddy's own adapter (which the
// running Caddy has registered) and turns each simple site into a route:
// reverse_proxy, redir, respond, encode, header and basic_auth (as the
// dashboard login: its users and hashes are not imported). A site with
// anything else — other handlers, matchers inside the site, no host — is
// left out and noted with the reason.
func FromCaddyfile(body []byte) (*Import, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return nil, fmt.Errorf("the caddyfile adapter is not registered in this Caddy")
	}
	out, _, err := adapter.Adapt(body, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, fmt.Errorf("adapting the Caddyfile: %w", err)
	}
	var cfg caddyConfig
	if err := json.Unmarshal(out, &cfg); err != nil {
		return nil, err
	}
	im := &Import{Routes: []*route.Route{}, Notes: []Note{}}
	internal := cfg.internalSubjects()
	for _, name := range sortedKeys(cfg.Apps.HTTP.Servers) {
		srv := cfg.Apps.HTTP.Servers[name]
		plain := len(srv.Listen) > 0 && !slices.ContainsFunc(srv.Listen, func(l string) bool { return !strings.HasSuffix(l, ":80") })
		for _, sr := range srv.Routes {
			r, src, why := siteRoute(sr, im)
			if why != "" {
				im.note(src, "not imported: %s", why)
				continue
			}
			switch {
			case plain:
				r.TLS = route.TLSOff
			case internal[r.Hosts[0]]:
				r.TLS = route.TLSInternal
			default:
				r.TLS = route.TLSAuto
			}
			im.Routes = append(im.Routes, r)
		}
	}
	return im, nil
}

// caddyConfig is the part of Caddy's JSON config the importer reads.
type caddyConfig struct {
	Apps struct {
		HTTP struct {
			Servers map[string]struct {
				Listen []string     `json:"listen"`
				Routes []caddyRoute `json:"routes"`
			} `json:"servers"`
		} `json:"http"`
		TLS struct {
			Automation struct {
				Policies []struct {
					Subjects []string `json:"subjects"`
					Issuers  []struct {
						Module string `json:"module"`
					} `json:"issuers"`
				} `json:"policies"`
			} `json:"automation"`
		} `json:"tls"`
	} `json:"apps"`
}

type caddyRoute struct {
	Match  []map[string]json.RawMessage `json:"match"`
	Handle []map[string]json.RawMessage `json:"handle"`
}

// internalSubjects are the names whose certificates come from Caddy's
// internal CA (tls internal).
func (c *caddyConfig) internalSubjects() map[string]bool {
	out := map[string]bool{}
	for _, p := range c.Apps.TLS.Automation.Policies {
		if len(p.Issuers) == 1 && p.Issuers[0].Module == "internal" {
			for _, s := range p.Subjects {
				out[s] = true
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// siteRoute turns one site of the adapted config into a route, or says
// why it cannot.
func siteRoute(sr caddyRoute, im *Import) (*route.Route, string, string) {
	var hosts []string
	if len(sr.Match) == 1 {
		if raw, ok := sr.Match[0]["host"]; ok && len(sr.Match[0]) == 1 {
			_ = json.Unmarshal(raw, &hosts)
		}
	}
	src := "site " + strings.Join(hosts, ", ")
	if len(hosts) == 0 {
		return nil, "a site without a host name", "proxyos routes are found by host name"
	}
	handlers, why := flatten(sr.Handle)
	if why != "" {
		return nil, src, why
	}
	r := &route.Route{Name: hosts[0], Enabled: true, Hosts: hosts}
	for _, h := range handlers {
		var name string
		_ = json.Unmarshal(h["handler"], &name)
		if why := mapHandler(r, name, h, src, im); why != "" {
			return nil, src, why
		}
	}
	if r.Kind == "" {
		return nil, src, "it neither proxies, redirects nor responds"
	}
	return r, src, ""
}

// flatten lists the handlers of a site, through its subroutes, refusing
// routes with matchers inside the site.
func flatten(handle []map[string]json.RawMessage) ([]map[string]json.RawMessage, string) {
	var out []map[string]json.RawMessage
	for _, h := range handle {
		var name string
		_ = json.Unmarshal(h["handler"], &name)
		if name != "subroute" {
			out = append(out, h)
			continue
		}
		var routes []caddyRoute
		if err := json.Unmarshal(h["routes"], &routes); err != nil {
			return nil, "its subroute cannot be read"
		}
		for _, r := range routes {
			if len(r.Match) > 0 {
				return nil, "it matches requests inside the site (handle, route or a matcher): make a route per host by hand"
			}
			inner, why := flatten(r.Handle)
			if why != "" {
				return nil, why
			}
			out = append(out, inner...)
		}
	}
	return out, ""
}

// mapHandler applies one handler to r, or says why it cannot.
func mapHandler(r *route.Route, name string, h map[string]json.RawMessage, src string, im *Import) string {
	switch name {
	case "reverse_proxy":
		return mapProxy(r, h, src, im)
	case "static_response":
		return mapResponse(r, h)
	case "encode":
		r.Compress = true
	case "headers":
		return mapHeaders(r, h)
	case "authentication":
		im.note(src, "basic_auth users not imported: the route requires the dashboard login instead (route tokens with a user name give basic auth)")
		if r.Auth == nil {
			r.Auth = &route.Auth{}
		}
		r.Auth.RequireLogin = true
	default:
		return fmt.Sprintf("the handler %s cannot be mapped to a route", name)
	}
	return ""
}

func mapProxy(r *route.Route, h map[string]json.RawMessage, src string, im *Import) string {
	if r.Kind != "" {
		return "it has more than one final handler"
	}
	var p struct {
		Upstreams []struct {
			Dial string `json:"dial"`
		} `json:"upstreams"`
		Transport *struct {
			Protocol string          `json:"protocol"`
			TLS      json.RawMessage `json:"tls"`
		} `json:"transport"`
		LoadBalancing *struct {
			SelectionPolicy *struct {
				Policy string `json:"policy"`
			} `json:"selection_policy"`
		} `json:"load_balancing"`
	}
	if err := json.Unmarshal(marshal(h), &p); err != nil || len(p.Upstreams) == 0 {
		return "its reverse_proxy has no fixed upstreams"
	}
	scheme := "http"
	if p.Transport != nil && p.Transport.TLS != nil {
		scheme = "https"
		r.UpstreamTLS = &route.UpstreamTLS{}
	}
	for _, u := range p.Upstreams {
		if strings.Contains(u.Dial, "{") {
			return "its reverse_proxy has placeholder upstreams"
		}
		r.Upstreams = append(r.Upstreams, scheme+"://"+u.Dial)
	}
	if p.LoadBalancing != nil && p.LoadBalancing.SelectionPolicy != nil {
		r.LoadBalancing = &route.LoadBalancing{Policy: p.LoadBalancing.SelectionPolicy.Policy}
	}
	for k := range h {
		if k != "handler" && k != "upstreams" && k != "transport" && k != "load_balancing" {
			im.note(src, "reverse_proxy option %s not imported", k)
		}
	}
	r.Kind = route.KindProxy
	return ""
}

func mapResponse(r *route.Route, h map[string]json.RawMessage) string {
	if r.Kind != "" {
		return "it has more than one final handler"
	}
	var s struct {
		Status  json.RawMessage     `json:"status_code"`
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
	}
	if err := json.Unmarshal(marshal(h), &s); err != nil {
		return "its response cannot be read"
	}
	status, err := strconv.Atoi(strings.Trim(string(s.Status), `"`))
	if len(s.Status) == 0 {
		status, err = 200, nil
	}
	if err != nil {
		return "its response status is a placeholder"
	}
	if loc := s.Headers["Location"]; len(loc) == 1 {
		to, preserve := strings.CutSuffix(loc[0], "{http.request.uri}")
		if strings.Contains(to, "{") {
			return "its redirect target has placeholders"
		}
		r.Kind, r.Redirect = route.KindRedirect, &route.Redirect{To: to, Status: status, PreservePath: preserve}
		return ""
	}
	if len(s.Headers) > 0 || strings.Contains(s.Body, "{") {
		return "its response has headers or placeholders"
	}
	r.Kind, r.Static = route.KindStatic, &route.Static{Status: status, Body: s.Body}
	return ""
}

func mapHeaders(r *route.Route, h map[string]json.RawMessage) string {
	type ops struct {
		Set      map[string][]string `json:"set"`
		Add      json.RawMessage     `json:"add"`
		Replace  json.RawMessage     `json:"replace"`
		Delete   []string            `json:"delete"`
		Deferred bool                `json:"deferred"`
		Require  json.RawMessage     `json:"require"`
	}
	var hs struct {
		Request  *ops `json:"request"`
		Response *ops `json:"response"`
	}
	if err := json.Unmarshal(marshal(h), &hs); err != nil {
		return "its header edits cannot be read"
	}
	if r.Headers == nil {
		r.Headers = &route.Headers{}
	}
	for _, side := range []struct {
		in  *ops
		out **route.HeaderOps
	}{{hs.Request, &r.Headers.Request}, {hs.Response, &r.Headers.Response}} {
		if side.in == nil {
			continue
		}
		if side.in.Add != nil || side.in.Replace != nil || side.in.Require != nil {
			return "its header edits add, replace or depend on the response: only set and delete map to a route"
		}
		if *side.out == nil {
			*side.out = &route.HeaderOps{}
		}
		for name, vals := range side.in.Set {
			if len(vals) != 1 || strings.Contains(vals[0], "{") {
				return fmt.Sprintf("header %s has several values or placeholders", name)
			}
			if (*side.out).Set == nil {
				(*side.out).Set = map[string]string{}
			}
			(*side.out).Set[name] = vals[0]
		}
		(*side.out).Delete = append((*side.out).Delete, side.in.Delete...)
	}
	return ""
}

func marshal(h map[string]json.RawMessage) []byte {
	b, _ := json.Marshal(h)
	return b
}
