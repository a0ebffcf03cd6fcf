package request

import (
	"net/http"
	"strings"
)

// IdentityHeaderPrefix is the prefix of the headers by which the login
// gate tells upstreams who is logged in (X-Proxyos-User, -Email, -Role).
const IdentityHeaderPrefix = "X-Proxyos-"

// StripIdentity removes every X-Proxyos-* header, in any case.
func StripIdentity(h http.Header) {
	for name := range h {
		if len(name) >= len(IdentityHeaderPrefix) && strings.EqualFold(name[:len(IdentityHeaderPrefix)], IdentityHeaderPrefix) {
			delete(h, name)
		}
	}
}

// IsNavigation reports whether a browser is loading a page (as opposed to
// a script or API client, which should get a 401 it can handle).
func IsNavigation(r *http.Request) bool { return IsNavigationBy(r.Method, r.Header) }

// IsNavigationBy is IsNavigation for a request with method and header h:
// a forward-auth call describes the original request's method apart.
func IsNavigationBy(method string, h http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if mode := h.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(h.Get("Accept"), "text/html")
}
