// Package upstream decides which network addresses the upstreams of
// managed routes may reach. Operators and route-writing API keys choose
// upstreams; they must never reach Caddy's admin endpoint (which would
// give them the whole server), this Caddy's own listeners (a proxy loop)
// or link-local and cloud metadata addresses, unless an admin allowed a
// network explicitly.
//
// The same Guard answers when a route is saved (CheckHost, resolving
// names) and again at dial time (Dialer's Control, with the address the
// connection is about to use), so a name that resolves somewhere else by
// the time of the request (DNS rebinding) cannot change the answer.
package upstream

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint is a listener of this Caddy: a port range on an address of
// this host. Addr is the address it is bound to when it is bound to one;
// the zero Addr stands for every address of this host.
type Endpoint struct {
	Addr      netip.Addr
	FirstPort uint16
	LastPort  uint16
}

func (e Endpoint) hasPort(p uint16) bool { return p >= e.FirstPort && p <= e.LastPort }

func (e Endpoint) String() string {
	host := "*"
	if e.Addr.IsValid() {
		host = e.Addr.String()
	}
	if e.FirstPort == e.LastPort {
		return fmt.Sprintf("%s:%d", host, e.FirstPort)
	}
	return fmt.Sprintf("%s:%d-%d", host, e.FirstPort, e.LastPort)
}

// Policy is what an upstream may reach. The decision for an address, in
// this order:
//
//  1. Caddy's admin endpoint (Admin) is refused, always.
//  2. Of the admin's Allow and Deny networks that contain the address,
//     the most specific decides; on a tie, Deny.
//  3. Link-local and cloud metadata addresses are refused.
//  4. This Caddy's own listeners (Listeners) are refused.
//  5. Anything else is allowed.
//
// An address "of this host" is a loopback or unspecified address or one
// of the host's interface addresses: a listener on :2019 answers on all of
// them.
type Policy struct {
	Admin     []Endpoint
	Listeners []Endpoint
	Allow     []netip.Prefix
	Deny      []netip.Prefix
}

// Blocked lists the networks refused by default (step 3): link-local
// addresses, which include the metadata services of most clouds
// (169.254.169.254), and the metadata addresses outside them.
var Blocked = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),     // IPv4 link-local, cloud metadata
	netip.MustParsePrefix("fe80::/10"),          // IPv6 link-local
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("192.0.0.192/32"),     // Oracle Cloud metadata
}

// RefusedError says why an upstream address may not be used.
type RefusedError struct {
	Addr   netip.AddrPort
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s is %s", e.Addr, e.Reason)
}

// Reasons of a RefusedError.
const (
	ReasonAdmin     = "Caddy's admin endpoint, which routes may never reach"
	ReasonDenied    = "in a network the proxyos upstream_networks option denies"
	ReasonBlocked   = "a link-local or cloud metadata address; an admin can allow it with the proxyos upstream_networks option"
	ReasonListener  = "one of this Caddy's own listeners (a proxy loop); an admin can allow it with the proxyos upstream_networks option"
	ReasonMalformed = "not an address that can be checked"
)

// Guard applies the current Policy. It is safe for concurrent use; the
// policy can be replaced while connections are being made.
type Guard struct {
	policy   atomic.Pointer[Policy]
	resolver *net.Resolver
	// interfaces returns the addresses of this host's interfaces; a
	// test may replace it.
	interfaces func() ([]netip.Addr, error)

	mu       sync.Mutex
	local    atomic.Pointer[localAddrs]
	localTTL time.Duration
	localNow func() time.Time
}

type localAddrs struct {
	addrs []netip.Addr
	at    time.Time
}

// NewGuard returns a guard applying p. resolver resolves upstream names
// when routes are saved and connections are made; nil means the system's.
func NewGuard(p Policy, resolver *net.Resolver) *Guard {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	g := &Guard{resolver: resolver, interfaces: interfaceAddrs, localTTL: 10 * time.Second, localNow: time.Now}
	g.SetPolicy(p)
	return g
}

// SetPolicy replaces the policy.
func (g *Guard) SetPolicy(p Policy) {
	p.Allow = normalizePrefixes(p.Allow)
	p.Deny = normalizePrefixes(p.Deny)
	g.policy.Store(&p)
}

// Policy returns the current policy.
func (g *Guard) Policy() Policy { return *g.policy.Load() }

// Resolver returns the resolver upstream names are resolved with.
func (g *Guard) Resolver() *net.Resolver { return g.resolver }

// Check reports whether an upstream may connect to ap: nil, or a
// *RefusedError.
func (g *Guard) Check(ap netip.AddrPort) error { return g.check(ap, true) }

// CheckService is Check for a connection proxyos makes itself to a
// service the host configured, such as an OpenID provider: it may reach
// this Caddy's own listeners (a provider this Caddy serves is no loop),
// never Caddy's admin endpoint, and link-local and metadata addresses
// only where the policy allows them, whatever a provider's discovery
// document names.
func (g *Guard) CheckService(ap netip.AddrPort) error { return g.check(ap, false) }

func (g *Guard) check(ap netip.AddrPort, listeners bool) error {
	addr := ap.Addr().Unmap().WithZone("")
	ap = netip.AddrPortFrom(addr, ap.Port())
	if !addr.IsValid() {
		return &RefusedError{Addr: ap, Reason: ReasonMalformed}
	}
	p := g.policy.Load()
	local := g.isThisHost(addr)
	if reachesEndpoint(p.Admin, addr, ap.Port(), local) {
		return &RefusedError{Addr: ap, Reason: ReasonAdmin}
	}
	if allowed, decided := p.rule(addr); decided {
		if allowed {
			return nil
		}
		return &RefusedError{Addr: ap, Reason: ReasonDenied}
	}
	for _, b := range Blocked {
		if b.Contains(addr) {
			return &RefusedError{Addr: ap, Reason: ReasonBlocked}
		}
	}
	if listeners && reachesEndpoint(p.Listeners, addr, ap.Port(), local) {
		return &RefusedError{Addr: ap, Reason: ReasonListener}
	}
	return nil
}

// rule applies the admin's networks: the most specific one containing
// addr decides, Deny winning a tie. decided is false when none does.
func (p *Policy) rule(addr netip.Addr) (allowed, decided bool) {
	best := -1
	for _, n := range p.Allow {
		if n.Contains(addr) && n.Bits() > best {
			best, allowed, decided = n.Bits(), true, true
		}
	}
	for _, n := range p.Deny {
		if n.Contains(addr) && n.Bits() >= best {
			best, allowed, decided = n.Bits(), false, true
		}
	}
	return allowed, decided
}

// reachesEndpoint reports whether a connection to addr:port reaches one
// of the endpoints: the port is theirs and addr is theirs or, since a
// listener on one address of this host is usually reachable through
// others (0.0.0.0 and loopback aliases), any address of this host.
func reachesEndpoint(eps []Endpoint, addr netip.Addr, port uint16, local bool) bool {
	for _, e := range eps {
		if e.hasPort(port) && (local || (e.Addr.IsValid() && e.Addr.Unmap() == addr)) {
			return true
		}
	}
	return false
}

// thisNetwork is 0.0.0.0/8, which Linux sends to this host.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// isThisHost reports whether addr reaches this host: loopback,
// unspecified, 0.0.0.0/8 or one of its interface addresses.
func (g *Guard) isThisHost(addr netip.Addr) bool {
	if addr.IsLoopback() || addr.IsUnspecified() || thisNetwork.Contains(addr) {
		return true
	}
	return slices.Contains(g.localAddrs(), addr)
}

// localAddrs returns this host's interface addresses, read at most every
// localTTL (interfaces rarely change, and a dial must stay cheap).
func (g *Guard) localAddrs() []netip.Addr {
	now := g.localNow()
	if l := g.local.Load(); l != nil && now.Sub(l.at) < g.localTTL {
		return l.addrs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.local.Load(); l != nil && now.Sub(l.at) < g.localTTL {
		return l.addrs
	}
	addrs, err := g.interfaces()
	if err != nil {
		// keep what was known; try again after the TTL
		old := g.local.Load()
		if old != nil {
			addrs = old.addrs
		}
	}
	g.local.Store(&localAddrs{addrs: addrs, at: now})
	return addrs
}

func interfaceAddrs() ([]netip.Addr, error) {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifas {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}
