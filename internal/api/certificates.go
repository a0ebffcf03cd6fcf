package api

import (
	"context"
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

// Certificates is the TLS side of the certificates page, which the
// proxyos app provides: the names served and their certificates,
// renewals, the internal CA's root. Custom certificates are the route
// service's.
type Certificates interface {
	Certificates(ctx context.Context) ([]certs.Entry, error)
	RenewCertificate(ctx context.Context, name string, actor audit.Actor) error
	RootCertificate() ([]byte, error)
}

// CertificateList is the answer of GET /api/certificates: every name
// served over TLS, and the custom certificates uploaded.
type CertificateList struct {
	Served []certs.Entry            `json:"served"`
	Custom []router.CertificateView `json:"custom"`
}

// ListCertificates returns what GET /api/certificates answers, for the
// dashboard and the admin API.
func ListCertificates(ctx context.Context, c Certificates, routes *router.Service) (CertificateList, error) {
	served, err := c.Certificates(ctx)
	if err != nil {
		return CertificateList{}, err
	}
	custom, err := routes.CustomCertificates(ctx)
	if err != nil {
		return CertificateList{}, err
	}
	if served == nil {
		served = []certs.Entry{}
	}
	return CertificateList{Served: served, Custom: custom}, nil
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) error {
	list, err := ListCertificates(r.Context(), s.Certificates, s.Routes)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) uploadCertificate(w http.ResponseWriter, r *http.Request) error {
	var in router.CertificateInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.Routes.UploadCertificate(r.Context(), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) replaceCertificate(w http.ResponseWriter, r *http.Request) error {
	var in router.CertificateInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.Routes.ReplaceCertificate(r.Context(), r.PathValue("id"), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteCertificate(w http.ResponseWriter, r *http.Request) error {
	if err := s.Routes.DeleteCertificate(r.Context(), r.PathValue("id"), caller(r).Actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) renewCertificate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	if err := s.Certificates.RenewCertificate(r.Context(), in.Name, caller(r).Actor); err != nil {
		return err
	}
	list, err := s.Certificates.Certificates(r.Context())
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.Name == in.Name {
			WriteJSON(w, http.StatusOK, e)
			return nil
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rootCertificate downloads the internal CA's root certificate (public),
// for devices to trust the certificates of routes with tls internal.
func (s *Server) rootCertificate(w http.ResponseWriter, r *http.Request) error {
	root, err := s.Certificates.RootCertificate()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="proxyos-root.crt"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(root) //nolint:errcheck // client gone
	return nil
}
