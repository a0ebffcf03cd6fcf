package api

import (
	"net/http"
)

// cluster answers the nodes on the app's database as this node sees
// them (admins only; automation uses the admin API's GET
// /proxyos/cluster):
//
//	GET /api/cluster
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Cluster(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}
