package route

import (
	"fmt"
	"slices"
	"strings"
)

// maxLocations bounds the locations of one route.
const maxLocations = 100

// Location serves the requests of a route whose path matches Path with
// settings of its own: its own upstreams (a proxy location), a redirect
// or a fixed response. The route's access rules, login, force_https,
// HSTS, response header edits and compression apply to every location;
// the route's own kind, upstreams (with upstream_host, upstream_tls and
// load_balancing), strip_prefix and request header edits are the
// default location, which serves every path no location matches.
//
// Path is "/exact" (that path only) or a prefix ending in "*":
// "/api/*" matches /api/ and everything under it (not /api itself),
// "/api*" also /api and /apis. Matching is Caddy's path matcher: case
// insensitive, on the cleaned path. Of the locations that match, the most
// specific wins, whatever their order in the list: an exact path before
// any prefix, then the longest prefix. Two locations may not have the
// same path.
type Location struct {
	Path string `json:"path"`
	// Kind is proxy, redirect or static. Default: proxy.
	Kind      string    `json:"kind,omitempty"`
	Upstreams []string  `json:"upstreams,omitempty"`
	Redirect  *Redirect `json:"redirect,omitempty"`
	Static    *Static   `json:"static,omitempty"`
	// StripPrefix removes a path prefix before a proxy location's
	// upstream sees the request, as in the route.
	StripPrefix string `json:"strip_prefix,omitempty"`
	// Headers edit the location's request and response headers, after
	// the route's. Request header values are secrets, as the route's
	// are: stored sealed, bound to the route, the location's path and
	// the header (see router's seal).
	Headers *Headers `json:"headers,omitempty"`
}

// normalizeLocations fills the locations' defaults, as Normalize does
// the route's.
func (r *Route) normalizeLocations() {
	for i := range r.Locations {
		l := &r.Locations[i]
		l.Path = strings.TrimSpace(l.Path)
		if l.Kind == "" {
			l.Kind = KindProxy
		}
		if l.Kind == KindRedirect && l.Redirect != nil && l.Redirect.Status == 0 {
			l.Redirect.Status = 308
		}
		if l.Kind == KindStatic && l.Static != nil {
			if l.Static.Status == 0 {
				l.Static.Status = 200
			}
			if l.Static.ContentType == "" {
				l.Static.ContentType = "text/html; charset=utf-8"
			}
		}
	}
}

// validateLocations checks the locations; errors name the field as
// locations[i].path.
func (r *Route) validateLocations() error {
	if len(r.Locations) > maxLocations {
		return errf("locations", "at most %d locations", maxLocations)
	}
	seen := make(map[string]int, len(r.Locations))
	for i, l := range r.Locations {
		field := fmt.Sprintf("locations[%d]", i)
		if err := checkLocationPath(l.Path); err != nil {
			return errf(field+".path", "%q %v", l.Path, err)
		}
		key := strings.ToLower(l.Path)
		if j, ok := seen[key]; ok {
			return errf(field+".path", "%q is the path of locations[%d] too", l.Path, j)
		}
		seen[key] = i
		if err := l.check(field); err != nil {
			return err
		}
	}
	return nil
}

// check checks a location's settings but its path.
func (l *Location) check(field string) error {
	switch l.Kind {
	case KindProxy:
		if _, err := checkUpstreams(field+".upstreams", l.Upstreams); err != nil {
			return err
		}
	case KindRedirect:
		if err := checkRedirect(field+".redirect", l.Redirect); err != nil {
			return err
		}
	case KindStatic:
		if err := checkStatic(field+".static", l.Static); err != nil {
			return err
		}
	default:
		return errf(field+".kind", "%q is not a kind (proxy, redirect or static)", l.Kind)
	}
	if l.Kind != KindProxy && len(l.Upstreams) > 0 {
		return errf(field+".upstreams", "only a proxy location has upstreams")
	}
	if l.Kind != KindRedirect && l.Redirect != nil {
		return errf(field+".redirect", "only a redirect location has a redirect")
	}
	if l.Kind != KindStatic && l.Static != nil {
		return errf(field+".static", "only a static location has a static response")
	}
	if err := checkStripPrefix(field+".strip_prefix", l.StripPrefix, l.Kind); err != nil {
		return err
	}
	return checkHeaders(field+".headers", l.Headers, l.Kind)
}

// checkLocationPath checks a location's path: absolute, clean, of
// unreserved URL characters, with at most a final "*". Caddy's path
// matcher gives "%" (escaped matching) and braces (placeholders) a
// meaning of their own; neither is allowed.
func checkLocationPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must start with /")
	case len(p) > 256:
		return fmt.Errorf("is longer than 256 characters")
	case strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return fmt.Errorf("may have a * only at its end, as in /api/*")
	case strings.Contains(p, "//"):
		return fmt.Errorf("has an empty segment (//)")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("has a . or .. segment")
		}
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~!$&'()+,;=:@*", c)) {
			return fmt.Errorf("has the character %q (allowed: letters, digits and -._~!$&'()+,;=:@, a final *)", c)
		}
	}
	return nil
}

// MoreSpecific reports whether location path a wins over b when both
// match a request: an exact path before any prefix, then the longer
// prefix. Paths compare in lower case, as Caddy matches them. It orders
// every two different valid paths, so the winner never depends on the
// list's order.
func MoreSpecific(a, b string) bool {
	aPrefix, bPrefix := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*")
	if aPrefix != bPrefix {
		return !aPrefix
	}
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return strings.ToLower(a) < strings.ToLower(b)
}

// ordered returns the route's locations, most specific first: the order
// in which the proxyos_locations handler tries them.
func (r *Route) ordered() []Location {
	out := slices.Clone(r.Locations)
	slices.SortStableFunc(out, func(a, b Location) int {
		switch {
		case MoreSpecific(a.Path, b.Path):
			return -1
		case MoreSpecific(b.Path, a.Path):
			return 1
		}
		return 0
	})
	return out
}
