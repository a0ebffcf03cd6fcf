package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// CertificateInput is an upload of a custom certificate: the chain,
// leaf first, and the leaf's private key, both PEM. Name is a label
// (default: the certificate's first name).
type CertificateInput struct {
	Name  string `json:"name"`
	Chain string `json:"chain"`
	Key   string `json:"key"`
}

// CertificateView is a custom certificate as the APIs show it: never
// its key.
type CertificateView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	certs.Info
	Chain       string    `json:"chain"`
	ExpiresSoon bool      `json:"expires_soon"`
	Routes      []string  `json:"routes"` // ids of the routes serving it
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ErrCertificateNotFound is the error of a missing custom certificate.
var ErrCertificateNotFound = errors.New("no such certificate")

func certificateNotFound() error {
	return &fail.NotFoundError{Message: ErrCertificateNotFound.Error(), Err: ErrCertificateNotFound}
}

// certField turns a certs.Error into the field error the APIs answer.
func certField(err error) error {
	var ce *certs.Error
	if errors.As(err, &ce) {
		return fail.Field(ce.Field, "%s", ce.Message)
	}
	return err
}

// CustomCertificates lists the custom certificates, oldest first.
func (s *Service) CustomCertificates(ctx context.Context) ([]CertificateView, error) {
	rows, err := s.Store.CustomCertificates(ctx)
	if err != nil {
		return nil, err
	}
	users, err := s.certificateUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CertificateView, 0, len(rows))
	for _, c := range rows {
		out = append(out, s.certificateView(c, users[c.ID]))
	}
	return out, nil
}

// certificateView describes a stored certificate.
func (s *Service) certificateView(c store.CustomCertificate, routes []*route.Route) CertificateView {
	v := CertificateView{ID: c.ID, Name: c.Name, Chain: c.Chain, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Routes: make([]string, 0, len(routes))}
	if parsed, err := certs.ParseChain([]byte(c.Chain)); err == nil {
		v.Info = certs.Describe(parsed[0])
		v.ExpiresSoon = certs.ExpiresSoon(v.NotAfter, s.Now())
	}
	for _, r := range routes {
		v.Routes = append(v.Routes, r.ID)
	}
	return v
}

// certificateUsers returns the routes with tls custom, by certificate.
func (s *Service) certificateUsers(ctx context.Context) (map[string][]*route.Route, error) {
	routes, err := s.Routes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]*route.Route)
	for _, r := range routes {
		if r.TLS == route.TLSCustom {
			out[r.Certificate] = append(out[r.Certificate], r)
		}
	}
	return out, nil
}

// UploadCertificate checks, stores and serves a new custom certificate.
func (s *Service) UploadCertificate(ctx context.Context, in CertificateInput, actor audit.Actor) (CertificateView, error) {
	c, err := certs.ParseCustom([]byte(in.Chain), []byte(in.Key), s.Now())
	if err != nil {
		return CertificateView{}, certField(err)
	}
	name, err := certificateName(in.Name, c)
	if err != nil {
		return CertificateView{}, err
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	row := store.CustomCertificate{ID: uuid.NewString(), Name: name, Chain: string(c.Chain), CreatedBy: actor.Name, CreatedAt: now, UpdatedAt: now}
	if row.Key, err = s.Keys.Seal([]byte(in.Key), certs.KeyContext(row.ID)); err != nil {
		return CertificateView{}, err
	}
	if err := s.Store.PutCustomCertificate(ctx, row, false); err != nil {
		return CertificateView{}, err
	}
	s.Custom.Put(row.ID, &c.TLS)
	s.recordCertificate(ctx, audit.CertificateUpload, row, c.Info, actor)
	return s.certificateView(row, nil), nil
}

// ReplaceCertificate replaces custom certificate id, served at once
// wherever it was. The new one must cover the hosts of the routes
// serving it.
func (s *Service) ReplaceCertificate(ctx context.Context, id string, in CertificateInput, actor audit.Actor) (CertificateView, error) {
	cur, err := s.Store.CustomCertificate(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return CertificateView{}, certificateNotFound()
	}
	if err != nil {
		return CertificateView{}, err
	}
	c, err := certs.ParseCustom([]byte(in.Chain), []byte(in.Key), s.Now())
	if err != nil {
		return CertificateView{}, certField(err)
	}
	users, err := s.certificateUsers(ctx)
	if err != nil {
		return CertificateView{}, err
	}
	for _, r := range users[id] {
		if h := certs.Uncovered(c.Info.Names, r.Hosts); h != "" {
			return CertificateView{}, fail.Field("chain", "does not cover host %s of route %s, which serves this certificate", h, r.ID)
		}
	}
	if in.Name == "" {
		in.Name = cur.Name
	}
	name, err := certificateName(in.Name, c)
	if err != nil {
		return CertificateView{}, err
	}
	row := cur
	row.Name, row.Chain, row.UpdatedAt = name, string(c.Chain), s.Now().UTC().Truncate(time.Millisecond)
	if row.Key, err = s.Keys.Seal([]byte(in.Key), certs.KeyContext(id)); err != nil {
		return CertificateView{}, err
	}
	err = s.Store.PutCustomCertificate(ctx, row, true)
	if errors.Is(err, store.ErrNotFound) {
		return CertificateView{}, certificateNotFound()
	}
	if err != nil {
		return CertificateView{}, err
	}
	s.Custom.Put(id, &c.TLS)
	s.recordCertificate(ctx, audit.CertificateReplace, row, c.Info, actor)
	return s.certificateView(row, users[id]), nil
}

// DeleteCertificate deletes custom certificate id, which no route may
// serve (a *fail.ConflictError naming them otherwise).
func (s *Service) DeleteCertificate(ctx context.Context, id string, actor audit.Actor) error {
	cur, err := s.Store.CustomCertificate(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return certificateNotFound()
	}
	if err != nil {
		return err
	}
	users, err := s.certificateUsers(ctx)
	if err != nil {
		return err
	}
	if rs := users[id]; len(rs) > 0 {
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		return fail.Conflict("routes", "routes "+strings.Join(ids, ", ")+" serve this certificate: switch them to another TLS mode first")
	}
	if err := s.Store.DeleteCustomCertificate(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return certificateNotFound()
		}
		return err
	}
	s.Custom.Delete(id)
	var info certs.Info
	if parsed, err := certs.ParseChain([]byte(cur.Chain)); err == nil {
		info = certs.Describe(parsed[0])
	}
	s.recordCertificate(ctx, audit.CertificateDelete, cur, info, actor)
	return nil
}

// certificateName is the label of an upload: the given one, or the
// certificate's first name.
func certificateName(name string, c *certs.Custom) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = c.Info.Names[0]
	}
	if len(name) > 200 {
		return "", fail.Field("name", "at most 200 characters")
	}
	return name, nil
}

// recordCertificate logs and audits a change of a custom certificate:
// what it is, never its key.
func (s *Service) recordCertificate(ctx context.Context, action audit.Action, c store.CustomCertificate, info certs.Info, actor audit.Actor) {
	s.Logger.Info("custom certificate "+strings.TrimPrefix(string(action), "certificate."), zap.String("certificate_id", c.ID),
		zap.Strings("names", info.Names), zap.Time("not_after", info.NotAfter), zap.String("actor", actor.Name))
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: action, Target: c.ID, Extra: map[string]any{
		"name": c.Name, "names": info.Names, "not_after": info.NotAfter, "fingerprint": info.Fingerprint,
	}})
}

// checkCertificate refuses a route with tls custom whose certificate
// does not exist or does not cover its hosts.
func (s *Service) checkCertificate(ctx context.Context, r *route.Route) error {
	if r.TLS != route.TLSCustom {
		return nil
	}
	c, err := s.Store.CustomCertificate(ctx, r.Certificate)
	if errors.Is(err, store.ErrNotFound) {
		return fail.Field("certificate", "no certificate %q", r.Certificate)
	}
	if err != nil {
		return err
	}
	chain, err := certs.ParseChain([]byte(c.Chain))
	if err != nil {
		return fail.Field("certificate", "certificate %q cannot be read: %v", r.Certificate, err)
	}
	if h := certs.Uncovered(certs.Describe(chain[0]).Names, r.Hosts); h != "" {
		return fail.Field("certificate", "certificate %q does not cover host %s", c.Name, h)
	}
	return nil
}

// LoadCertificates serves every stored custom certificate (and no
// other), at start-up and for a node that missed changes.
func (s *Service) LoadCertificates(ctx context.Context) error {
	rows, err := s.Store.CustomCertificates(ctx)
	if err != nil {
		return err
	}
	all := make(map[string]*tls.Certificate, len(rows))
	for _, row := range rows {
		if c := s.openCertificate(row); c != nil {
			all[row.ID] = c
		}
	}
	s.Custom.Reset(all)
	return nil
}

// ReloadCertificate serves custom certificate id as the store holds it
// now (or no more), for a change another node made.
func (s *Service) ReloadCertificate(ctx context.Context, id string) error {
	row, err := s.Store.CustomCertificate(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.Custom.Delete(id)
		return nil
	}
	if err != nil {
		return err
	}
	if c := s.openCertificate(row); c != nil {
		s.Custom.Put(id, c)
	} else {
		s.Custom.Delete(id)
	}
	return nil
}

// openCertificate opens a stored certificate's key; nil (logged) when
// it cannot be used.
func (s *Service) openCertificate(row store.CustomCertificate) *tls.Certificate {
	key, err := s.Keys.Open(row.Key, certs.KeyContext(row.ID))
	if err != nil {
		s.Logger.Error("a custom certificate's key cannot be opened (sealed with a secret not configured?)",
			zap.String("certificate_id", row.ID), zap.Error(err))
		return nil
	}
	c, err := certs.ParseCustom([]byte(row.Chain), key, time.Time{})
	if err != nil {
		s.Logger.Error("a stored custom certificate cannot be served", zap.String("certificate_id", row.ID),
			zap.String("error", fmt.Sprint(err)))
		return nil
	}
	return &c.TLS
}
