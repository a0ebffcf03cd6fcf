package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// retryAfter is how long a failed discovery is answered from memory
// before the provider is asked again, so a provider that is down is not
// asked at every click.
const retryAfter = 5 * time.Second

// rediscoverAfter is how long a discovery serves the logins that start
// after it. Past it, the next login discovers the provider again, so a
// provider that went down is reported before the browser is sent to it;
// within it, a burst of logins costs the provider one request.
const rediscoverAfter = 30 * time.Second

// remote is a provider as discovered: its endpoints and keys. A login
// that starts more than rediscoverAfter after the last discovery
// discovers it again (so a provider that went down is reported as such,
// before the browser is sent to it), and the callback uses what the last
// discovery found. A failure is answered from memory for retryAfter, so
// a provider that is down is not asked at every click. The ID token
// verifier, with the keys it fetched, is kept across discoveries while
// the provider's key set URL stays the same.
type remote struct {
	Provider
	callback string // the redirect URI
	client   *http.Client
	now      func() time.Time

	mu           sync.Mutex
	oauth        *oauth2.Config
	verifier     *gooidc.IDTokenVerifier
	jwksURL      string
	discoveredAt time.Time
	failedAt     time.Time
	failure      error
}

// discover returns the provider's OAuth configuration and ID token
// verifier: fetched now when never fetched, or when fresh and the last
// discovery is older than rediscoverAfter; else as last fetched.
func (r *remote) discover(ctx context.Context, fresh bool) (*oauth2.Config, *gooidc.IDTokenVerifier, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.oauth != nil && (!fresh || now.Sub(r.discoveredAt) < rediscoverAfter) {
		return r.oauth, r.verifier, nil
	}
	if r.failure != nil && now.Sub(r.failedAt) < retryAfter {
		return nil, nil, r.failure
	}
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, r.client), r.Issuer)
	if err != nil {
		r.failure, r.failedAt = err, now
		return nil, nil, err
	}
	r.failure, r.discoveredAt = nil, now
	r.oauth = &oauth2.Config{
		ClientID: r.ClientID, ClientSecret: r.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: r.callback, Scopes: r.Scopes,
	}
	// The key set fetches the provider's keys when a token is signed with
	// a key it does not know: rotation needs nothing here, and keeping it
	// keeps the keys it fetched.
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || r.verifier == nil || meta.JWKS != r.jwksURL {
		r.verifier = p.Verifier(&gooidc.Config{ClientID: r.ClientID, Now: r.now})
		r.jwksURL = meta.JWKS
	}
	return r.oauth, r.verifier, nil
}

// authURL returns where to send the browser to log in, for the state,
// nonce and PKCE verifier of one login.
func (r *remote) authURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	oc, _, err := r.discover(ctx, true)
	if err != nil {
		return "", &Error{Provider: r.Name, Code: CodeUnreachable, err: err}
	}
	return oc.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Claims is what proxyos reads of a verified ID token.
type Claims struct {
	Subject       string
	Email         string
	EmailVerified *bool // nil when the token does not say
	Groups        []string
}

// exchange redeems code with the PKCE verifier, verifies the ID token
// (signature with the provider's keys, issuer, audience = our client id,
// expiry) and its nonce, and returns its claims.
func (r *remote) exchange(ctx context.Context, code, verifier, nonce string) (Claims, error) {
	oc, v, err := r.discover(ctx, false)
	if err != nil {
		return Claims{}, &Error{Provider: r.Name, Code: CodeUnreachable, err: err}
	}
	tok, err := oc.Exchange(gooidc.ClientContext(ctx, r.client), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		// An invalid, spent or replayed code, or a wrong client secret.
		// The provider's words may echo what it was sent.
		desc := re.ErrorDescription
		if r.ClientSecret != "" {
			desc = strings.ReplaceAll(desc, r.ClientSecret, "[redacted]")
		}
		return Claims{}, &Error{Provider: r.Name, Code: CodeRefused, err: fmt.Errorf("token endpoint: %s: %s", re.ErrorCode, desc)}
	case err != nil:
		return Claims{}, &Error{Provider: r.Name, Code: CodeUnreachable, err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: errors.New("no id_token in the token response")}
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 || nonce == "" {
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: errors.New("the ID token's nonce is not this login's")}
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: err}
	}
	if azp, _ := all["azp"].(string); len(idt.Audience) > 1 && azp != r.ClientID {
		// A token for several clients must name us as the one it was
		// issued to (OpenID Connect Core 3.1.3.7).
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: errors.New("the ID token was issued to another client (azp)")}
	}
	c := Claims{Subject: idt.Subject, Groups: stringsOf(all[r.ClaimGroups])}
	c.Email, _ = all[r.ClaimEmail].(string)
	switch ev := all["email_verified"].(type) {
	case bool:
		c.EmailVerified = &ev
	case string: // some providers send "true"/"false"
		b := strings.EqualFold(ev, "true")
		c.EmailVerified = &b
	}
	if c.Subject == "" {
		return Claims{}, &Error{Provider: r.Name, Code: CodeToken, err: errors.New("the ID token has no subject")}
	}
	return c, nil
}

// stringsOf reads a claim holding a list of strings, or one string.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
