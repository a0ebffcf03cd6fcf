package oidc

import "fmt"

// Codes of refused logins, which the login page explains.
const (
	CodeUnreachable = "unreachable"      // the provider did not answer (or not as a provider)
	CodeState       = "state"            // no login in flight for this browser: expired, used, or begun elsewhere
	CodeRefused     = "refused"          // the provider refused (the user cancelled, a spent code, a wrong client secret)
	CodeToken       = "token"            // the ID token failed verification (signature, issuer, audience, expiry, nonce)
	CodeNoEmail     = "no_email"         // the ID token has no email claim
	CodeUnverified  = "email_unverified" // the provider says the email is not verified
	CodeDomain      = "domain"           // the email's domain is not allowed
	CodeUnknownUser = "unknown_user"     // no account with this email, and auto_create is off
	CodeDisabled    = "disabled"         // the account is disabled in proxyos
	CodeNoRole      = "no_role"          // no group grants a role, and default_role is none
	CodeBusy        = "busy"             // too many logins in flight from the client's network (or in all)
)

var messages = map[string]string{
	CodeUnreachable: "the provider is unreachable",
	CodeState:       "the login expired or was started in another browser",
	CodeRefused:     "the provider refused the login",
	CodeToken:       "the provider's ID token failed verification",
	CodeNoEmail:     "the provider gave no email address",
	CodeUnverified:  "the provider has not verified the email address",
	CodeDomain:      "the email address's domain is not allowed",
	CodeUnknownUser: "no account has this email address",
	CodeDisabled:    "the account is disabled",
	CodeNoRole:      "no group of the user grants a role",
	CodeBusy:        "too many sign-ins are in progress; try again in a few minutes",
}

// Error is a refused login at a provider. Its message names the provider
// and what went wrong in words; the cause (which may hold the provider's
// or the network's own words) is only logged.
type Error struct {
	Provider string
	Code     string
	err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("sign-in with %s: %s", e.Provider, messages[e.Code])
}

// Cause returns what the provider, the network or the verifier said, for
// the log. It never holds the client secret or a token.
func (e *Error) Cause() error { return e.err }
