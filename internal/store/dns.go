package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ChangeDNSCredential is the change-log kind of a DNS provider
// credential: a node drops the provider it built from it.
const ChangeDNSCredential = "dns_credential"

// DNSCredential is the stored config of a DNS provider for DNS-01
// challenges. Config is sealed by the caller; the store never sees it in
// clear.
type DNSCredential struct {
	ID        string
	Name      string // unique; routes refer to it
	Provider  string // the dns.providers module's name, such as cloudflare
	Config    string // sealed JSON of the module
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const dnsCredentialColumns = `id, name, provider, config, created_by, created_at, updated_at`

func scanDNSCredential(row interface{ Scan(...any) error }) (DNSCredential, error) {
	var (
		c        DNSCredential
		cat, uat int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.Provider, &c.Config, &c.CreatedBy, &cat, &uat)
	c.CreatedAt, c.UpdatedAt = fromMillis(cat), fromMillis(uat)
	return c, err
}

// DNSCredentials returns every DNS provider credential, by name.
func (s *Store) DNSCredentials(ctx context.Context) ([]DNSCredential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+dnsCredentialColumns+` FROM dns_credentials ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DNSCredential
	for rows.Next() {
		c, err := scanDNSCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DNSCredentialByName finds a credential by name, or ErrNotFound.
func (s *Store) DNSCredentialByName(ctx context.Context, name string) (DNSCredential, error) {
	c, err := scanDNSCredential(s.db.QueryRowContext(ctx, s.q(`SELECT `+dnsCredentialColumns+` FROM dns_credentials WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return DNSCredential{}, ErrNotFound
	}
	return c, err
}

// PutDNSCredential creates c, or replaces the provider and config of the
// credential with its id. A new credential whose name is taken is
// ErrConflict; replacing one that does not exist, ErrNotFound.
func (s *Store) PutDNSCredential(ctx context.Context, c DNSCredential, create bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if create {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO dns_credentials (`+dnsCredentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.Name, c.Provider, c.Config, c.CreatedBy, millis(c.CreatedAt), millis(c.UpdatedAt))
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
	} else {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE dns_credentials SET provider = ?, config = ?, updated_at = ? WHERE id = ?`),
			c.Provider, c.Config, millis(c.UpdatedAt), c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
	}
	return s.commit(ctx, tx, ChangeDNSCredential, c.Name)
}

// DeleteDNSCredential deletes the credential named name, or returns
// ErrNotFound.
func (s *Store) DeleteDNSCredential(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM dns_credentials WHERE name = ?`), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeDNSCredential, name)
}

// ReplaceDNSCredentialConfig stores a re-sealed config if the credential
// still holds the old one. It reports whether it did.
func (s *Store) ReplaceDNSCredentialConfig(ctx context.Context, id, old, sealed string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE dns_credentials SET config = ? WHERE id = ? AND config = ?`), sealed, id, old)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
