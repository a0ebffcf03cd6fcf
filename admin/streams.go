package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/stream"
)

// hostStreamCaller is the admin API as the caller of a stream change:
// the host, who may open any listen port.
func hostStreamCaller(r *http.Request) stream.Caller {
	return stream.Caller{Actor: audit.AdminAPIActor(r.RemoteAddr), AnyPort: true}
}

// handleStreams lists (GET) or creates (POST) streams.
func (a *API) handleStreams(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		xs, err := px.Streams().Streams(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"streams": xs})
	case http.MethodPost:
		var in stream.Stream
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		x, err := px.Streams().Create(r.Context(), &in, hostStreamCaller(r))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusCreated, x)
	}
	return methodNotAllowed(r)
}

// handleStream serves /proxyos/streams/{id}[/versions|/rollback].
func (a *API) handleStream(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	id, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/proxyos/streams/"), "/")
	if id == "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("missing stream id")}
	}
	svc := px.Streams()
	switch {
	case sub == "" && r.Method == http.MethodGet:
		x, err := svc.Stream(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, x)
	case sub == "" && r.Method == http.MethodPut:
		var in stream.Stream
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		x, err := svc.Update(r.Context(), id, &in, hostStreamCaller(r))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, x)
	case sub == "" && r.Method == http.MethodDelete:
		if err := svc.Delete(r.Context(), id, 0, hostStreamCaller(r)); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case sub == "versions" && r.Method == http.MethodGet:
		vs, err := svc.History(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	case sub == "rollback" && r.Method == http.MethodPost:
		var body struct {
			Version int `json:"version"`
		}
		if err := api.Decode(w, r, &body); err != nil {
			return apiError(err)
		}
		x, err := svc.Rollback(r.Context(), id, body.Version, hostStreamCaller(r))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, x)
	}
	return methodNotAllowed(r)
}
