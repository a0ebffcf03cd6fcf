// Package dnsprov keeps the credentials of DNS providers for DNS-01
// challenges: the config of a dns.providers module compiled into this
// Caddy (caddy-dns/cloudflare and the like), stored sealed with the key
// ring, never shown again, audited, and read back only to build the
// provider that sets the challenge's TXT record. Routes name a credential
// (dns_credential); the proxyos issuer builds an ACME issuer per
// credential.
package dnsprov

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Namespace is the Caddy module namespace of DNS providers.
const Namespace = "dns.providers"

// AddProvider says how to build Caddy with another DNS provider.
const AddProvider = "xcaddy build --with github.com/proxyos/caddy-proxyos --with github.com/caddy-dns/<provider>"

// The audit actions of credentials.
const (
	Create audit.Action = "dns_credential.create"
	Update audit.Action = "dns_credential.update"
	Delete audit.Action = "dns_credential.delete"
)

// maxConfig bounds a provider's config.
const maxConfig = 16 << 10

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Service manages the credentials. Every change is audited and recorded
// in the change log, so every node drops what it built from the old one.
type Service struct {
	Store *store.Store
	Keys  *keyring.Keyring
	Audit *audit.Log
	// UsedBy returns the routes (by name or id) whose dns_credential is
	// name: a credential in use cannot be deleted.
	UsedBy func(ctx context.Context, name string) ([]string, error)
	// Changed, when set, is called after a credential changed, for this
	// node (other nodes learn it from the change log).
	Changed func()
	Now     func() time.Time
	Logger  func() *zap.Logger
}

// Input is a credential as the API accepts it. Config is the provider
// module's JSON without its "name", such as {"api_token": "…"}.
type Input struct {
	Name     string          `json:"name"`
	Provider string          `json:"provider"`
	Config   json.RawMessage `json:"config"`
}

// View is a credential as the API shows it: never its config.
type View struct {
	Name      string    `json:"name"`
	Provider  string    `json:"provider"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UsedBy    []string  `json:"used_by,omitempty"`
}

// Providers lists the names of the DNS provider modules compiled in,
// sorted.
func Providers() []string {
	var out []string
	for _, m := range caddy.GetModules(Namespace) {
		out = append(out, m.ID.Name())
	}
	slices.Sort(out)
	return out
}

// CheckConfig checks that provider is a DNS provider module compiled in
// and that config decodes into it without unknown fields. Errors are
// *fail.FieldError on provider or config(.<field>).
func CheckConfig(provider string, config json.RawMessage) error {
	info, err := caddy.GetModule(Namespace + "." + provider)
	if provider == "" || strings.Contains(provider, ".") || err != nil {
		have := strings.Join(Providers(), ", ")
		if have == "" {
			have = "none"
		}
		return fail.Field("provider", "%q is not a DNS provider module of this Caddy (it has: %s); add one with %s", provider, have, AddProvider)
	}
	if len(bytes.TrimSpace(config)) == 0 {
		config = json.RawMessage("{}")
	}
	if len(config) > maxConfig {
		return fail.Field("config", "at most %d bytes", maxConfig)
	}
	if c := bytes.TrimSpace(config); c[0] != '{' {
		return fail.Field("config", "must be a JSON object: the %s provider's config", provider)
	}
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(info.New()); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return fail.Field("config."+f, "%q is not a field of the %s provider", f, provider)
		}
		return fail.Field("config", "%v", err)
	}
	return nil
}

// sealContext binds a sealed config to its credential.
func sealContext(id string) string { return "dns-credential:" + id }

// List returns every credential, without configs.
func (s *Service) List(ctx context.Context) ([]View, error) {
	creds, err := s.Store.DNSCredentials(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(creds))
	for _, c := range creds {
		v := viewOf(c)
		if s.UsedBy != nil {
			if v.UsedBy, err = s.UsedBy(ctx, c.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Exists reports whether a credential called name is stored.
func (s *Service) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.Store.DNSCredentialByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Open returns the provider module JSON of credential name ({"name":
// provider, …config}) and when it last changed, for the issuer.
func (s *Service) Open(ctx context.Context, name string) (json.RawMessage, time.Time, error) {
	c, err := s.Store.DNSCredentialByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, time.Time{}, fmt.Errorf("dns credential %q does not exist", name)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	pt, err := s.Keys.Open(c.Config, sealContext(c.ID))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("dns credential %q cannot be opened: %w", name, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(pt, &obj); err != nil {
		return nil, time.Time{}, fmt.Errorf("dns credential %q: %w", name, err)
	}
	if obj == nil {
		obj = make(map[string]json.RawMessage)
	}
	obj["name"], _ = json.Marshal(c.Provider)
	raw, err := json.Marshal(obj)
	return raw, c.UpdatedAt, err
}

// Create stores a new credential.
func (s *Service) Create(ctx context.Context, in Input, actor audit.Actor) (View, error) {
	if !validName.MatchString(in.Name) {
		return View{}, fail.Field("name", "%q must be 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit", in.Name)
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	c := store.DNSCredential{ID: uuid.NewString(), Name: in.Name, Provider: in.Provider, CreatedBy: actor.Name, CreatedAt: now, UpdatedAt: now}
	if err := s.put(ctx, &c, in, true); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return View{}, fail.Conflict("name", fmt.Sprintf("a DNS credential called %q exists", in.Name))
		}
		return View{}, err
	}
	s.changed()
	v := viewOf(c)
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: Create, Target: c.Name, After: v})
	s.Logger().Info("dns credential created", zap.String("name", c.Name), zap.String("provider", c.Provider), zap.String("actor", actor.Name))
	return v, nil
}

// Update replaces the provider and config of credential name. The config
// is write-only: the caller sends it whole.
func (s *Service) Update(ctx context.Context, name string, in Input, actor audit.Actor) (View, error) {
	prev, err := s.Store.DNSCredentialByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return View{}, fail.NotFound("no such DNS credential")
	}
	if err != nil {
		return View{}, err
	}
	if in.Name != "" && in.Name != name {
		return View{}, fail.Field("name", "a credential cannot be renamed: create another one")
	}
	c := prev
	c.Provider, c.UpdatedAt = in.Provider, s.Now().UTC().Truncate(time.Millisecond)
	if err := s.put(ctx, &c, in, false); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return View{}, fail.NotFound("no such DNS credential")
		}
		return View{}, err
	}
	s.changed()
	v := viewOf(c)
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: Update, Target: c.Name, Before: viewOf(prev), After: v,
		Extra: map[string]any{"config_changed": true}})
	s.Logger().Info("dns credential updated", zap.String("name", c.Name), zap.String("provider", c.Provider), zap.String("actor", actor.Name))
	return v, nil
}

// put checks in's provider and config, seals the config into c and
// stores c.
func (s *Service) put(ctx context.Context, c *store.DNSCredential, in Input, create bool) error {
	if err := CheckConfig(in.Provider, in.Config); err != nil {
		return err
	}
	config := bytes.TrimSpace(in.Config)
	if len(config) == 0 {
		config = []byte("{}")
	}
	sealed, err := s.Keys.Seal(config, sealContext(c.ID))
	if err != nil {
		return err
	}
	c.Config = sealed
	return s.Store.PutDNSCredential(ctx, *c, create)
}

// Delete deletes credential name, unless a route uses it.
func (s *Service) Delete(ctx context.Context, name string, actor audit.Actor) error {
	c, err := s.Store.DNSCredentialByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fail.NotFound("no such DNS credential")
	}
	if err != nil {
		return err
	}
	if s.UsedBy != nil {
		used, err := s.UsedBy(ctx, name)
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return fail.Conflict("name", fmt.Sprintf("routes use DNS credential %q: %s", name, strings.Join(used, ", ")))
		}
	}
	if err := s.Store.DeleteDNSCredential(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fail.NotFound("no such DNS credential")
		}
		return err
	}
	s.changed()
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: Delete, Target: name, Before: viewOf(c)})
	s.Logger().Info("dns credential deleted", zap.String("name", name), zap.String("actor", actor.Name))
	return nil
}

// Reseal re-seals every credential sealed with a previous key with the
// current one, as the account service does for TOTP secrets.
func (s *Service) Reseal(ctx context.Context) {
	creds, err := s.Store.DNSCredentials(ctx)
	if err != nil {
		s.Logger().Error("listing dns credentials to re-seal", zap.Error(err))
		return
	}
	moved := 0
	for _, c := range creds {
		fresh, err := s.Keys.ResealIfOld(c.Config, sealContext(c.ID))
		var uk *keyring.UnknownKeyError
		switch {
		case errors.As(err, &uk):
			s.Logger().Warn("a dns credential is sealed with a key that is not configured and cannot be used",
				zap.String("key_id", uk.KeyID), zap.String("name", c.Name))
			continue
		case err != nil:
			s.Logger().Warn("a dns credential cannot be opened", zap.String("name", c.Name))
			continue
		case fresh == "":
			continue
		}
		if ok, err := s.Store.ReplaceDNSCredentialConfig(ctx, c.ID, c.Config, fresh); err != nil {
			s.Logger().Error("re-sealing a dns credential", zap.Error(err))
			return
		} else if ok {
			moved++
		}
	}
	if moved > 0 {
		s.Logger().Info("re-sealed dns credentials with the current key", zap.Int("count", moved), zap.String("key_id", s.Keys.CurrentID()))
	}
}

func (s *Service) changed() {
	if s.Changed != nil {
		s.Changed()
	}
}

// Info is what a route form needs to offer challenge dns: the DNS
// provider modules compiled in, the proxyos issuer's own provider, the
// stored credentials (names and providers only) and how to add a
// provider.
type Info struct {
	Providers   []string     `json:"providers"`
	Default     string       `json:"default,omitempty"`
	Credentials []Credential `json:"credentials"`
	AddProvider string       `json:"add_provider"`
}

// Credential names a stored credential and its provider.
type Credential struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
}

// Info returns the providers and credentials a route may use; def is
// the issuer's own provider ("" for none).
func (s *Service) Info(ctx context.Context, def string) (Info, error) {
	creds, err := s.Store.DNSCredentials(ctx)
	if err != nil {
		return Info{}, err
	}
	out := Info{Providers: Providers(), Default: def, Credentials: []Credential{}, AddProvider: AddProvider}
	if out.Providers == nil {
		out.Providers = []string{}
	}
	for _, c := range creds {
		out.Credentials = append(out.Credentials, Credential{Name: c.Name, Provider: c.Provider})
	}
	return out, nil
}

func viewOf(c store.DNSCredential) View {
	return View{Name: c.Name, Provider: c.Provider, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}
