package api

import (
	"errors"
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/dnsprov"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) error {
	routes, err := s.Routes.Routes(r.Context())
	if err != nil {
		return err
	}
	out := make([]router.RouteJSON, 0, len(routes))
	for _, rt := range routes {
		out = append(out, s.Routes.WithStatus(rt))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"routes": out})
	return nil
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.Routes.Route(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Routes.WithStatus(rt))
	return nil
}

func (s *Server) createRoute(w http.ResponseWriter, r *http.Request) error {
	var in router.RouteInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	nr, err := in.Resolve(nil)
	if err != nil {
		return err
	}
	rt, err := s.Routes.Create(r.Context(), nr, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, s.Routes.WithStatus(rt))
	return nil
}

func (s *Server) updateRoute(w http.ResponseWriter, r *http.Request) error {
	var in router.RouteInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	prev, err := s.Routes.Route(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	nr, err := in.Resolve(prev)
	if err != nil {
		return err
	}
	rt, err := s.Routes.Update(r.Context(), r.PathValue("id"), nr, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Routes.WithStatus(rt))
	return nil
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if r.ContentLength != 0 {
		if err := Decode(w, r, &body); err != nil {
			return err
		}
	}
	if err := s.Routes.Delete(r.Context(), r.PathValue("id"), body.Version, caller(r).Actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) routeVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.Routes.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) rollbackRoute(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	rt, err := s.Routes.Rollback(r.Context(), r.PathValue("id"), body.Version, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Routes.WithStatus(rt))
	return nil
}

// setMaintenance switches a route's maintenance page on or off, or
// schedules it.
func (s *Server) setMaintenance(w http.ResponseWriter, r *http.Request) error {
	var in router.MaintenanceInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	rt, err := s.Routes.SetMaintenance(r.Context(), r.PathValue("id"), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Routes.WithStatus(rt))
	return nil
}

func (s *Server) listRouteTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Routes.RouteTokens(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (s *Server) createRouteToken(w http.ResponseWriter, r *http.Request) error {
	var in router.TokenInput
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.Routes.CreateToken(r.Context(), r.PathValue("id"), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) revokeRouteToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.Routes.RevokeToken(r.Context(), r.PathValue("id"), r.PathValue("token"), caller(r).Actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testAccess tries access rules on a request with the gate's evaluator,
// for the route form's "test a request" box; it stores nothing.
func (s *Server) testAccess(w http.ResponseWriter, r *http.Request) error {
	var p access.Probe
	if err := Decode(w, r, &p); err != nil {
		return err
	}
	v, err := access.Try(p)
	var ae *access.Error
	if errors.As(err, &ae) {
		return fail.Field(ae.Field, "%s", ae.Message)
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}

// dnsInfo tells the route form what challenge dns can use: the DNS
// provider modules compiled in, the issuer's own provider and the
// stored credentials' names (never their configs).
func (s *Server) dnsInfo(w http.ResponseWriter, r *http.Request) error {
	def := ""
	if s.DNSDefault != nil {
		def = s.DNSDefault()
	}
	info, err := s.DNS.Info(r.Context(), def)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) listDNSCredentials(w http.ResponseWriter, r *http.Request) error {
	creds, err := s.DNS.List(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"credentials": creds})
	return nil
}

func (s *Server) createDNSCredential(w http.ResponseWriter, r *http.Request) error {
	var in dnsprov.Input
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.DNS.Create(r.Context(), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) updateDNSCredential(w http.ResponseWriter, r *http.Request) error {
	var in dnsprov.Input
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.DNS.Update(r.Context(), r.PathValue("name"), in, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteDNSCredential(w http.ResponseWriter, r *http.Request) error {
	if err := s.DNS.Delete(r.Context(), r.PathValue("name"), caller(r).Actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
