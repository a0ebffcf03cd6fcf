package request

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/race"
)

func TestHostOnlyAndWithin(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Dash.Test", "dash.test"},
		{"dash.test:8443", "dash.test"},
		{"[::1]:80", "::1"},
		{"[::1]", "::1"},
		{"", ""},
	} {
		t.Run("hostOnly "+tt.in, func(t *testing.T) {
			if got := HostOnly(tt.in); got != tt.want {
				t.Errorf("HostOnly(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		host, domain string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"App.Example.com", "example.COM", true},
		{"a.b.example.com", "example.com", true},
		{"badexample.com", "example.com", false},
		{"example.com.evil.net", "example.com", false},
		{"example.com", "", false},
		{"", "", false},
	} {
		t.Run("hostWithin "+tt.host+" "+tt.domain, func(t *testing.T) {
			if got := HostWithin(tt.host, tt.domain); got != tt.want {
				t.Errorf("HostWithin(%q, %q) = %v, want %v", tt.host, tt.domain, got, tt.want)
			}
		})
	}
}

// TestCheckSameOrigin prevents CSRF: a page on another site can make the
// browser send a form (any of the three simple content types) with the
// user's cookie, but cannot send JSON without a CORS preflight, and the
// browser's Origin and Sec-Fetch-Site headers name the real sender.
func TestCheckSameOrigin(t *testing.T) {
	const json = "application/json"
	tests := []struct {
		name        string
		contentType string
		origin      string
		fetchSite   string
		ok          bool
	}{
		{"json same origin", json, "http://dash.test", "", true},
		{"json with charset", json + "; charset=utf-8", "http://dash.test", "", true},
		{"origin host case-insensitive", json, "http://DASH.test", "", true},
		{"no origin, sec-fetch-site same-origin", json, "", "same-origin", true},
		{"form urlencoded", "application/x-www-form-urlencoded", "http://dash.test", "same-origin", false},
		{"multipart form", "multipart/form-data; boundary=x", "http://dash.test", "same-origin", false},
		{"text/plain", "text/plain", "http://dash.test", "same-origin", false},
		{"no content type", "", "http://dash.test", "same-origin", false},
		{"json-ish content type", "application/json-patch+json", "http://dash.test", "", false},
		{"origin of another host", json, "http://evil.test", "", false},
		{"origin of a subdomain", json, "http://evil.dash.test", "", false},
		{"origin suffix trick", json, "http://dash.test.evil.test", "", false},
		{"origin with another port", json, "http://dash.test:8080", "", false},
		{"null origin", json, "null", "", false},
		{"file origin", json, "file://dash.test", "", false},
		{"sec-fetch-site cross-site", json, "http://dash.test", "cross-site", false},
		{"sec-fetch-site same-site", json, "http://dash.test", "same-site", false},
		{"sec-fetch-site none", json, "", "none", false},
		{"sec-fetch-site cross-site without origin", json, "", "cross-site", false},
		{"no origin, no sec-fetch-site", json, "", "", false},
		{"https origin on a plain-HTTP request (page on the other scheme)", json, "https://dash.test", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://dash.test/api/auth/logout", strings.NewReader("{}"))
			for k, v := range map[string]string{"Content-Type": tt.contentType, "Origin": tt.origin, "Sec-Fetch-Site": tt.fetchSite} {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			err := CheckSameOrigin(req, "http")
			if tt.ok && err != nil {
				t.Errorf("refused a same-origin request: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrCrossSite) {
				t.Errorf("checkSameOrigin = %v, want ErrCrossSite", err)
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		ok      bool
	}{
		{"none", nil, "", false},
		{"only", []string{"proxyos_session=abc"}, "abc", true},
		{"among others", []string{"a=1; proxyos_session=abc; b=2"}, "abc", true},
		{"no spaces", []string{"a=1;proxyos_session=abc;b=2"}, "abc", true},
		{"quoted", []string{`proxyos_session="abc"`}, "abc", true},
		{"second header", []string{"a=1", "b=2; proxyos_session=abc"}, "abc", true},
		{"empty value", []string{"proxyos_session="}, "", true},
		{"first wins", []string{"proxyos_session=one; proxyos_session=two"}, "one", true},
		{"similar names", []string{"xproxyos_session=x; proxyos_session_old=y; proxyos_sessio=z"}, "", false},
		{"name without value", []string{"proxyos_session"}, "", false},
		{"the other name", []string{"__Host-proxyos_session=abc"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Cookie": tt.headers}
			got, ok := SessionCookie(h, SessionCookieName)
			if got != tt.want || ok != tt.ok {
				t.Errorf("sessionCookie = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	t.Run("__Host- name", func(t *testing.T) {
		h := http.Header{"Cookie": {"proxyos_session=planted; __Host-proxyos_session=abc"}}
		if got, ok := SessionCookie(h, HostSessionCookieName); got != "abc" || !ok {
			t.Errorf("SessionCookie(__Host-) = %q, %v; want abc, true", got, ok)
		}
	})
	t.Run("does not allocate", func(t *testing.T) {
		skipAllocsUnderRace(t)
		h := http.Header{"Cookie": {"a=1; b=2", "c=3; proxyos_session=abc; d=4"}}
		if n := testing.AllocsPerRun(100, func() { SessionCookie(h, SessionCookieName) }); n != 0 {
			t.Errorf("sessionCookie allocates %.1f times per call", n)
		}
	})
}

// TestStripSessionCookie prevents session theft by upstreams: the gate
// removes the session cookie before proxying, keeping the site's own
// cookies.
func TestStripSessionCookie(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    []string // nil: no Cookie header left
	}{
		{"no cookie header", nil, nil},
		{"only session", []string{"proxyos_session=abc"}, nil},
		{"session twice", []string{"proxyos_session=abc; proxyos_session=def"}, nil},
		{"keeps others", []string{"a=1; proxyos_session=abc; b=2"}, []string{"a=1; b=2"}},
		{"several headers", []string{"a=1", "proxyos_session=abc", "b=2;c=3"}, []string{"a=1; b=2; c=3"}},
		{"similar names kept", []string{"xproxyos_session=1; proxyos_session=abc; proxyos_session_old=2"}, []string{"xproxyos_session=1; proxyos_session_old=2"}},
		{"__Host- name", []string{"a=1; __Host-proxyos_session=abc"}, []string{"a=1"}},
		{"both names", []string{"__Host-proxyos_session=abc; proxyos_session=def"}, nil},
		{"empty parts dropped", []string{"a=1;; ;proxyos_session=abc"}, []string{"a=1"}},
		{"no session cookie: left as sent", []string{"a=1;b=2", "c=3"}, []string{"a=1;b=2", "c=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Other": {"x"}}
			if tt.headers != nil {
				h["Cookie"] = tt.headers
			}
			StripSessionCookies(h)
			got := h["Cookie"]
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || (got == nil) != (tt.want == nil) {
				t.Errorf("Cookie = %q, want %q", got, tt.want)
			}
			for _, name := range []string{SessionCookieName, HostSessionCookieName} {
				if _, ok := SessionCookie(h, name); ok {
					t.Errorf("session cookie %s still present", name)
				}
			}
			if h.Get("Other") != "x" {
				t.Error("other headers changed")
			}
		})
	}
}

// skipAllocsUnderRace skips an allocation test when the race detector
// is on.
func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
}

// ClientNetworks: an IPv4 address (also IPv4-mapped) is its own network;
// an IPv6 address counts against its /64, /56 and /48, so rotating
// addresses within a subscriber's prefix changes nothing.
func TestClientNetworks(t *testing.T) {
	for _, tc := range []struct{ ip, n64, n56, n48 string }{
		{"192.0.2.7", "192.0.2.7", "", ""},
		{"::ffff:192.0.2.7", "192.0.2.7", "", ""},
		{"2001:db8:1:2ff:a::1", "2001:db8:1:2ff::/64", "2001:db8:1:200::/56", "2001:db8:1::/48"},
		{"not an ip", "not an ip", "", ""},
	} {
		n64, n56, n48 := ClientNetworks(tc.ip)
		if n64 != tc.n64 || n56 != tc.n56 || n48 != tc.n48 {
			t.Errorf("ClientNetworks(%q) = %q, %q, %q; want %q, %q, %q", tc.ip, n64, n56, n48, tc.n64, tc.n56, tc.n48)
		}
	}
}
