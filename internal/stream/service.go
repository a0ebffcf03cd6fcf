package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// The actions of streams in the audit log.
const (
	ActionCreate   audit.Action = "stream.create"
	ActionUpdate   audit.Action = "stream.update"
	ActionRollback audit.Action = "stream.rollback"
	ActionDelete   audit.Action = "stream.delete"
)

// Live is where streams are served: the glue's listeners. Prepare opens
// what a stream needs (its listener, a TLS config) without serving it
// yet, so that a stream that cannot be served is refused before it is
// stored; the returned Prepared is then committed (swapped in) or
// cancelled. Remove stops serving stream id; connections in flight
// finish.
type Live interface {
	Prepare(s *Stream) (Prepared, error)
	Remove(id string)
	// Shared reports whether Caddy's HTTP servers listen on addr; ok
	// when the proxyos_streams listener wrapper routes TLS connections
	// by server name there, so that a stream with hosts may share it.
	Shared(addr Address) (used, ok bool)
	// Serving reports whether stream id is served now.
	Serving(id string) bool
}

// Prepared is a stream ready to be served.
type Prepared interface {
	Commit()
	Cancel()
}

// Ports are the listen ports a caller without the power to open any
// port may use.
type Ports []PortRange

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

// Allows reports whether p is in one of the ranges.
func (ps Ports) Allows(p uint16) bool {
	for _, r := range ps {
		if p >= r.First && p <= r.Last {
			return true
		}
	}
	return false
}

// Service changes streams, validating, storing, serving and auditing
// them; every surface (dashboard API, admin API) goes through it.
type Service struct {
	Store     *store.Store
	Audit     *audit.Log
	Upstreams *upstream.Guard
	Live      Live
	// Ports are the listen ports a caller without AnyPort may use.
	Ports Ports
	// RouteHost, when set, returns the name of an enabled HTTPS route
	// that serves host, or "": a stream on a shared HTTPS port may not
	// take such a host (it would get the route's connections).
	RouteHost func(host string) string
	// Names, shared with the route service, is held from the check of
	// the routes' hosts until the stream is stored and served, so that
	// a route saved meanwhile cannot take a host of the stream (nor the
	// stream one of the route). nil locks nothing.
	Names *ServerNames

	Now    func() time.Time
	Logger *zap.Logger

	mu sync.Mutex // one change at a time: port checks see every stream
}

// Caller is who changes a stream: the actor recorded and whether they
// may listen on a port outside Ports (admins, the admin API).
type Caller struct {
	Actor   audit.Actor
	AnyPort bool
}

// Version is one entry of a stream's history.
type Version struct {
	Version int     `json:"version"`
	Action  string  `json:"action"` // create, update, "rollback to N", delete
	Actor   string  `json:"actor"`
	At      string  `json:"at"`
	Stream  *Stream `json:"stream"`
}

var errNotFound = errors.New("no such stream")

func notFound() error {
	return &fail.NotFoundError{Message: errNotFound.Error(), Err: errNotFound}
}

func stale() error {
	return &fail.ConflictError{Field: "version", Message: store.ErrVersionConflict.Error(), Err: store.ErrVersionConflict}
}

// Status is a stream as the API shows it: with whether this node serves
// it now (an enabled stream whose port was taken when it loaded is not).
type Status struct {
	*Stream
	Live bool `json:"live"`
}

// WithStatus returns x with whether this node serves it.
func (s *Service) WithStatus(x *Stream) Status {
	return Status{Stream: x, Live: x.Enabled && s.Live.Serving(x.ID)}
}

// Streams lists every stream, oldest first.
func (s *Service) Streams(ctx context.Context) ([]*Stream, error) {
	stored, err := s.Store.ListStreams(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Stream, 0, len(stored))
	for _, st := range stored {
		x, err := Decode(st)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.ID, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// Stream returns one stream.
func (s *Service) Stream(ctx context.Context, id string) (*Stream, error) {
	st, err := s.Store.Stream(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	return Decode(st)
}

// Decode returns the stream a stored row holds.
func Decode(st store.StoredStream) (*Stream, error) {
	x := new(Stream)
	if err := json.Unmarshal(st.Spec, x); err != nil {
		return nil, err
	}
	x.ID, x.Version, x.Enabled, x.CreatedAt, x.UpdatedAt = st.ID, st.Version, st.Enabled, st.CreatedAt, st.UpdatedAt
	return x, nil
}

// Create validates, opens, stores and serves a new stream.
func (s *Service) Create(ctx context.Context, x *Stream, c Caller) (*Stream, error) {
	x.ID = uuid.NewString()
	x.Version = 0
	x.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	return s.save(ctx, x, nil, ActionCreate, "create", c)
}

// Update replaces stream id; x.Version must be the version the caller
// read.
func (s *Service) Update(ctx context.Context, id string, x *Stream, c Caller) (*Stream, error) {
	cur, err := s.Stream(ctx, id)
	if err != nil {
		return nil, err
	}
	if x.Version == 0 {
		return nil, fail.Field("version", "required: the version you are changing")
	}
	if x.Version != cur.Version {
		return nil, stale()
	}
	x.ID, x.CreatedAt = id, cur.CreatedAt
	return s.save(ctx, x, cur, ActionUpdate, "update", c)
}

// Rollback makes a previous version of stream id current again, as a
// new version.
func (s *Service) Rollback(ctx context.Context, id string, version int, c Caller) (*Stream, error) {
	cur, err := s.Stream(ctx, id)
	if err != nil {
		return nil, err
	}
	spec, err := s.Store.StreamVersionSpec(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail.Field("version", "stream has no version %d", version)
	}
	if err != nil {
		return nil, err
	}
	x := new(Stream)
	if err := json.Unmarshal(spec, x); err != nil {
		return nil, err
	}
	x.ID, x.CreatedAt = id, cur.CreatedAt
	return s.save(ctx, x, cur, ActionRollback, "rollback to "+strconv.Itoa(version), c)
}

// Delete removes stream id (at version, or any version when 0); its
// listener closes, connections in flight finish.
func (s *Service) Delete(ctx context.Context, id string, version int, c Caller) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := s.Stream(ctx, id)
	if err != nil {
		return err
	}
	err = s.Store.DeleteStream(ctx, id, version, c.Actor.Name, s.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound()
	case errors.Is(err, store.ErrVersionConflict):
		return stale()
	case err != nil:
		return err
	}
	s.Live.Remove(id)
	s.Logger.Info("stream deleted", zap.String("stream_id", id), zap.String("actor", c.Actor.Name))
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: ActionDelete, Target: id, Before: before, Extra: auditContext(before)})
	return nil
}

// History returns a stream's versions, newest first.
func (s *Service) History(ctx context.Context, id string) ([]Version, error) {
	vs, err := s.Store.StreamVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, notFound()
	}
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		x := new(Stream)
		if err := json.Unmarshal(v.Spec, x); err != nil {
			return nil, err
		}
		out = append(out, Version{Version: v.Version, Action: v.Action, Actor: v.Actor, At: v.At.Format("2006-01-02T15:04:05.000Z07:00"), Stream: x})
	}
	return out, nil
}

// save is the one path by which a stream changes: validate, check the
// listen port and the upstreams, open the listener, store, then serve.
// When any step fails, the previous stream stays stored and served.
func (s *Service) save(ctx context.Context, x, prev *Stream, action audit.Action, history string, c Caller) (*Stream, error) {
	x.Normalize()
	if err := x.Validate(); err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, fail.Field(se.Field, "%s", se.Message)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Names.Lock()
	defer s.Names.Unlock()
	if err := s.checkListen(ctx, x, prev, c); err != nil {
		return nil, err
	}
	if err := s.checkUpstreams(ctx, x); err != nil {
		return nil, err
	}
	prevVersion := 0
	if prev != nil {
		prevVersion = prev.Version
	}
	x.Version = prevVersion + 1
	x.UpdatedAt = s.Now().UTC().Truncate(time.Millisecond)
	var p Prepared
	if x.Enabled {
		var err error
		if p, err = s.Live.Prepare(x); err != nil {
			return nil, fail.Field("listen", "%q cannot be served: %v", x.Listen, err)
		}
	}
	spec, err := json.Marshal(x)
	if err == nil {
		err = s.Store.PutStream(ctx, store.StoredStream{
			ID: x.ID, Spec: spec, Version: x.Version, Enabled: x.Enabled, Listen: x.Listen,
			CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt,
		}, prevVersion, history, c.Actor.Name)
	}
	if err != nil {
		if p != nil {
			p.Cancel()
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound()
		case errors.Is(err, store.ErrVersionConflict):
			return nil, stale()
		}
		return nil, err
	}
	if p != nil {
		p.Commit()
	} else {
		s.Live.Remove(x.ID)
	}
	s.Logger.Info("stream saved", zap.String("stream_id", x.ID), zap.String("action", history),
		zap.Int("version", x.Version), zap.String("actor", c.Actor.Name), zap.String("listen", x.Listen))
	extra := auditContext(x)
	ev := audit.Event{Actor: c.Actor, Action: action, Target: x.ID, After: x, Extra: extra}
	if prev != nil {
		ev.Before = prev
	}
	s.Audit.Record(ctx, ev)
	return x, nil
}

// auditContext is what every audit entry about a stream shows.
func auditContext(x *Stream) map[string]any {
	return map[string]any{"stream_name": x.Name, "stream_listen": x.Listen}
}

// checkListen refuses a listen address that another stream holds (on a
// shared HTTPS port: a server name another stream there holds), one that
// Caddy's HTTP servers listen on unless the stream shares it by server
// name, and, for a caller without AnyPort, a port outside Ports that
// the stream did not already listen on.
func (s *Service) checkListen(ctx context.Context, x, prev *Stream, c Caller) error {
	addr := x.Addr()
	used, shared := s.Live.Shared(addr)
	if used && !shared {
		return fail.Field("listen", "%q: Caddy listens on this port; to share an HTTPS port by server name, add the proxyos_streams listener wrapper to its server", x.Listen)
	}
	if used && len(x.Hosts) == 0 {
		return fail.Field("hosts", "required on %q: a shared HTTPS port routes streams by server name", x.Listen)
	}
	if !c.AnyPort && !s.Ports.Allows(addr.Port) && (prev == nil || prev.Addr().Port != addr.Port) {
		return &fail.ForbiddenError{Field: "listen", Message: fmt.Sprintf("listen: port %d is outside the stream ports operators may open (stream_ports); an admin may open it", addr.Port)}
	}
	if used && s.RouteHost != nil {
		for i, h := range x.Hosts {
			if name := s.RouteHost(h); name != "" {
				return fail.Field(fmt.Sprintf("hosts[%d]", i), "%q is served by route %q on this HTTPS port", h, name)
			}
		}
	}
	others, err := s.Streams(ctx)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == x.ID || !o.Addr().Overlaps(addr) {
			continue
		}
		if !used {
			return fail.Field("listen", "%q is already used by stream %q", x.Listen, o.Name)
		}
		for _, h := range x.Hosts {
			if o.Serves(h) || slicesContains(o.Hosts, h) {
				return fail.Field("hosts", "%q is already used on %q by stream %q", h, x.Listen, o.Name)
			}
		}
	}
	return nil
}

func slicesContains(hs []string, h string) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// checkUpstreams refuses upstreams the upstream policy forbids, names
// resolved as they resolve now; every dial is checked again.
func (s *Service) checkUpstreams(ctx context.Context, x *Stream) error {
	for i, u := range x.Upstreams {
		host, port, _ := SplitUpstream(u)
		if err := s.Upstreams.CheckHost(ctx, host, port); err != nil {
			var re *upstream.RefusedError
			if errors.As(err, &re) {
				return fail.Field(fmt.Sprintf("upstreams[%d]", i), "%q: %v", u, err)
			}
			return err
		}
	}
	return nil
}

// Reload makes stream id served as the store holds it now, for a change
// another node (or another config of this node) made.
func (s *Service) Reload(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.Store.Stream(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.Live.Remove(id)
		return nil
	}
	if err != nil {
		return err
	}
	s.serve(st)
	return nil
}

// Load serves every enabled stored stream; a stream that cannot be
// served (its port taken meanwhile) is logged and skipped.
func (s *Service) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.Store.ListStreams(ctx)
	if err != nil {
		return err
	}
	for _, st := range stored {
		s.serve(st)
	}
	return nil
}

func (s *Service) serve(st store.StoredStream) {
	x, err := Decode(st)
	if err != nil || !x.Enabled {
		s.Live.Remove(st.ID)
		return
	}
	p, err := s.Live.Prepare(x)
	if err != nil {
		s.Logger.Error("serving stream", zap.String("stream_id", x.ID), zap.String("listen", x.Listen), zap.Error(err))
		s.Live.Remove(x.ID)
		return
	}
	p.Commit()
}
