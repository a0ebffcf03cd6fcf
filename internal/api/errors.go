package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Body is the JSON shape of every error the API answers.
type Body struct {
	Error  string         `json:"error"`
	Field  string         `json:"field,omitempty"`
	Reason session.Reason `json:"reason,omitempty"`
}

// StatusOf maps an error of a service to the status and body that every
// surface (this API, Caddy's admin API) answers it with: 400 for a
// field, 401 with the reason, 403, 404, 409, 429 with how long to wait,
// 502 for another service's refusal (a CA's), 503 for a service that is
// down. ok is false for an unexpected error,
// which deserves a log line and a 500 without details.
func StatusOf(err error) (status int, body Body, retryAfter time.Duration, ok bool) {
	var (
		fe *fail.FieldError
		ue *fail.UnauthenticatedError
		fo *fail.ForbiddenError
		nf *fail.NotFoundError
		co *fail.ConflictError
		rl *fail.RateLimitedError
		un *fail.UnavailableError
		up *fail.UpstreamError
	)
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, Body{Error: fe.Error(), Field: fe.Field}, 0, true
	case errors.As(err, &ue):
		return http.StatusUnauthorized, Body{Error: ue.Error(), Reason: session.Reason(ue.Reason)}, 0, true
	case errors.As(err, &fo):
		return http.StatusForbidden, Body{Error: fo.Error(), Field: fo.Field}, 0, true
	case errors.As(err, &nf):
		return http.StatusNotFound, Body{Error: nf.Error(), Field: nf.Field}, 0, true
	case errors.As(err, &co):
		return http.StatusConflict, Body{Error: co.Error(), Field: co.Field}, 0, true
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, Body{Error: rl.Error()}, rl.RetryAfter, true
	case errors.As(err, &un):
		return http.StatusServiceUnavailable, Body{Error: un.Error()}, 0, true
	case errors.As(err, &up):
		return http.StatusBadGateway, Body{Error: up.Error()}, 0, true
	case store.IsUnavailable(err):
		// Nothing was written (every write is one transaction); the
		// cluster feed logs the outage once.
		return http.StatusServiceUnavailable, Body{Error: store.ErrUnavailable.Error()}, retryUnavailable, true
	}
	return http.StatusInternalServerError, Body{Error: "internal error"}, 0, false
}

// retryUnavailable is the Retry-After of answers while the database is
// unreachable.
const retryUnavailable = 5 * time.Second

// Error answers err (see StatusOf). An unexpected error is logged and
// returned as a 500 handler error, for the site's error handling.
func (s *Server) Error(w http.ResponseWriter, err error) error {
	status, body, retry, ok := StatusOf(err)
	if !ok {
		s.Logger.Error("dashboard api", zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if retry > 0 {
		w.Header().Set("Retry-After", RetryAfterSeconds(retry))
	}
	WriteJSON(w, status, body)
	return nil
}

// RetryAfterSeconds formats a Retry-After value, rounding up.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// maxBodyBytes bounds JSON request bodies.
const maxBodyBytes = 1 << 20

// Decode reads a JSON body of at most 1 MiB into v, refusing unknown
// fields (so typos are reported instead of ignored) and anything after
// the value. Errors are *fail.FieldError on "body". Both the dashboard's
// API and Caddy's admin API decode with it.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail.Field("body", "not valid JSON: %s", err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail.Field("body", "unexpected data after the JSON value")
	}
	return nil
}

// WriteJSON answers v as JSON with the given status, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
}

// WriteUnauthenticated answers 401 with the reason.
func WriteUnauthenticated(w http.ResponseWriter, reason session.Reason) {
	WriteJSON(w, http.StatusUnauthorized, Body{Error: "unauthenticated", Reason: reason})
}
