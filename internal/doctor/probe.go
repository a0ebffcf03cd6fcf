package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/request"
)

// loginMarker is in the dashboard's page and nowhere else: a response
// with it is the login page.
const loginMarker = `<template id="tpl-login">`

// maxRedirects bounds the redirects Probe follows, as browsers do.
const maxRedirects = 10

// Prober requests the dashboard like a browser and reports what a client
// sees: the certificate, the redirects, whether the login page is served,
// and (through GET /api/auth/diagnose) whether the scheme and host the
// server sees are the browser's.
type Prober struct {
	// Roots verify certificates; nil for the system's.
	Roots *x509.CertPool
	// Dial connects; nil for a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock of certificate checks; nil for time.Now.
	Now func() time.Time
}

// diagnosis is what Probe reads of GET /api/auth/diagnose.
type diagnosis struct {
	Scheme         string `json:"scheme"`
	Host           string `json:"host"`
	SecureCookie   bool   `json:"secure_cookie"`
	TrustedProxy   bool   `json:"trusted_proxy"`
	ForwardedProto string `json:"forwarded_proto"`
	RemoteAddr     string `json:"remote_addr"`
}

// Probe requests <target>/login as a browser navigating there would, with
// canonical the app's url (nil when unset), and returns the findings.
func (p *Prober) Probe(ctx context.Context, target, canonical *url.URL) []Finding {
	hc := p.client()
	final, resp, body, fs := p.follow(ctx, hc, target, canonical)
	if resp == nil {
		return fs
	}
	fs = append(fs, p.checkTLS(ctx, target)...)
	if final.Scheme == "https" && !sameOrigin(final, target) {
		fs = append(fs, p.checkTLS(ctx, final)...)
	}
	if !strings.Contains(body, loginMarker) {
		return append(fs, Finding{ID: "login_page", Severity: Problem,
			Saw: fmt.Sprintf("%s answered %d with %d bytes of %q, not the dashboard's login page", final, resp.StatusCode, len(body), resp.Header.Get("Content-Type")),
			Why: "Caddy answers a host that no site matches with an empty page, and another site or a proxy may answer instead of the dashboard: either way nobody can log in there",
			Fix: "serve the dashboard at this address: put its host in the address of the site with proxyos_dashboard, and set url to it"})
	}
	fs = append(fs, ok("login_page", final.String()+" serves the login page"))
	d, err := p.diagnose(ctx, hc, final)
	if err != nil {
		return append(fs, Finding{ID: "login_page", Severity: Warning,
			Saw: "GET /api/auth/diagnose at " + originOf(final) + " failed: " + err.Error(),
			Why: "without it the doctor cannot compare what the server sees with what the browser does",
			Fix: "check that the site serves every path of the dashboard, /api/ included"})
	}
	return append(fs, checkDiagnosis(final, d)...)
}

// client returns an HTTP client that does not follow redirects and does
// not verify certificates (checkTLS does that, so that the other probes
// still run with a certificate the host does not trust).
func (p *Prober) client() *http.Client {
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:     dial,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // see checkTLS
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// follow requests u/login and follows its redirects. It returns the last
// URL and its response with the body, or a nil response when the probe
// ended with a finding.
func (p *Prober) follow(ctx context.Context, hc *http.Client, target, canonical *url.URL) (*url.URL, *http.Response, string, []Finding) {
	u := target.ResolveReference(&url.URL{Path: "/login"})
	var chain []string
	for range maxRedirects + 1 {
		if slices.Contains(chain, u.String()) {
			return nil, nil, "", []Finding{{ID: "url_redirects", Severity: Problem,
				Saw: "the redirects loop: " + strings.Join(append(chain, u.String()), " → "),
				Why: "the browser gives up with too many redirects and never shows the login page",
				Fix: "a proxy in front probably changes the scheme or Host header the dashboard sees, so it keeps sending the browser to url: pass them unchanged (X-Forwarded-Proto from a trusted proxy, the Host header as is)"}}
		}
		chain = append(chain, u.String())
		resp, body, err := get(ctx, hc, u, "text/html")
		if err != nil {
			return nil, nil, "", []Finding{{ID: "url_reachable", Severity: Problem,
				Saw: fmt.Sprintf("GET %s failed: %v", u, err),
				Why: "a browser cannot reach the dashboard there either",
				Fix: "check that Caddy (or the proxy in front) listens at this address and that url names it"}}
		}
		next, err := resp.Location()
		if resp.StatusCode < 300 || resp.StatusCode > 399 || err != nil {
			fs := []Finding{ok("url_reachable", fmt.Sprintf("GET %s answered %d", chain[0], resp.StatusCode))}
			return u, resp, body, append(fs, redirectFinding(target, u, canonical, chain)...)
		}
		u = next
	}
	return nil, nil, "", []Finding{{ID: "url_redirects", Severity: Problem,
		Saw: fmt.Sprintf("more than %d redirects: %s", maxRedirects, strings.Join(chain, " → ")),
		Why: "the browser gives up and never shows the login page",
		Fix: "check the redir directives and the proxies in front of the dashboard"}}
}

// redirectFinding says where the redirects from target led: to the same
// origin, to url (by design), or elsewhere.
func redirectFinding(target, final, canonical *url.URL, chain []string) []Finding {
	switch {
	case sameOrigin(final, target):
		return []Finding{ok("url_redirects", "the login page is served at "+originOf(target))}
	case canonical != nil && sameOrigin(final, canonical):
		return []Finding{ok("url_redirects", fmt.Sprintf("%s sends browsers to url %s, where logins count", originOf(target), originOf(canonical)))}
	}
	return []Finding{{ID: "url_redirects", Severity: Problem,
		Saw: "the login page redirects away from the dashboard: " + strings.Join(chain, " → "),
		Why: "the session cookie is set for the host the browser ends on, not for the dashboard",
		Fix: "remove the redirect in front of the dashboard, or set url to the address the browser ends on"}}
}

// checkDiagnosis compares what the server saw of the probe (d) with the
// browser's address u.
func checkDiagnosis(u *url.URL, d diagnosis) []Finding {
	var fs []Finding
	if u.Scheme == "http" && d.SecureCookie {
		fs = append(fs, Finding{ID: "cookie_secure", Severity: Problem,
			Saw: fmt.Sprintf("the browser reaches %s over plain HTTP, but the session cookie would be Secure (Caddy sees %s)", originOf(u), d.Scheme),
			Why: "browsers drop a Secure cookie set over HTTP: every login ends on the login page again",
			Fix: "a trusted proxy says X-Forwarded-Proto: https for a plain HTTP connection: make it send the browser's real scheme, or serve the dashboard over HTTPS"})
	} else {
		fs = append(fs, ok("cookie_secure", fmt.Sprintf("the session cookie is Secure exactly when the browser uses HTTPS (here %s)", u.Scheme)))
	}
	forwarded := strings.ToLower(request.FirstListItem(d.ForwardedProto))
	switch {
	case d.Scheme == u.Scheme:
		fs = append(fs, ok("scheme_mismatch", "Caddy sees the browser's scheme, "+u.Scheme))
	case forwarded == u.Scheme && !d.TrustedProxy:
		fs = append(fs, Finding{ID: "proxy_untrusted", Severity: Problem,
			Saw: fmt.Sprintf("the proxy at %s says X-Forwarded-Proto: %s, but Caddy does not trust it and sees %s", hostOf(d.RemoteAddr), forwarded, d.Scheme),
			Why: "the login's same-origin check compares the browser's Origin with the scheme Caddy sees, so logging in fails with 403, and the cookie's Secure flag is wrong",
			Fix: fmt.Sprintf("trust the proxy in Caddy's global options: servers { trusted_proxies static %s }", hostOf(d.RemoteAddr))})
	default:
		fs = append(fs, Finding{ID: "scheme_mismatch", Severity: Problem,
			Saw: fmt.Sprintf("the browser uses %s, but Caddy sees %s (X-Forwarded-Proto: %q)", u.Scheme, d.Scheme, d.ForwardedProto),
			Why: "the login's same-origin check compares the browser's Origin with the scheme Caddy sees, so logging in fails with 403, and the cookie's Secure flag is wrong",
			Fix: "make the proxy in front send X-Forwarded-Proto with the browser's scheme and trust it with trusted_proxies, or let Caddy terminate TLS"})
	}
	if !sameHost(u, d.Host) {
		fs = append(fs, Finding{ID: "host_mismatch", Severity: Problem,
			Saw: fmt.Sprintf("the browser asks for %s, but Caddy sees the Host %s", u.Host, d.Host),
			Why: "a proxy in front rewrites the Host header: the login's same-origin check fails (403) and the dashboard sends the browser to url again and again",
			Fix: "make the proxy pass the browser's Host header unchanged (nginx: proxy_set_header Host $http_host)"})
	} else {
		fs = append(fs, ok("host_mismatch", "Caddy sees the browser's host, "+u.Host))
	}
	return fs
}

// checkTLS verifies the certificate served at u.
func (p *Prober) checkTLS(ctx context.Context, u *url.URL) []Finding {
	if u.Scheme != "https" {
		return nil
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	addr := net.JoinHostPort(u.Hostname(), fmt.Sprint(urlPort(u)))
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil // the HTTP probe reports it
	}
	conn := tls.Client(raw, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true})
	defer conn.Close()
	conn.SetDeadline(now().Add(10 * time.Second))
	if err := conn.HandshakeContext(ctx); err != nil {
		return []Finding{{ID: "tls_certificate", Severity: Problem,
			Saw: fmt.Sprintf("the TLS handshake with %s failed: %v", addr, err),
			Why: "browsers cannot open the dashboard over HTTPS",
			Fix: "look for cert_failing findings; check that a certificate for " + u.Hostname() + " can be obtained"}}
	}
	certs := conn.ConnectionState().PeerCertificates
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: u.Hostname(), Roots: p.Roots, Intermediates: inter, CurrentTime: now()})
	names := strings.Join(leaf.DNSNames, ", ")
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	switch {
	case err == nil:
		return []Finding{ok("tls_certificate", fmt.Sprintf("%s serves a trusted certificate for %s until %s", u.Host, names, stamp(leaf.NotAfter)))}
	case errors.As(err, &hostErr):
		return []Finding{{ID: "tls_certificate", Severity: Problem,
			Saw: fmt.Sprintf("%s serves a certificate for %s, not for %s", u.Host, names, u.Hostname()),
			Why: "browsers refuse it",
			Fix: "put " + u.Hostname() + " in the address of the site with proxyos_dashboard, so that Caddy gets a certificate for it"}}
	case errors.As(err, &authErr):
		return []Finding{{ID: "tls_certificate", Severity: Warning,
			Saw: fmt.Sprintf("%s serves a certificate for %s from %q, which this machine does not trust", u.Host, names, leaf.Issuer.CommonName),
			Why: "browsers that do not trust the issuer either refuse the dashboard (with Caddy's internal CA, install its root on their machines)",
			Fix: "use a public CA for url's host, or install the issuer's root certificate where the dashboard is used"}}
	}
	return []Finding{{ID: "tls_certificate", Severity: Problem,
		Saw: fmt.Sprintf("%s serves a certificate for %s valid from %s to %s that does not verify: %v", u.Host, names, stamp(leaf.NotBefore), stamp(leaf.NotAfter), err),
		Why: "browsers refuse it",
		Fix: "look for cert_failing and cert_expiry findings"}}
}

// diagnose asks the server what it sees of a request to u.
func (p *Prober) diagnose(ctx context.Context, hc *http.Client, u *url.URL) (diagnosis, error) {
	var d diagnosis
	resp, body, err := get(ctx, hc, u.ResolveReference(&url.URL{Path: "/api/auth/diagnose"}), "application/json")
	if err != nil {
		return d, err
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return d, fmt.Errorf("not the diagnose report: %v", err)
	}
	return d, nil
}

// get requests u and reads up to 1 MiB of the answer.
func get(ctx context.Context, hc *http.Client, u *url.URL, accept string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", accept)
	if accept == "text/html" {
		req.Header.Set("Sec-Fetch-Mode", "navigate")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), err
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Hostname(), b.Hostname()) && urlPort(a) == urlPort(b)
}

// sameHost reports whether host (a Host header) names u's host and port.
func sameHost(u *url.URL, host string) bool {
	h, err := url.Parse(u.Scheme + "://" + host)
	return err == nil && strings.EqualFold(h.Hostname(), u.Hostname()) && urlPort(h) == urlPort(u)
}

func originOf(u *url.URL) string { return u.Scheme + "://" + u.Host }

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
