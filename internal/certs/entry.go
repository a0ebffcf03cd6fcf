package certs

import "time"

// Issuers of a served certificate.
const (
	IssuerACME     = "acme"     // an ACME CA (Let's Encrypt, …)
	IssuerInternal = "internal" // Caddy's internal CA
	IssuerCustom   = "custom"   // uploaded
)

// How a certificate is managed.
const (
	ManagedOnDemand = "on_demand" // obtained at the first handshake, renewed by handshakes
	ManagedCustom   = "custom"    // uploaded; replaced by hand
	ManagedDNS      = "dns"       // obtained and renewed in the background with the DNS-01 challenge
)

// RenewalRatio is the part of a managed certificate's lifetime left
// when it is renewed (certmagic's default).
const RenewalRatio = 1.0 / 3

// Entry is one name served over TLS, as the certificates page and GET
// /api/certificates show it.
type Entry struct {
	Name          string `json:"name"`
	RouteID       string `json:"route_id"`
	Mode          string `json:"mode"`             // the route's tls
	Managed       string `json:"managed"`          // ManagedOnDemand, ManagedDNS or ManagedCustom
	Issuer        string `json:"issuer,omitempty"` // IssuerACME, IssuerInternal or IssuerCustom; "" before the first certificate
	CertificateID string `json:"certificate_id,omitempty"`
	// Certificate is the certificate served (stored), nil before the
	// first one.
	Certificate *Info `json:"certificate,omitempty"`
	// Pending says the stored certificate is of the route's previous TLS
	// mode: the next handshake obtains one of the current mode.
	Pending     bool       `json:"pending,omitempty"`
	LastAttempt *Attempt   `json:"last_attempt,omitempty"`
	NextRenewal *time.Time `json:"next_renewal,omitempty"`
	// Retry says when a failed attempt is tried again.
	Retry       string `json:"retry,omitempty"`
	ExpiresSoon bool   `json:"expires_soon"`
	Failing     bool   `json:"failing"`
}

// Finish fills in what follows from the rest at now: the next renewal
// of a managed certificate, whether it expires soon, whether its last
// attempt failed and when it is retried.
func (e *Entry) Finish(now time.Time) {
	if c := e.Certificate; c != nil {
		e.ExpiresSoon = ExpiresSoon(c.NotAfter, now)
		if e.Managed != ManagedCustom {
			life := c.NotAfter.Sub(c.NotBefore)
			next := c.NotAfter.Add(-time.Duration(float64(life) * RenewalRatio)).UTC()
			e.NextRenewal = &next
		}
	}
	if a := e.LastAttempt; a != nil && a.Error != "" {
		e.Failing = true
		switch e.Managed {
		case ManagedOnDemand:
			e.Retry = "at the next TLS handshake for " + e.Name
		case ManagedDNS:
			e.Retry = "in the background; saving the route or its DNS credential retries at once"
		}
	}
}
