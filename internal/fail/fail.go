// Package fail holds the errors by which proxyos's services say why they
// refused something. Each has one meaning that every surface (the
// dashboard's API, Caddy's admin API, the CLI) answers the same way: the
// api package maps them to a status and a JSON body in one place. Any
// other error is unexpected: logged, and answered 500 without details.
package fail

import (
	"fmt"
	"time"
)

// FieldError is bad input in one field (400).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Field returns a *FieldError.
func Field(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundError is an entity that does not exist, or that the caller may
// not know exists (404). Field names the input field that named it, if
// any; Err, if set, is the error it stands for.
type NotFoundError struct {
	Field   string
	Message string
	Err     error
}

func (e *NotFoundError) Error() string { return e.Message }

func (e *NotFoundError) Unwrap() error { return e.Err }

// NotFound returns a *NotFoundError.
func NotFound(message string) error { return &NotFoundError{Message: message} }

// ConflictError is a change that conflicts with the current state (409):
// a taken email or host, a stale version, the last admin. Field names the
// input field concerned, if any.
type ConflictError struct {
	Field   string
	Message string
	Err     error // the error it stands for, if any
}

func (e *ConflictError) Error() string { return e.Message }

func (e *ConflictError) Unwrap() error { return e.Err }

// Conflict returns a *ConflictError.
func Conflict(field, message string) error { return &ConflictError{Field: field, Message: message} }

// ForbiddenError is an action the caller may not take (403). Field names
// the input field concerned, if any.
type ForbiddenError struct {
	Field   string
	Message string
}

func (e *ForbiddenError) Error() string { return e.Message }

// Forbidden returns a *ForbiddenError.
func Forbidden(field, message string) error { return &ForbiddenError{Field: field, Message: message} }

// RateLimitedError says a limit is reached and for how long (429 with
// Retry-After).
type RateLimitedError struct {
	RetryAfter time.Duration
	// What was too many; default "failed attempts".
	What string
}

func (e *RateLimitedError) Error() string {
	what := e.What
	if what == "" {
		what = "failed attempts"
	}
	return fmt.Sprintf("too many %s; retry in %s", what, e.RetryAfter.Round(time.Second))
}

// UnauthenticatedError says who the caller is could not be established
// (401), and why: a session or key reason such as "expired" or
// "totp_required". Message, when set, is shown instead of
// "unauthenticated".
type UnauthenticatedError struct {
	Reason  string
	Message string
}

func (e *UnauthenticatedError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return "unauthenticated"
}

// Unauthenticated returns an *UnauthenticatedError with the reason.
func Unauthenticated(reason string) error { return &UnauthenticatedError{Reason: reason} }

// UnavailableError says a service the request needs is down (503), such
// as the database; the message is for users, never a driver's text.
type UnavailableError struct{ Message string }

func (e *UnavailableError) Error() string { return e.Message }

// UpstreamError says another service refused what the request asked of
// it (502), such as a CA refusing a certificate; the message is that
// service's answer, verbatim.
type UpstreamError struct{ Message string }

func (e *UpstreamError) Error() string { return e.Message }
