package access

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Probe is a request to try rules on, as the dashboard's "test a
// request" box sends it.
type Probe struct {
	Rules   []Rule `json:"rules"`
	Default string `json:"default,omitempty"` // login (default), allow or deny
	Method  string `json:"method"`            // default GET
	Path    string `json:"path"`              // as in a URL: percent-encoded, optionally with a query
	IP      string `json:"ip,omitempty"`      // the client IP
}

// Verdict is what the rules do with a probe, and why.
type Verdict struct {
	Action string   `json:"action"`
	Rule   int      `json:"rule"` // the deciding rule, from 1; 0 for the default
	Path   string   `json:"path"` // the path as rules match it
	Why    []string `json:"why"`
}

// Try evaluates p with the evaluator the gate uses. Errors are *Error
// naming the field ("rules[1].cidrs[0]", "path", "ip").
func Try(p Probe) (*Verdict, error) {
	def := Login
	if p.Default != "" {
		var ok bool
		if def, ok = ParseAction(p.Default); !ok {
			return nil, &Error{Field: "default", Message: "not an action (allow, deny or login)"}
		}
	}
	pol, err := Compile(p.Rules, def)
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, &Error{Field: "rules" + e.Field, Message: e.Message}
		}
		return nil, err
	}
	method := strings.TrimSpace(p.Method)
	if method == "" {
		method = "GET"
	}
	if !validMethod(method) {
		return nil, &Error{Field: "method", Message: "not a method in upper case, such as GET"}
	}
	if !strings.HasPrefix(p.Path, "/") {
		return nil, &Error{Field: "path", Message: "must start with /"}
	}
	if len(p.Path) > MaxPathLen {
		return nil, &Error{Field: "path", Message: fmt.Sprintf("is longer than %d bytes", MaxPathLen)}
	}
	u, err := url.ParseRequestURI(p.Path)
	if err != nil {
		return nil, &Error{Field: "path", Message: "not a request path: " + err.Error()}
	}
	req := &Request{Method: method, Path: u.Path}
	if p.IP != "" {
		if req.IP, err = netip.ParseAddr(strings.TrimSpace(p.IP)); err != nil {
			return nil, &Error{Field: "ip", Message: "not an IP address"}
		}
	}
	a, idx, why := pol.Explain(req)
	key, _ := cleanPath(nil, req.Path)
	return &Verdict{Action: a.String(), Rule: idx + 1, Path: strings.Clone(key), Why: why}, nil
}
