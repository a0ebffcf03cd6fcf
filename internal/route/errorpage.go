package route

import (
	"maps"
	"slices"

	"github.com/proxyos/caddy-proxyos/internal/errorpage"
)

// ErrorPages are HTML pages shown instead of a route's errors, by
// status: "404" (also an upstream's own 404), "502" (the upstream is
// down or answers garbage), "503" (no upstream is healthy) and "504"
// (the upstream timed out). A page may use the placeholders
// {http.error.status_code}, {http.error.status_text},
// {http.request.host} and {http.request.uuid} (the request's id, as in
// Caddy's logs), filled in HTML-escaped; any other text in braces stays
// as written. A route's pages override the app's error_pages status by
// status.
type ErrorPages map[string]string

// check checks the pages, named field.
func (p ErrorPages) check(field string) error {
	for _, status := range slices.Sorted(maps.Keys(p)) {
		if err := errorpage.Check(status, p[status]); err != nil {
			return errf(field+"."+status, "%v", err)
		}
	}
	return nil
}

// merged returns the pages over defaults, or nil when there are none.
func (p ErrorPages) merged(defaults map[string]string) map[string]string {
	if len(p) == 0 && len(defaults) == 0 {
		return nil
	}
	out := make(map[string]string, len(p)+len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range p {
		out[k] = v
	}
	return out
}
