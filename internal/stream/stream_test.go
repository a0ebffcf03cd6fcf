package stream

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := func() *Stream {
		return &Stream{Name: "db", Listen: "tcp/:5432", Upstreams: []string{"10.0.0.5:5432"}}
	}
	tests := []struct {
		name  string
		edit  func(*Stream)
		field string // "" for valid
	}{
		{"valid", func(*Stream) {}, ""},
		{"udp", func(s *Stream) { s.Listen = "udp/[::1]:53" }, ""},
		{"sni", func(s *Stream) { s.Listen = "tcp/:443"; s.Hosts = []string{"DB.example.com", "*.example.org"} }, ""},
		{"no name", func(s *Stream) { s.Name = " " }, "name"},
		{"listen without network", func(s *Stream) { s.Listen = ":5432" }, "listen"},
		{"listen on a name", func(s *Stream) { s.Listen = "tcp/localhost:5432" }, "listen"},
		{"listen port 0", func(s *Stream) { s.Listen = "tcp/:0" }, "listen"},
		{"unknown tls", func(s *Stream) { s.TLS = "mutual" }, "tls"},
		{"terminate without hosts", func(s *Stream) { s.TLS = TLSTerminate }, "hosts"},
		{"terminate udp", func(s *Stream) { s.Listen = "udp/:53"; s.TLS = TLSTerminate; s.Hosts = []string{"a.test"} }, "tls"},
		{"hosts on udp", func(s *Stream) { s.Listen = "udp/:53"; s.Hosts = []string{"a.test"} }, "hosts"},
		{"ip host", func(s *Stream) { s.Hosts = []string{"10.0.0.1"} }, "hosts[0]"},
		{"duplicate host", func(s *Stream) { s.Hosts = []string{"a.test", "A.test"} }, "hosts[1]"},
		{"no upstreams", func(s *Stream) { s.Upstreams = nil }, "upstreams"},
		{"upstream without port", func(s *Stream) { s.Upstreams = []string{"10.0.0.5"} }, "upstreams[0]"},
		{"upstream url", func(s *Stream) { s.Upstreams = []string{"10.0.0.5:1", "http://x:80"} }, "upstreams[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.edit(s)
			s.Normalize()
			err := s.Validate()
			var se *Error
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.field != "" && (!errors.As(err, &se) || se.Field != tc.field):
				t.Fatalf("Validate: %v; want an error on %s", err, tc.field)
			}
		})
	}
}

func TestServesAndOverlaps(t *testing.T) {
	s := &Stream{Hosts: []string{"db.example.com", "*.example.org"}}
	for name, want := range map[string]bool{"db.example.com": true, "a.example.org": true, "a.b.example.org": false, "example.org": false, "": false} {
		if got := s.Serves(name); got != want {
			t.Errorf("Serves(%q) = %v, want %v", name, got, want)
		}
	}
	a, _ := ParseListen("tcp/:5432")
	b, _ := ParseListen("tcp/127.0.0.1:5432")
	c, _ := ParseListen("udp/:5432")
	if !a.Overlaps(b) || a.Overlaps(c) {
		t.Error("Overlaps: every interface overlaps one; tcp and udp do not")
	}
}
