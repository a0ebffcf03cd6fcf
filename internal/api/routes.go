package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/dnsprov"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
	"github.com/proxyos/caddy-proxyos/internal/transfer"
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

// streamCaller is the caller of a stream change: admins may open any
// listen port, operators those of stream_ports.
func streamCaller(r *http.Request) stream.Caller {
	c := caller(r)
	return stream.Caller{Actor: c.Actor, AnyPort: c.Role.AtLeast(authz.Admin)}
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) error {
	xs, err := s.Streams.Streams(r.Context())
	if err != nil {
		return err
	}
	out := make([]stream.Status, 0, len(xs))
	for _, x := range xs {
		out = append(out, s.Streams.WithStatus(x))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"streams": out})
	return nil
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) error {
	x, err := s.Streams.Stream(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Streams.WithStatus(x))
	return nil
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) error {
	var in stream.Stream
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	x, err := s.Streams.Create(r.Context(), &in, streamCaller(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, s.Streams.WithStatus(x))
	return nil
}

func (s *Server) updateStream(w http.ResponseWriter, r *http.Request) error {
	var in stream.Stream
	if err := Decode(w, r, &in); err != nil {
		return err
	}
	x, err := s.Streams.Update(r.Context(), r.PathValue("id"), &in, streamCaller(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Streams.WithStatus(x))
	return nil
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if r.ContentLength != 0 {
		if err := Decode(w, r, &body); err != nil {
			return err
		}
	}
	if err := s.Streams.Delete(r.Context(), r.PathValue("id"), body.Version, streamCaller(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) streamVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.Streams.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) rollbackStream(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	x, err := s.Streams.Rollback(r.Context(), r.PathValue("id"), body.Version, streamCaller(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s.Streams.WithStatus(x))
	return nil
}

// routeTraffic answers a route's traffic over the last hour: this
// node's in 10-second points, every node's and their sum per minute.
//
//	GET /api/routes/{id}/traffic
func (s *Server) routeTraffic(w http.ResponseWriter, r *http.Request) error {
	series, err := RouteTraffic(r.Context(), s.Routes, s.Traffic, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, series)
	return nil
}

// RouteTraffic returns route id's traffic over the last hour, for the
// dashboard and the admin API.
func RouteTraffic(ctx context.Context, routes *router.Service, sampler *traffic.Sampler, id string) (traffic.Series, error) {
	rt, err := routes.Route(ctx, id)
	if err != nil {
		return traffic.Series{}, err
	}
	return sampler.Series(ctx, rt.ID)
}

// RequestLog is a route's request log as this node keeps it: each node
// logs the requests it served, in memory.
type RequestLog struct {
	Enabled bool `json:"enabled"` // the route has request_log
	Size    int  `json:"size"`    // the most kept
	// Node is this node's name; Cluster says other nodes keep logs of
	// their own (cluster mode).
	Node     string            `json:"node"`
	Cluster  bool              `json:"cluster"`
	Requests []traffic.Request `json:"requests"` // newest first
}

// RouteRequests returns route id's request log on this node, for the
// dashboard and the admin API: empty unless the route has request_log.
// cluster says the node is one of several on a database.
func RouteRequests(ctx context.Context, routes *router.Service, sampler *traffic.Sampler, logs *traffic.Logs, cluster bool, id string) (*RequestLog, error) {
	rt, err := routes.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	_, node := sampler.Node()
	out := &RequestLog{Enabled: rt.RequestLog, Size: traffic.LogSize(rt.RequestLogSize), Node: node, Cluster: cluster,
		Requests: []traffic.Request{}}
	if rt.RequestLog {
		out.Requests = logs.List(rt.ID)
	}
	return out, nil
}

// routeRequests answers a route's request log on this node, newest
// first; empty unless the route has request_log. Client IPs, paths and
// users are personal data: operators and admins only.
//
//	GET /api/routes/{id}/requests
func (s *Server) routeRequests(w http.ResponseWriter, r *http.Request) error {
	log, err := RouteRequests(r.Context(), s.Routes, s.Traffic, s.Requests, s.Store.Driver() == "postgres", r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, log)
	return nil
}

// maxImportBytes bounds an import's body: an export of many routes, or
// a Nginx Proxy Manager database with its audit log, in base64.
const maxImportBytes = 64 << 20

// exportRoutes answers the export document: ?history=1 adds each route's
// versions, ?users=1 the users and API keys (admins in the dashboard
// only: keys export routes alone).
func (s *Server) exportRoutes(w http.ResponseWriter, r *http.Request) error {
	c := caller(r)
	users := r.URL.Query().Get("users") == "1"
	if users && (!c.Role.AtLeast(authz.Admin) || c.ViaKey()) {
		return fail.Forbidden("users", "only an admin, logged in to the dashboard, exports users and keys")
	}
	d, err := Export(r.Context(), s.Routes, s.Accounts, c, r.URL.Query().Get("history") == "1", users)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="proxyos-export.json"`)
	WriteJSON(w, http.StatusOK, d)
	return nil
}

// importRoutes applies (or with ?dry_run=1 plans) an import: ?from=json
// (the default; the body is an export document), npm (the body is
// {"database": "<base64 of database.sqlite>"}) or caddyfile ({"caddyfile":
// "…"}); ?remove=1 deletes the routes the import does not have.
func (s *Server) importRoutes(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBytes))
	if err != nil {
		return fail.Field("body", "at most %d MiB", maxImportBytes>>20)
	}
	res, err := Import(r.Context(), s.Routes, q.Get("from"), body, router.ImportOptions{
		DryRun: q.Get("dry_run") == "1", Remove: q.Get("remove") == "1"}, caller(r).Actor)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, res)
	return nil
}

// ImportResult is the answer to an import: the plan and what the
// importer left out.
type ImportResult struct {
	From  string          `json:"from"`
	Plan  *router.Plan    `json:"plan"`
	Notes []transfer.Note `json:"notes"`
}

// Import reads an import body of format from and hands its routes to
// the route service, for the dashboard's and Caddy's admin API.
func Import(ctx context.Context, routes *router.Service, from string, body []byte, opts router.ImportOptions, actor audit.Actor) (*ImportResult, error) {
	if from == "" {
		from = "json"
	}
	in, notes, err := readImport(ctx, from, body)
	if err != nil {
		return nil, err
	}
	opts.Source = from
	plan, err := routes.Import(ctx, in, opts, actor)
	if err != nil {
		return nil, err
	}
	return &ImportResult{From: from, Plan: plan, Notes: notes}, nil
}

// readImport turns an import body into the routes to import.
func readImport(ctx context.Context, from string, body []byte) ([]router.RouteInput, []transfer.Note, error) {
	var (
		im  *transfer.Import
		err error
	)
	switch from {
	case "json":
		d, err := transfer.Parse(body)
		if err != nil {
			return nil, nil, fail.Field("body", "%v", err)
		}
		in := make([]router.RouteInput, len(d.Routes))
		for i, raw := range d.Routes {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in[i]); err != nil {
				return nil, nil, fail.Field(fmt.Sprintf("routes[%d]", i), "not a route: %v", err)
			}
		}
		notes := d.Notes()
		if notes == nil {
			notes = []transfer.Note{}
		}
		return in, notes, nil
	case "npm":
		var b struct {
			Database []byte `json:"database"` // base64 in JSON
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Database) == 0 {
			return nil, nil, fail.Field("database", "required: the base64 of Nginx Proxy Manager's database.sqlite")
		}
		im, err = npmImport(ctx, b.Database)
	case "caddyfile":
		var b struct {
			Caddyfile string `json:"caddyfile"`
		}
		if err := json.Unmarshal(body, &b); err != nil || strings.TrimSpace(b.Caddyfile) == "" {
			return nil, nil, fail.Field("caddyfile", "required: the Caddyfile's text")
		}
		im, err = transfer.FromCaddyfile([]byte(b.Caddyfile))
		if err != nil {
			err = fail.Field("caddyfile", "%v", err)
		}
	default:
		return nil, nil, fail.Field("from", "%q is not a format (json, npm or caddyfile)", from)
	}
	if err != nil {
		return nil, nil, err
	}
	in := make([]router.RouteInput, len(im.Routes))
	for i, rt := range im.Routes {
		in[i] = router.InputOf(rt)
	}
	return in, im.Notes, nil
}

// npmImport reads a Nginx Proxy Manager database given as bytes, from a
// temporary file.
func npmImport(ctx context.Context, db []byte) (*transfer.Import, error) {
	f, err := os.CreateTemp("", "proxyos-npm-*.sqlite")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(db)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	im, err := transfer.FromNPM(ctx, f.Name())
	if err != nil {
		return nil, fail.Field("database", "%v", err)
	}
	return im, nil
}

// Export makes the export document: every route as the API shows it
// (request header values null), with history its versions, with users
// the users and their API keys as the users and keys pages show them (no
// password hash, two-factor secret, passkey or key digest).
func Export(ctx context.Context, routes *router.Service, accounts *account.Service, c account.Caller, history, users bool) (*transfer.Document, error) {
	rs, err := routes.Routes(ctx)
	if err != nil {
		return nil, err
	}
	d := &transfer.Document{Format: transfer.Format, Version: transfer.Version, ExportedAt: routes.Now().UTC(),
		Routes: make([]json.RawMessage, 0, len(rs))}
	for _, rt := range rs {
		b, err := json.Marshal(router.ViewOf(rt))
		if err != nil {
			return nil, err
		}
		d.Routes = append(d.Routes, b)
		if history {
			vs, err := routes.History(ctx, rt.ID)
			if err != nil {
				return nil, err
			}
			if d.History == nil {
				d.History = map[string]json.RawMessage{}
			}
			if d.History[rt.ID], err = json.Marshal(vs); err != nil {
				return nil, err
			}
		}
	}
	if users {
		us, err := accounts.Users(ctx)
		if err != nil {
			return nil, err
		}
		keys := []account.Key{}
		for _, u := range us {
			ks, _, err := accounts.APIKeys(ctx, c, u.ID)
			if err != nil {
				return nil, err
			}
			keys = append(keys, ks...)
		}
		if d.Users, err = json.Marshal(us); err != nil {
			return nil, err
		}
		if d.APIKeys, err = json.Marshal(keys); err != nil {
			return nil, err
		}
	}
	return d, nil
}
