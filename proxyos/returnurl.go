package proxyos

import (
	"net/http"
	"net/url"
	"strings"
)

// safeReturnURL returns raw if it is a place the dashboard may send a
// browser after login, else "/". Accepted are paths on the dashboard
// itself and absolute http(s) URLs whose host is the dashboard's host
// (any port: cookies ignore ports), the canonical url's host, or within
// cookie_domain — the hosts where the session cookie works. Anything else
// (other sites, "//evil.example", backslash tricks, javascript: URLs,
// credentials in the URL) would make the login page an open redirect.
func (a *App) safeReturnURL(raw string, r *http.Request) string {
	u := parseReturnURL(raw)
	if u == nil {
		return "/"
	}
	if strings.HasPrefix(raw, "/") {
		return localPath(raw)
	}
	if !isWebURL(u) || !a.allowedReturnHost(u.Hostname(), r) {
		return "/"
	}
	return u.String()
}

// isWebURL reports whether u is an absolute http(s) URL with a host and
// no credentials.
func isWebURL(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Opaque == ""
}

// maxReturnURL bounds return URLs.
const maxReturnURL = 4096

// parseReturnURL parses a return URL, or returns nil for one with control
// characters or backslashes (which browsers read in surprising ways).
func parseReturnURL(raw string) *url.URL {
	if raw == "" || len(raw) > maxReturnURL || strings.ContainsAny(raw, "\\\x00\r\n\t") {
		return nil
	}
	for _, c := range raw {
		if c < 0x20 || c == 0x7f {
			return nil
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	return u
}

// localPath returns raw when it is a path on this host ("/x?y#z"), else
// "/". Re-encoding may turn an escaped slash into a real one
// ("/%2F%20evil" → "//%20evil"), which a browser reads as another host:
// only a result that is still a plain path goes.
func localPath(raw string) string {
	u := parseReturnURL(raw)
	if u == nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return "/"
	}
	if out := u.RequestURI() + fragment(u); !strings.HasPrefix(out, "//") {
		return out
	}
	return "/"
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}

// allowedReturnHost reports whether host shares the dashboard's session
// cookie.
func (a *App) allowedReturnHost(host string, r *http.Request) bool {
	host = strings.ToLower(host)
	switch {
	case host == "":
		return false
	case host == hostOnly(r.Host):
		return true
	case a.canonical != nil && host == a.canonical.Hostname():
		return true
	case a.CookieDomain != "" && hostWithin(host, a.CookieDomain):
		return true
	}
	return false
}
