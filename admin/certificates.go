package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

// handleCertificates lists (GET) the names served over HTTPS and the
// custom certificates, as GET /api/certificates does, or uploads (POST)
// a custom certificate.
func (a *API) handleCertificates(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		list, err := api.ListCertificates(r.Context(), px, px.Routes())
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, list)
	case http.MethodPost:
		var in router.CertificateInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		v, err := px.Routes().UploadCertificate(r.Context(), in, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusCreated, v)
	}
	return methodNotAllowed(r)
}

// handleCertificate serves /proxyos/certificates/{id} (PUT replaces,
// DELETE deletes) and /proxyos/certificates/renew (POST {"name"}).
func (a *API) handleCertificate(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/proxyos/certificates/")
	actor := audit.AdminAPIActor(r.RemoteAddr)
	switch {
	case id == "" || strings.Contains(id, "/"):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no such certificate")}
	case id == "renew" && r.Method == http.MethodPost:
		var in struct {
			Name string `json:"name"`
		}
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		if err := px.RenewCertificate(r.Context(), in.Name, actor); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case r.Method == http.MethodPut:
		var in router.CertificateInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		v, err := px.Routes().ReplaceCertificate(r.Context(), id, in, actor)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, v)
	case r.Method == http.MethodDelete:
		if err := px.Routes().DeleteCertificate(r.Context(), id, actor); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}
