package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The session cookie carries cookie_domain only to hosts within it.
func TestSessionCookieDomain(t *testing.T) {
	s := &Server{CookieDomain: "example.com"}
	tests := []struct {
		name, host, want string
	}{
		{"dashboard within the domain", "proxy.example.com", "example.com"},
		{"with port", "proxy.example.com:8443", "example.com"},
		{"the domain itself", "example.com", "example.com"},
		{"reached by IP", "192.0.2.1:2015", ""},
		{"other domain", "proxy.example.net", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://"+tt.host+"/api/auth/login", nil)
			rec := httptest.NewRecorder()
			s.SetSessionCookie(rec, req, "v", time.Hour)
			var c *http.Cookie
			if cs := rec.Result().Cookies(); len(cs) == 1 {
				c = cs[0]
			}
			if c == nil || c.Domain != tt.want {
				t.Errorf("cookie %v, want Domain %q", c, tt.want)
			}
		})
	}
}
