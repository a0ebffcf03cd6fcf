package request

import (
	"net/url"
	"strings"
)

// IsWebURL reports whether u is an absolute http(s) URL with a host and
// no credentials.
func IsWebURL(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Opaque == ""
}

// MaxReturnURL bounds return URLs.
const MaxReturnURL = 4096

// ParseReturnURL parses a return URL, or returns nil for one with control
// characters or backslashes (which browsers read in surprising ways).
func ParseReturnURL(raw string) *url.URL {
	if raw == "" || len(raw) > MaxReturnURL || strings.ContainsAny(raw, "\\\x00\r\n\t") {
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

// LocalPath returns raw when it is a path on this host ("/x?y#z"), else
// "/". Re-encoding may turn an escaped slash into a real one
// ("/%2F%20evil" → "//%20evil"), which a browser reads as another host:
// only a result that is still a plain path goes.
func LocalPath(raw string) string {
	u := ParseReturnURL(raw)
	if u == nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return "/"
	}
	if out := u.RequestURI() + Fragment(u); !strings.HasPrefix(out, "//") {
		return out
	}
	return "/"
}

// Fragment returns u's fragment with its "#", or "".
func Fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}
