// Package stream defines a managed TCP or UDP stream (a listen address →
// upstreams, optionally by TLS server name), validates it, and holds the
// service that changes streams: validate, check the upstreams and the
// listen port, open the listener, store, swap, record. It is plain Go:
// the glue (proxyos/streams.go) owns the listeners and the proxying.
package stream

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Networks of a stream's listen address.
const (
	TCP = "tcp"
	UDP = "udp"
)

// TLS modes of a stream.
const (
	TLSOff       = "off"       // bytes pass through as they come (SNI routing reads the ClientHello only)
	TLSTerminate = "terminate" // the proxy completes the handshake, upstreams get plain bytes
)

// Issuers of a tls terminate stream's certificates.
const (
	IssuerACME     = "acme"     // the proxyos issuer's ACME CA, as routes with tls auto
	IssuerInternal = "internal" // Caddy's internal CA, as routes with tls internal
)

// maxUpstreams and maxHosts bound what one stream lists.
const (
	maxUpstreams = 16
	maxHosts     = 32
)

// Stream is a managed stream, as the API shows and accepts it.
type Stream struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Listen is the network and address connections come to:
	// "tcp/:5432", "udp/:53", "tcp/127.0.0.1:6000". A TCP stream on a
	// port where Caddy serves HTTPS with the proxyos_streams listener
	// wrapper shares it: its TLS connections are routed by server name
	// (Hosts), all others go on to HTTP.
	Listen string `json:"listen"`
	// Upstreams are host:port addresses; each connection (or UDP
	// client) goes to the first that accepts, tried in order.
	Upstreams []string `json:"upstreams"`
	// TLS is "off" (default: bytes pass through) or "terminate" (the
	// proxy completes the TLS handshake with Caddy's certificates for
	// Hosts; TCP only).
	TLS string `json:"tls"`
	// Hosts are TLS server names (SNI). On a shared HTTPS port they
	// select the stream; on a port of its own they restrict it to
	// those names. Required for tls terminate and on a shared port.
	Hosts []string `json:"hosts,omitempty"`
	// Issuer is where the certificates of a tls terminate stream come
	// from, obtained on demand at the first handshake for each host:
	// "acme" (default, the proxyos issuer's ACME CA, as routes with tls
	// auto) or "internal" (Caddy's internal CA, as routes with tls
	// internal). Only with tls terminate.
	Issuer string `json:"issuer,omitempty"`

	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Error is a validation error naming the field at fault.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Address is a parsed listen address.
type Address struct {
	Network string // TCP or UDP
	Host    string // "" for every interface
	Port    uint16
}

// String returns the address as Caddy's network addresses write it
// ("tcp/:5432").
func (a Address) String() string {
	return a.Network + "/" + net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
}

// HostPort returns host:port, for listening.
func (a Address) HostPort() string { return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port))) }

// Overlaps reports whether a and b cannot both listen: the same network
// and port, and the same host or either on every interface.
func (a Address) Overlaps(b Address) bool {
	return a.Network == b.Network && a.Port == b.Port && (a.Host == b.Host || a.Host == "" || b.Host == "")
}

// ParseListen parses a listen address: "tcp/:5432", "udp/[::1]:53". The
// host, if any, is an IP address (names would bind whatever they resolve
// to at the time).
func ParseListen(s string) (Address, error) {
	network, hostPort, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Address{}, fmt.Errorf("%q: want tcp/[host]:port or udp/[host]:port", s)
	}
	network = strings.ToLower(network)
	if network != TCP && network != UDP {
		return Address{}, fmt.Errorf("%q: network must be tcp or udp", s)
	}
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return Address{}, fmt.Errorf("%q: %v", s, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return Address{}, fmt.Errorf("%q: port must be 1-65535", s)
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return Address{}, fmt.Errorf("%q: host must be an IP address or empty (every interface)", s)
		}
		host = ip.Unmap().String()
	}
	return Address{Network: network, Host: host, Port: uint16(port)}, nil
}

// Addr returns the parsed listen address of a valid stream.
func (s *Stream) Addr() Address {
	a, _ := ParseListen(s.Listen)
	return a
}

// Normalize trims and lower-cases what compares without case, and sets
// defaults.
func (s *Stream) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	if s.TLS == "" {
		s.TLS = TLSOff
	}
	s.Issuer = strings.ToLower(strings.TrimSpace(s.Issuer))
	if s.TLS == TLSTerminate && s.Issuer == "" {
		s.Issuer = IssuerACME
	}
	if a, err := ParseListen(s.Listen); err == nil {
		s.Listen = a.String()
	}
	for i, h := range s.Hosts {
		s.Hosts[i] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	}
	for i, u := range s.Upstreams {
		s.Upstreams[i] = strings.TrimSpace(u)
	}
}

// Validate checks a normalized stream; errors are *Error naming the
// field.
func (s *Stream) Validate() error {
	if s.Name == "" || len(s.Name) > 100 {
		return errf("name", "required, at most 100 characters")
	}
	addr, err := ParseListen(s.Listen)
	if err != nil {
		return errf("listen", "%v", err)
	}
	switch s.TLS {
	case TLSOff:
	case TLSTerminate:
		if addr.Network == UDP {
			return errf("tls", "terminate needs a tcp stream")
		}
		if len(s.Hosts) == 0 {
			return errf("hosts", "required with tls terminate: the names of its certificate")
		}
	default:
		return errf("tls", "%q: must be off or terminate", s.TLS)
	}
	switch {
	case s.TLS != TLSTerminate && s.Issuer != "":
		return errf("issuer", "only with tls terminate")
	case s.TLS == TLSTerminate && s.Issuer != IssuerACME && s.Issuer != IssuerInternal:
		return errf("issuer", "%q: must be acme or internal", s.Issuer)
	}
	if len(s.Upstreams) == 0 || len(s.Upstreams) > maxUpstreams {
		return errf("upstreams", "between 1 and %d host:port addresses", maxUpstreams)
	}
	for i, u := range s.Upstreams {
		if _, _, err := SplitUpstream(u); err != nil {
			return errf(fmt.Sprintf("upstreams[%d]", i), "%v", err)
		}
	}
	if len(s.Hosts) > 0 && addr.Network == UDP {
		return errf("hosts", "server names need a tcp stream")
	}
	if len(s.Hosts) > maxHosts {
		return errf("hosts", "at most %d", maxHosts)
	}
	seen := make(map[string]bool, len(s.Hosts))
	for i, h := range s.Hosts {
		if err := checkHost(h); err != nil {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q: %v", h, err)
		}
		if seen[h] {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q is listed twice", h)
		}
		seen[h] = true
	}
	return nil
}

// SplitUpstream splits an upstream address into its host and port.
func SplitUpstream(u string) (string, uint16, error) {
	host, portStr, err := net.SplitHostPort(u)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want host:port", u)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("%q: port must be 1-65535", u)
	}
	if host == "" || strings.ContainsAny(host, "/ {}") {
		return "", 0, fmt.Errorf("%q: host must be a name or an IP address", u)
	}
	return host, uint16(port), nil
}

// checkHost checks a TLS server name: a DNS name, or a *. wildcard of
// one label.
func checkHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(h) > 253 {
		return fmt.Errorf("not a DNS name")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("an IP address is never a TLS server name")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("not a DNS name")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("not a DNS name")
			}
		}
	}
	return nil
}

// Serves reports whether the stream takes TLS connections for server
// name sni: its hosts, exactly or by a one-label wildcard.
func (s *Stream) Serves(sni string) bool {
	for _, h := range s.Hosts {
		if h == sni {
			return true
		}
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			if i := strings.IndexByte(sni, '.'); i > 0 && sni[i+1:] == rest {
				return true
			}
		}
	}
	return false
}
