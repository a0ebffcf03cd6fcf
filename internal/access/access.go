// Package access decides, before the login, what a gate does with a
// request: let it through, refuse it, or ask for a login. A route's
// ordered rules match the request's path, method and client IP; the
// first that matches decides, and a request no rule matches gets the
// policy's default. The package also holds route tokens: their format,
// their argon2id hashes, the cache of verified tokens and the limit of
// failed attempts. It is plain Go: the gate (proxyos_auth) and the route
// compiler feed it what Caddy computed.
package access

import (
	"fmt"
	"net/netip"
	"strings"
)

// Action is what a rule, or a policy's default, does with a request.
type Action uint8

// Actions.
const (
	Login Action = iota // ask for a session or a route token
	Allow               // let the request through without a login
	Deny                // refuse it with 403
)

// String returns the action's name as rules spell it.
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "login"
}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "deny":
		return Deny, true
	case "login":
		return Login, true
	}
	return Login, false
}

// Rule is one access rule as routes and the proxyos_auth handler take
// it in JSON. A rule matches a request when each of its conditions
// does; a condition left out matches everything.
type Rule struct {
	// Action is allow (no login), deny (403) or login.
	Action string `json:"action"`
	// Path is the request path the rule matches: exact ("/health"), or
	// with * matching any run of characters, "/" included ("/api/*",
	// "*.php"). "/api/*" matches "/api" too. The path is matched as
	// the client sent it, before strip_prefix, decoded and cleaned
	// ("//", "." and ".." resolved, ";" parameters and backslashes
	// treated as upstreams that honour them would); deny and login
	// rules match any case, allow rules only the exact case, and allow
	// rules never match a path that needed cleaning.
	Path string `json:"path,omitempty"`
	// Methods are request methods in upper case (GET, POST, …), matched
	// in any case (servers and frameworks upper-case a client's "post");
	// GET also matches HEAD, which answers what a GET would without the
	// body.
	Methods []string `json:"methods,omitempty"`
	// CIDRs are client IP ranges or single addresses, matched against
	// the client IP as Caddy computes it (trusted_proxies honoured, a
	// client's own X-Forwarded-For ignored).
	CIDRs []string `json:"cidrs,omitempty"`
}

// Limits on rules, so a policy stays cheap to evaluate.
const (
	MaxRules      = 100
	maxPatternLen = 256
	maxStars      = 4
	// MaxPathLen bounds the paths rules look at: a longer one matches
	// every deny and login rule with a path and no allow rule with one
	// (fail closed), so matching stays cheap whatever a client sends.
	MaxPathLen = 8 << 10
	maxMethods = 16
	maxCIDRs   = 256
)

// Error names the rule and field that a policy refuses, such as
// "[2].cidrs[0]" (callers put the field of the rule list in front).
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func ruleErr(i int, field, format string, args ...any) error {
	f := fmt.Sprintf("[%d]", i)
	if field != "" {
		f += "." + field
	}
	return &Error{Field: f, Message: fmt.Sprintf(format, args...)}
}

// Policy is a compiled rule list with its default. The zero Policy asks
// every request for a login. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	rules   []rule
	def     Action
	needIP  bool
	needKey bool
}

type rule struct {
	action  Action
	pattern string // "" for any path
	// kind and lit say how pattern is matched: lit is the pattern
	// without its stars for the kinds that need no glob
	kind    patternKind
	lit     string
	methods []string
	cidrs   []netip.Prefix
}

// Compile checks rules and compiles them, with def for requests that no
// rule matches. Errors are *Error.
func Compile(rules []Rule, def Action) (*Policy, error) {
	if len(rules) > MaxRules {
		return nil, &Error{Field: "", Message: fmt.Sprintf("at most %d rules", MaxRules)}
	}
	p := &Policy{def: def, rules: make([]rule, 0, len(rules))}
	for i, r := range rules {
		a, ok := ParseAction(r.Action)
		if !ok {
			return nil, ruleErr(i, "action", "%q is not an action (allow, deny or login)", r.Action)
		}
		c := rule{action: a}
		if r.Path != "" {
			if err := checkPattern(r.Path); err != nil {
				return nil, ruleErr(i, "path", "%q %v", r.Path, err)
			}
			if r.Path != "*" {
				c.pattern = r.Path
				c.kind, c.lit = classify(r.Path)
				p.needKey = true
			}
		}
		if len(r.Methods) > maxMethods {
			return nil, ruleErr(i, "methods", "at most %d methods", maxMethods)
		}
		for j, m := range r.Methods {
			if !validMethod(m) {
				return nil, ruleErr(i, fmt.Sprintf("methods[%d]", j), "%q is not a method in upper case, such as GET", m)
			}
		}
		c.methods = append([]string(nil), r.Methods...)
		if len(r.CIDRs) > maxCIDRs {
			return nil, ruleErr(i, "cidrs", "at most %d ranges", maxCIDRs)
		}
		for j, s := range r.CIDRs {
			pfx, err := ParseCIDR(s)
			if err != nil {
				return nil, ruleErr(i, fmt.Sprintf("cidrs[%d]", j), "%q is not an IP address or CIDR range", s)
			}
			c.cidrs = append(c.cidrs, pfx)
			p.needIP = true
		}
		p.rules = append(p.rules, c)
	}
	return p, nil
}

// Check reports the first error in rules, as Compile would.
func Check(rules []Rule) error {
	_, err := Compile(rules, Login)
	return err
}

// NeedsIP reports whether a rule looks at the client IP, so the caller
// computes it only then.
func (p *Policy) NeedsIP() bool { return p != nil && p.needIP }

// Default returns the action for requests no rule matches.
func (p *Policy) Default() Action {
	if p == nil {
		return Login
	}
	return p.def
}

// Len returns the number of rules.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// Request is what rules look at.
type Request struct {
	Method string
	Path   string     // decoded, as net/http's URL.Path
	IP     netip.Addr // the client IP as Caddy computed it
	// IPSource, when IP is not valid, gives the client IP. Decide asks
	// it once at most, and only when a rule with CIDRs is reached, so a
	// request that an earlier rule decides, or a policy without CIDRs,
	// never reads or parses it.
	IPSource IPSource
}

// An IPSource gives a request's client IP as text, as Caddy computed it
// for that request.
type IPSource interface {
	ClientIP() string
}

// lazyIP is a request's client IP, read and parsed when a rule first
// asks for it. It lives for one evaluation: never longer, since a proxy
// Caddy trusts sends the requests of many clients on one connection.
type lazyIP struct {
	req *Request
	ip  netip.Addr
	set bool
}

func (l *lazyIP) get() netip.Addr {
	if !l.set {
		l.set = true
		ip := l.req.IP
		if !ip.IsValid() && l.req.IPSource != nil {
			ip, _ = netip.ParseAddr(l.req.IPSource.ClientIP())
		}
		l.ip = ip.Unmap()
	}
	return l.ip
}

// Decide returns the action for req and the index of the rule that
// matched, or -1 for the default. It allocates nothing for paths of up
// to 1 KiB.
func (p *Policy) Decide(req *Request) (Action, int) {
	if p == nil || len(p.rules) == 0 {
		return p.Default(), -1
	}
	long := len(req.Path) > MaxPathLen
	if p.needKey && !long {
		if !isClean(req.Path) {
			return p.decideCleaned(req)
		}
		return p.decide(req, req.Path, strings.IndexByte(req.Path, '%') < 0, false)
	}
	return p.decide(req, "", false, long)
}

// decideCleaned is Decide for a path that needs cleaning, which it
// cleans in a buffer of its own (so Decide clears none for the paths
// most requests have).
func (p *Policy) decideCleaned(req *Request) (Action, int) {
	var buf [1024]byte
	return p.decide(req, clean(buf[:0], req.Path), false, false)
}

// decide evaluates the rules in order with the cleaned path key (plain:
// the path needed no cleaning; long: it is longer than MaxPathLen).
func (p *Policy) decide(req *Request, key string, plain, long bool) (Action, int) {
	ip := lazyIP{req: req}
	for i := range p.rules {
		if p.rules[i].matches(req.Method, key, plain, long, &ip) {
			return p.rules[i].action, i
		}
	}
	return p.def, -1
}

// matches reports whether each of the rule's conditions matches: the
// cheap ones first, the client IP (read only here) last.
func (r *rule) matches(method, key string, plain, long bool, ip *lazyIP) bool {
	if len(r.methods) > 0 && !methodIn(r.methods, method) {
		return false
	}
	if r.pattern != "" && !r.matchesPath(key, plain, long) {
		return false
	}
	return len(r.cidrs) == 0 || inRanges(r.cidrs, ip.get())
}

func (r *rule) matchesPath(key string, plain, long bool) bool {
	if long {
		return r.action != Allow
	}
	if r.action == Allow {
		// a rule that opens the route matches only a path that
		// means one thing to every upstream, in the case written
		return plain && r.matchKey(key, false)
	}
	return r.matchKey(key, true)
}

// methodIn reports whether method is one of list (upper case): in any
// case, and HEAD where GET is.
func methodIn(list []string, method string) bool {
	for _, v := range list {
		if v == method || strings.EqualFold(v, method) || v == "GET" && strings.EqualFold(method, "HEAD") {
			return true
		}
	}
	return false
}

func inRanges(ranges []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range ranges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Explain evaluates req like Decide and says, rule by rule, why each
// rule before the deciding one did not match, for the dashboard's
// "test a request" box. It allocates; the hot path uses Decide.
func (p *Policy) Explain(req *Request) (Action, int, []string) {
	r := Request{Method: req.Method, Path: req.Path, IP: req.IP}
	if p.NeedsIP() {
		r.IP = (&lazyIP{req: req}).get()
	}
	a, idx := p.Decide(&r)
	var why []string
	key, plain := cleanPath(nil, req.Path)
	if key != req.Path {
		why = append(why, fmt.Sprintf("the path is matched as %q", key))
	}
	ip := r.IP.Unmap()
	last := idx
	if last < 0 {
		last = p.Len()
	}
	for i := 0; i < last; i++ {
		r := &p.rules[i]
		switch {
		case len(r.methods) > 0 && !methodIn(r.methods, req.Method):
			why = append(why, fmt.Sprintf("rule %d (%s): method %s is not one of %s", i+1, r.action, req.Method, strings.Join(r.methods, ", ")))
		case len(r.cidrs) > 0 && !inRanges(r.cidrs, ip):
			why = append(why, fmt.Sprintf("rule %d (%s): client IP %s is in none of its ranges", i+1, r.action, ip))
		case r.action == Allow && r.pattern != "" && !plain && matchPattern(r.pattern, key, false):
			why = append(why, fmt.Sprintf("rule %d (allow): the path needed cleaning, which allow rules never match", i+1))
		default:
			why = append(why, fmt.Sprintf("rule %d (%s): path %q does not match %q", i+1, r.action, key, r.pattern))
		}
	}
	if idx >= 0 {
		why = append(why, fmt.Sprintf("rule %d (%s) matches: first match wins", idx+1, a))
	} else {
		why = append(why, fmt.Sprintf("no rule matches: the default is %s", a))
	}
	return a, idx, why
}

// ParseCIDR accepts a CIDR range or a single IP address.
func ParseCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
