package access

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustCompile(t testing.TB, def Action, rules ...Rule) *Policy {
	t.Helper()
	p, err := Compile(rules, def)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	lan := netip.MustParseAddr("192.168.1.20")
	wan := netip.MustParseAddr("203.0.113.9")
	p := mustCompile(t, Login,
		Rule{Action: "deny", Path: "/admin/*"},
		Rule{Action: "allow", Path: "/health"},
		Rule{Action: "allow", Path: "/hooks/*", Methods: []string{"POST"}},
		Rule{Action: "allow", CIDRs: []string{"192.168.0.0/16", "::ffff:10.0.0.0/104"}},
		Rule{Action: "deny", Path: "*.php"},
	)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		ip     netip.Addr
		want   Action
		rule   int
	}{
		{"denied prefix", "GET", "/admin/users", wan, Deny, 0},
		{"denied prefix itself", "GET", "/admin", wan, Deny, 0},
		{"deny before a LAN allow: first match wins", "GET", "/admin/x", lan, Deny, 0},
		{"exact allow", "GET", "/health", wan, Allow, 1},
		{"exact allow is not a prefix", "GET", "/healthz", wan, Login, -1},
		{"allowed hook", "POST", "/hooks/github", wan, Allow, 2},
		{"hook with another method", "GET", "/hooks/github", wan, Login, -1},
		{"LAN", "GET", "/anything", lan, Allow, 3},
		{"IPv4-mapped client", "GET", "/x", netip.MustParseAddr("::ffff:192.168.3.3"), Allow, 3},
		{"suffix glob", "GET", "/x/index.php", wan, Deny, 4},
		{"default", "GET", "/", wan, Login, -1},
		{"no IP never matches a CIDR", "GET", "/", netip.Addr{}, Login, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, i := p.Decide(&Request{Method: tc.method, Path: tc.path, IP: tc.ip})
			if a != tc.want || i != tc.rule {
				t.Errorf("Decide(%s %s %s) = %s, rule %d; want %s, rule %d", tc.method, tc.path, tc.ip, a, i, tc.want, tc.rule)
			}
		})
	}
}

// TestFirstMatchWins: an allow listed before a deny wins, and a deny
// listed before an allow wins; the order is the operator's, not a rule
// of precedence (an allow must not bypass a deny written above it).
func TestFirstMatchWins(t *testing.T) {
	req := &Request{Method: "GET", Path: "/admin/x"}
	denyFirst := mustCompile(t, Login, Rule{Action: "deny", Path: "/admin/*"}, Rule{Action: "allow", Path: "/admin/*"})
	if a, _ := denyFirst.Decide(req); a != Deny {
		t.Errorf("deny then allow: %s, want deny", a)
	}
	allowFirst := mustCompile(t, Login, Rule{Action: "allow", Path: "/admin/*"}, Rule{Action: "deny", Path: "/admin/*"})
	if a, _ := allowFirst.Decide(req); a != Allow {
		t.Errorf("allow then deny: %s, want allow", a)
	}
	broadAllowLater := mustCompile(t, Login, Rule{Action: "deny", Path: "/admin/*"}, Rule{Action: "allow"})
	if a, _ := broadAllowLater.Decide(req); a != Deny {
		t.Errorf("deny then allow-all: %s, want deny", a)
	}
}

// TestPathTricks: the attacks that would reach a denied path, or leave
// an allowed prefix, by spelling a path so that the rule reads it one
// way and the upstream another: dot segments (also percent-encoded,
// which net/http decodes into URL.Path), doubled and encoded slashes,
// backslashes and ";" parameters some servers honour, case, and a
// second layer of encoding.
func TestPathTricks(t *testing.T) {
	p := mustCompile(t, Login,
		Rule{Action: "deny", Path: "/admin/*"},
		Rule{Action: "allow", Path: "/health/*"},
		Rule{Action: "allow", Path: "/public"},
	)
	for _, tc := range []struct {
		name string
		path string // decoded, as URL.Path holds it
		want Action
	}{
		{"dot-dot out of an allowed prefix", "/health/../admin", Deny},
		{"dot-dot out of an allowed prefix to elsewhere", "/health/../secret", Login},
		{"encoded dot-dot (%2e%2e decoded)", "/health/%2e%2e/secret", Login},
		{"decoded %2e%2e", "/health/../secret", Login},
		{"double slash before a denied path", "//admin", Deny},
		{"double slash inside", "/admin//x", Deny},
		{"encoded slash decoded", "/admin/x", Deny},
		{"dot segment", "/./admin/x", Deny},
		{"upper case denied path", "/ADMIN/x", Deny},
		{"mixed case", "/Admin", Deny},
		{"case does not open an allow", "/PUBLIC", Login},
		{"backslash", "/health\\..\\secret", Login},
		{"backslash to denied", "\\admin\\x", Deny},
		{"semicolon parameter dot-dot", "/health/..;/admin", Deny},
		{"semicolon parameter to elsewhere", "/health/..;/secret", Login},
		{"semicolon in a denied segment", "/admin;x/y", Deny},
		{"double encoding left for the upstream", "/health/%2e%2e/secret", Login},
		{"control character", "/health/\x00", Login},
		{"allowed prefix, plain", "/health/live", Allow},
		{"allowed prefix itself", "/health", Allow},
		{"trailing slash kept", "/health/", Allow},
		{"allow exact", "/public", Allow},
		{"parent of root", "/../../admin", Deny},
		{"empty", "", Login},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, i := p.Decide(&Request{Method: "GET", Path: tc.path}); a != tc.want {
				t.Errorf("path %q: %s (rule %d), want %s", tc.path, a, i, tc.want)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":            "/",
		"/a/b":         "/a/b",
		"//a///b/":     "/a/b/",
		"/a/./b":       "/a/b",
		"/a/../b":      "/b",
		"/a/b/..":      "/a/",
		"/..":          "/",
		"a":            "/a",
		"/a;x/b;y":     "/a/b",
		"\\a\\b":       "/a/b",
		"/a/b/.":       "/a/b/",
		"/a/..;/b":     "/b",
		"/a/b;x":       "/a/b",
		"/a/b/;x":      "/a/b/",
		"/x/.hidden/y": "/x/.hidden/y",
	} {
		if got, _ := cleanPath(nil, in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []Rule
		field string
	}{
		{"action", []Rule{{Action: "permit"}}, "[0].action"},
		{"cidr", []Rule{{Action: "allow"}, {Action: "allow", CIDRs: []string{"10.0.0.0/8", "lan"}}}, "[1].cidrs[1]"},
		{"method", []Rule{{Action: "deny", Methods: []string{"get"}}}, "[0].methods[0]"},
		{"relative path", []Rule{{Action: "deny", Path: "admin"}}, "[0].path"},
		{"dot-dot pattern", []Rule{{Action: "allow", Path: "/a/../b"}}, "[0].path"},
		{"encoded pattern", []Rule{{Action: "allow", Path: "/a%2fb"}}, "[0].path"},
		{"double slash pattern", []Rule{{Action: "allow", Path: "//a"}}, "[0].path"},
		{"placeholder", []Rule{{Action: "allow", Path: "/{env.X}"}}, "[0].path"},
		// patterns stay cheap to match (see TestLongPathFailsClosed)
		{"long pattern", []Rule{{Action: "deny", Path: "/" + strings.Repeat("a", 256)}}, "[0].path"},
		{"many stars", []Rule{{Action: "deny", Path: "/*a*b*c*d*"}}, "[0].path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rules, Login)
			var e *Error
			if !errors.As(err, &e) || e.Field != tc.field {
				t.Fatalf("err = %v, want field %s", err, tc.field)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	p := mustCompile(t, Login,
		Rule{Action: "allow", CIDRs: []string{"10.0.0.0/8"}},
		Rule{Action: "allow", Path: "/hooks/*", Methods: []string{"POST"}},
		Rule{Action: "deny", Path: "/admin/*"},
	)
	a, i, why := p.Explain(&Request{Method: "GET", Path: "//admin/x", IP: netip.MustParseAddr("203.0.113.1")})
	if a != Deny || i != 2 || len(why) != 4 {
		t.Fatalf("Explain = %s, %d, %q", a, i, why)
	}
	if want := `the path is matched as "/admin/x"`; why[0] != want {
		t.Errorf("why[0] = %q, want %q", why[0], want)
	}
	if want := "rule 3 (deny) matches: first match wins"; why[3] != want {
		t.Errorf("why[3] = %q, want %q", why[3], want)
	}
}

// TestDecideAllocs: evaluating rules on the hot path allocates nothing,
// for every kind of condition and for a path that needs cleaning.
func TestDecideAllocs(t *testing.T) {
	p := benchPolicy(t)
	for _, path := range []string{"/api/v1/items", "//api/../admin/x;y", "/health"} {
		req := &Request{Method: "POST", Path: path, IP: netip.MustParseAddr("203.0.113.7")}
		if n := testing.AllocsPerRun(200, func() { p.Decide(req) }); n != 0 {
			t.Errorf("Decide(%q) allocates %.1f times, want 0", path, n)
		}
	}
}

func benchPolicy(t testing.TB) *Policy {
	return mustCompile(t, Login,
		Rule{Action: "allow", Path: "/health"},
		Rule{Action: "allow", Path: "/hooks/*", Methods: []string{"POST"}},
		Rule{Action: "deny", Path: "/admin/*"},
		Rule{Action: "allow", CIDRs: []string{"192.168.0.0/16", "10.0.0.0/8"}},
		Rule{Action: "deny", Path: "*.php"},
	)
}

// BenchmarkAccessDecide measures the rules a gate evaluates before the
// login, on a request that passes every rule to the default (the
// costliest case).
func BenchmarkAccessDecide(b *testing.B) {
	p := benchPolicy(b)
	req := &Request{Method: "GET", Path: "/api/v1/items", IP: netip.MustParseAddr("203.0.113.7")}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(req)
	}
}

func TestTokens(t *testing.T) {
	tok, id := NewToken()
	if got, ok := TokenID(tok); !ok || got != id {
		t.Fatalf("TokenID(%q) = %q, %v", tok, got, ok)
	}
	for _, bad := range []string{"", "prt_", "prt_" + id, "Bearer " + tok, tok + "x", "prt_zz" + id[2:] + tok[len("prt_")+24:]} {
		if _, ok := TokenID(bad); ok {
			t.Errorf("TokenID(%q) accepted", bad)
		}
	}
	h := HashToken(tok)
	if !CheckToken(h, tok) {
		t.Fatal("CheckToken refuses the token it hashed")
	}
	other, _ := NewToken()
	if CheckToken(h, other) {
		t.Fatal("another token matches")
	}
}

// TestVerifiedForget: a revoked token leaves the cache of verified
// tokens, with every credential of it and nothing else.
func TestVerifiedForget(t *testing.T) {
	v := NewVerified()
	a := v.Sum("r1", "", "prt_a")
	b := v.Sum("r1", "bob", "prt_a")
	c := v.Sum("r1", "", "prt_c")
	if a == b || a == v.Sum("r2", "", "prt_a") {
		t.Fatal("sums of different credentials collide")
	}
	gen := v.Gen()
	v.Add(a, Holder{TokenID: "a"}, gen)
	v.Add(b, Holder{TokenID: "a"}, gen)
	v.Add(c, Holder{TokenID: "c"}, gen)
	v.Forget("a")
	if _, ok := v.Lookup(a); ok {
		t.Error("a still verified")
	}
	if _, ok := v.Lookup(b); ok {
		t.Error("a's basic credential still verified")
	}
	if _, ok := v.Lookup(c); !ok {
		t.Error("c forgotten")
	}
	// a check that began before the revocation does not put it back
	v.Add(a, Holder{TokenID: "a"}, gen)
	if _, ok := v.Lookup(a); ok {
		t.Error("a revoked during its check is verified")
	}
}

// TestFailuresBlock: a client IP that fails too often is blocked for
// the rest of the window (token brute force), and others are not.
func TestFailuresBlock(t *testing.T) {
	f := &Failures{Limit: 3, Window: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		if blocked, _ := f.Blocked("1.2.3.4", now); blocked {
			t.Fatal("blocked before the limit")
		}
		f.Fail("1.2.3.4", now)
	}
	if blocked, wait := f.Blocked("1.2.3.4", now.Add(10*time.Second)); !blocked || wait != 50*time.Second {
		t.Fatalf("Blocked = %v, %s; want true, 50s", blocked, wait)
	}
	if blocked, _ := f.Blocked("5.6.7.8", now); blocked {
		t.Error("another IP blocked")
	}
	if blocked, _ := f.Blocked("1.2.3.4", now.Add(time.Minute)); blocked {
		t.Error("still blocked after the window")
	}
	// rotating IPv6 addresses within one /64 does not reset the count
	for i := range 3 {
		f.Fail(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if blocked, _ := f.Blocked("2001:db8:1:2:ffff::9", now); !blocked {
		t.Error("another address of the same /64 is not blocked")
	}
	if blocked, _ := f.Blocked("2001:db8:1:3::1", now); blocked {
		t.Error("another /64 is blocked")
	}
}

func TestTry(t *testing.T) {
	rules := []Rule{{Action: "allow", Path: "/health/*"}, {Action: "deny", Path: "/admin/*"}}
	v, err := Try(Probe{Rules: rules, Path: "/health/%2e%2e/admin?x=1", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != "deny" || v.Rule != 2 || v.Path != "/admin" {
		t.Fatalf("Try = %+v, want deny by rule 2 on /admin", v)
	}
	v, err = Try(Probe{Rules: rules, Default: "allow", Path: "/x"})
	if err != nil || v.Action != "allow" || v.Rule != 0 {
		t.Fatalf("Try default = %+v, %v", v, err)
	}
	for field, p := range map[string]Probe{
		"rules[1].path": {Rules: []Rule{{Action: "allow"}, {Action: "deny", Path: "x"}}, Path: "/"},
		"ip":            {Path: "/", IP: "lan"},
		"path":          {Path: "health"},
		"method":        {Path: "/", Method: "get"},
		"default":       {Path: "/", Default: "open"},
	} {
		_, err := Try(p)
		var e *Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("Try(%+v) = %v, want an error on %s", p, err, field)
		}
	}
}

// TestMethodsAnyCase: a client sending "post" must not slip past a rule
// for POST (method-case bypass: Go's server accepts the lower-case
// method, reverse_proxy forwards it, and frameworks upper-case it), and a
// HEAD must not slip past a rule for GET (HEAD answers what GET would).
func TestMethodsAnyCase(t *testing.T) {
	p := mustCompile(t, Allow,
		Rule{Action: "login", Methods: []string{"POST", "PUT", "DELETE"}},
		Rule{Action: "deny", Path: "/private/*", Methods: []string{"GET"}},
	)
	for _, tc := range []struct {
		method, path string
		want         Action
	}{
		{"POST", "/items", Login},
		{"post", "/items", Login},
		{"pOsT", "/items", Login},
		{"delete", "/items/1", Login},
		{"get", "/private/x", Deny},
		{"HEAD", "/private/x", Deny},
		{"head", "/private/x", Deny},
		{"GET", "/public", Allow},
		{"OPTIONS", "/private/x", Allow},
	} {
		if a, _ := p.Decide(&Request{Method: tc.method, Path: tc.path}); a != tc.want {
			t.Errorf("Decide(%s %s) = %s, want %s", tc.method, tc.path, a, tc.want)
		}
	}
}

// TestLongPathFailsClosed: a path past MaxPathLen is not matched against
// the patterns (CPU exhaustion with a long URL against glob patterns) and
// fails closed: no allow rule with a path opens it, every deny or login
// rule with a path catches it.
func TestLongPathFailsClosed(t *testing.T) {
	long := "/health/" + strings.Repeat("a", MaxPathLen)
	allow := mustCompile(t, Login, Rule{Action: "allow", Path: "/health/*"})
	if a, _ := allow.Decide(&Request{Method: "GET", Path: long}); a != Login {
		t.Errorf("a long path under an allowed prefix: %s, want login", a)
	}
	deny := mustCompile(t, Allow, Rule{Action: "deny", Path: "/admin/*"})
	if a, _ := deny.Decide(&Request{Method: "GET", Path: long}); a != Deny {
		t.Errorf("a long path with a deny rule: %s, want deny", a)
	}
	if _, err := Try(Probe{Rules: []Rule{{Action: "deny", Path: "*a*"}}, Method: "GET", Path: long}); err == nil {
		t.Error("the test box took a path longer than MaxPathLen")
	}
}

// ipSource is a client IP as the gate's source gives it, counting how
// often it is read.
type ipSource struct {
	ip    string
	reads int
}

func (s *ipSource) ClientIP() string { s.reads++; return s.ip }

// TestClientIPReadLazily: the client IP is read and parsed only when a
// rule with CIDRs is reached, and once per request however many such
// rules there are; IPv6 and IPv4-mapped clients match as they would
// with Request.IP.
func TestClientIPReadLazily(t *testing.T) {
	p := mustCompile(t, Login,
		Rule{Action: "allow", Path: "/health"},
		Rule{Action: "deny", Path: "/admin/*", CIDRs: []string{"0.0.0.0/0", "::/0"}},
		Rule{Action: "deny", CIDRs: []string{"198.51.100.0/24"}},
		Rule{Action: "allow", CIDRs: []string{"10.0.0.0/8", "2001:db8:1::/48"}},
	)
	for _, tc := range []struct {
		name, path, ip string
		want           Action
		rule, reads    int
	}{
		{"a path rule decides first: the IP is never read", "/health", "10.1.2.3", Allow, 0, 0},
		{"a CIDR rule's path does not match: not read", "/health", "", Allow, 0, 0},
		{"read once for two CIDR rules", "/x", "10.1.2.3", Allow, 3, 1},
		{"a path and CIDR rule", "/admin/x", "203.0.113.9", Deny, 1, 1},
		{"outside every range", "/x", "203.0.113.9", Login, -1, 1},
		{"IPv6 in a range", "/x", "2001:db8:1::7", Allow, 3, 1},
		{"IPv6 outside", "/x", "2001:db8:2::7", Login, -1, 1},
		{"IPv4-mapped IPv6 client", "/x", "::ffff:10.1.2.3", Allow, 3, 1},
		{"no client IP matches no range", "/x", "", Login, -1, 1},
		{"an unparsable client IP matches no range", "/x", "10.1.2.3:80", Login, -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &ipSource{ip: tc.ip}
			a, i := p.Decide(&Request{Method: "GET", Path: tc.path, IPSource: src})
			if a != tc.want || i != tc.rule || src.reads != tc.reads {
				t.Errorf("Decide(%s from %q) = %s, rule %d, %d reads; want %s, rule %d, %d reads", tc.path, tc.ip, a, i, src.reads, tc.want, tc.rule, tc.reads)
			}
		})
	}
	// a policy without CIDRs never reads it
	src := &ipSource{ip: "10.1.2.3"}
	if mustCompile(t, Login, Rule{Action: "deny", Path: "*.php"}).Decide(&Request{Method: "GET", Path: "/x", IPSource: src}); src.reads != 0 {
		t.Errorf("a policy without CIDRs read the client IP %d times", src.reads)
	}
	// Request.IP, when set, is the client IP
	src = &ipSource{ip: "203.0.113.9"}
	if a, _ := p.Decide(&Request{Method: "GET", Path: "/x", IP: netip.MustParseAddr("10.9.9.9"), IPSource: src}); a != Allow || src.reads != 0 {
		t.Errorf("with IP set: %s, %d reads; want allow, 0 reads", a, src.reads)
	}
}

// TestClientIPNotInherited: one policy evaluates requests of different
// clients one after the other, as a gate does for the requests a proxy
// Caddy trusts sends on one keep-alive connection. A client IP kept
// from one request to the next (per connection, per policy) would let
// the second client inherit the first one's allow; each request must be
// judged on its own client IP, also when a path rule is evaluated before
// the CIDR rule.
func TestClientIPNotInherited(t *testing.T) {
	p := mustCompile(t, Login,
		Rule{Action: "deny", Path: "/admin/*"},
		Rule{Action: "allow", CIDRs: []string{"10.0.0.0/8", "2001:db8:1::/48"}},
	)
	for i, tc := range []struct {
		ip   string
		want Action
	}{
		{"10.1.2.3", Allow}, {"203.0.113.9", Login}, {"2001:db8:1::7", Allow},
		{"2001:db8:2::7", Login}, {"10.1.2.3", Allow}, {"", Login},
	} {
		if a, _ := p.Decide(&Request{Method: "GET", Path: "/x", IPSource: &ipSource{ip: tc.ip}}); a != tc.want {
			t.Errorf("request %d from %q: %s, want %s", i+1, tc.ip, a, tc.want)
		}
	}
}

// TestDecideIPSourceAllocs: reading the client IP from a source
// allocates nothing either.
func TestDecideIPSourceAllocs(t *testing.T) {
	p := benchPolicy(t)
	for _, ip := range []string{"10.1.2.3", "2001:db8::1", "203.0.113.7"} {
		req := &Request{Method: "GET", Path: "/api/v1/items", IPSource: &ipSource{ip: ip}}
		if n := testing.AllocsPerRun(200, func() { p.Decide(req) }); n != 0 {
			t.Errorf("Decide from %s allocates %.1f times, want 0", ip, n)
		}
	}
}
