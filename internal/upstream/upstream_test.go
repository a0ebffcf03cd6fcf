package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func ep(port uint16) Endpoint { return Endpoint{FirstPort: port, LastPort: port} }

// testGuard returns a guard whose host has the interface address
// 192.168.1.10 besides loopback.
func testGuard(p Policy) *Guard {
	g := NewGuard(p, nil)
	g.interfaces = func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("::1")}, nil
	}
	return g
}

func reasonOf(err error) string {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// TestCheck decides every kind of address. It is the table behind the
// attack of an operator reaching Caddy's admin API (port 2019 here)
// through a route, in every spelling that reaches this host.
func TestCheck(t *testing.T) {
	g := testGuard(Policy{
		Admin:     []Endpoint{{Addr: netip.MustParseAddr("127.0.0.1"), FirstPort: 2019, LastPort: 2019}, ep(2021)},
		Listeners: []Endpoint{ep(80), ep(443), {FirstPort: 8000, LastPort: 8010}},
	})
	for _, tc := range []struct {
		addr, reason string
	}{
		{"127.0.0.1:2019", ReasonAdmin},
		{"127.0.0.2:2019", ReasonAdmin}, // any loopback address reaches a listener on all of them
		{"0.0.0.0:2019", ReasonAdmin},   // Linux connects 0.0.0.0 to this host
		{"0.1.2.3:2019", ReasonAdmin},
		{"[::1]:2019", ReasonAdmin},
		{"[::]:2019", ReasonAdmin},
		{"[::ffff:127.0.0.1]:2019", ReasonAdmin}, // IPv4-mapped
		{"192.168.1.10:2019", ReasonAdmin},       // this host's LAN address
		{"127.0.0.1:2021", ReasonAdmin},          // the remote admin endpoint
		{"192.168.1.11:2019", ""},                // another host may run anything on 2019
		{"127.0.0.1:3000", ""},                   // a service on this host
		{"127.0.0.1:443", ReasonListener},        // a proxy loop
		{"127.0.0.1:8005", ReasonListener},       // in a listener's port range
		{"192.168.1.10:80", ReasonListener},
		{"10.0.0.5:80", ""},
		{"169.254.169.254:80", ReasonBlocked},
		{"[fe80::1]:80", ReasonBlocked},
		{"[fe80::1%eth0]:80", ReasonBlocked},
		{"[fd00:ec2::254]:80", ReasonBlocked},
		{"100.100.100.200:80", ReasonBlocked},
		{"8.8.8.8:53", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := reasonOf(g.Check(ap(tc.addr))); got != tc.reason {
				t.Errorf("Check(%s) = %q, want %q", tc.addr, got, tc.reason)
			}
		})
	}
}

// TestCheckService: connections proxyos makes itself to a configured
// service (an OpenID provider) may reach this Caddy's own listeners (a
// provider this Caddy serves), never the admin endpoint or metadata
// addresses a provider's discovery document could name.
func TestCheckService(t *testing.T) {
	g := testGuard(Policy{
		Admin:     []Endpoint{{Addr: netip.MustParseAddr("127.0.0.1"), FirstPort: 2019, LastPort: 2019}},
		Listeners: []Endpoint{ep(443)},
	})
	for addr, reason := range map[string]string{
		"127.0.0.1:2019":     ReasonAdmin,
		"[::1]:2019":         ReasonAdmin,
		"169.254.169.254:80": ReasonBlocked,
		"127.0.0.1:443":      "",
		"192.168.1.10:443":   "",
		"10.0.0.5:8443":      "",
	} {
		if got := reasonOf(g.CheckService(ap(addr))); got != reason {
			t.Errorf("CheckService(%s) = %q, want %q", addr, got, reason)
		}
	}
}

// TestAdminNetworks checks the upstream_networks rules: the most
// specific network decides, deny wins a tie, an allow unblocks the
// defaults, and nothing unblocks the admin endpoint.
func TestAdminNetworks(t *testing.T) {
	g := testGuard(Policy{
		Admin:     []Endpoint{ep(2019)},
		Listeners: []Endpoint{ep(443)},
		Allow: []netip.Prefix{
			netip.MustParsePrefix("10.1.0.0/16"),
			netip.MustParsePrefix("169.254.10.0/24"),
			netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("192.168.5.0/24"),
			netip.MustParsePrefix("::ffff:172.16.0.0/108"), // 172.16.0.0/12, written mapped
		},
		Deny: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.5.0/24"),
		},
	})
	for _, tc := range []struct {
		addr, reason string
	}{
		{"10.1.2.3:80", ""},                  // the /16 allow is more specific than the /8 deny
		{"10.2.2.3:80", ReasonDenied},        // only the /8 deny matches
		{"192.168.5.1:80", ReasonDenied},     // tie: deny wins
		{"169.254.10.5:80", ""},              // explicitly allowed link-local
		{"169.254.11.5:80", ReasonBlocked},   // not allowed: still blocked
		{"127.0.0.1:443", ""},                // an admin may allow proxying to a listener
		{"127.0.0.1:2019", ReasonAdmin},      // but never to the admin endpoint
		{"172.20.0.1:80", ""},                // the mapped prefix was unmapped
		{"192.168.1.10:2019", ReasonAdmin},   // this host, admin port
		{"192.168.1.10:443", ReasonListener}, // this host, not allowed by /32 on 127.0.0.1
	} {
		if got := reasonOf(g.Check(ap(tc.addr))); got != tc.reason {
			t.Errorf("Check(%s) = %q, want %q", tc.addr, got, tc.reason)
		}
	}
}

// TestLocalAddrsCached checks that interface addresses are read at most
// once per TTL, and that a failure keeps the previous addresses.
func TestLocalAddrsCached(t *testing.T) {
	now := time.Unix(1000, 0)
	reads := 0
	g := NewGuard(Policy{Admin: []Endpoint{ep(2019)}}, nil)
	g.localNow = func() time.Time { return now }
	addrs := []netip.Addr{netip.MustParseAddr("10.9.9.9")}
	var fail bool
	g.interfaces = func() ([]netip.Addr, error) {
		reads++
		if fail {
			return nil, errors.New("no interfaces")
		}
		return addrs, nil
	}
	for range 3 {
		if reasonOf(g.Check(ap("10.9.9.9:2019"))) != ReasonAdmin {
			t.Fatal("interface address not treated as this host")
		}
	}
	if reads != 1 {
		t.Fatalf("interfaces read %d times within the TTL, want 1", reads)
	}
	now = now.Add(11 * time.Second)
	fail = true
	if reasonOf(g.Check(ap("10.9.9.9:2019"))) != ReasonAdmin {
		t.Fatal("a failed refresh forgot the known addresses")
	}
	if reads != 2 {
		t.Fatalf("interfaces read %d times after the TTL, want 2", reads)
	}
}

// TestCheckHostLocalhost resolves a name to the admin endpoint: localhost
// comes from the hosts file on every system.
func TestCheckHostLocalhost(t *testing.T) {
	g := testGuard(Policy{Admin: []Endpoint{ep(2019)}})
	err := g.CheckHost(context.Background(), "localhost", 2019)
	var ne *NameRefusedError
	if !errors.As(err, &ne) || ne.Reason != ReasonAdmin || !strings.HasPrefix(err.Error(), "localhost resolves to ") {
		t.Fatalf("CheckHost(localhost:2019) = %v, want refused as the admin endpoint", err)
	}
	if err := g.CheckHost(context.Background(), "localhost", 3000); err != nil {
		t.Fatalf("CheckHost(localhost:3000) = %v, want allowed", err)
	}
	if err := g.CheckHost(context.Background(), "::1", 2019); reasonOf(err) != ReasonAdmin {
		t.Fatalf("CheckHost(::1) = %v", err)
	}
	// A name that does not resolve is left to the dial-time check.
	if err := g.CheckHost(context.Background(), "no-such-host.invalid", 2019); err != nil {
		t.Fatalf("CheckHost(unresolvable) = %v, want nil", err)
	}
}

// TestDialerRefusesAdmin dials through the guard's dialer: a connection to
// a listener that plays the admin endpoint is refused before it is made
// (the listener never sees it), whatever name is dialed; one to another
// port goes through.
func TestDialerRefusesAdmin(t *testing.T) {
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := admin.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	adminPort := uint16(admin.Addr().(*net.TCPAddr).Port)
	g := testGuard(Policy{Admin: []Endpoint{ep(adminPort)}})
	d := g.Dialer(time.Second, 0)
	for _, host := range []string{"127.0.0.1", "localhost", "127.0.0.2", "0.0.0.0"} {
		addr := net.JoinHostPort(host, strconv.Itoa(int(adminPort)))
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s: connected, want refused", addr)
		}
		if reasonOf(err) != ReasonAdmin {
			t.Fatalf("dial %s: %v, want refused as the admin endpoint", addr, err)
		}
	}
	c, err := d.DialContext(context.Background(), "tcp", other.Addr().String())
	if err != nil {
		t.Fatalf("dial another port: %v", err)
	}
	c.Close()
	select {
	case <-accepted:
		t.Fatal("the admin listener accepted a connection")
	case <-time.After(100 * time.Millisecond):
	}
}
