// Package certstore is certmagic's storage on the proxyos PostgreSQL
// database: Caddy's certificates and their keys, ACME accounts, challenge
// tokens and the locks around obtaining certificates live in the one
// database that every node of a cluster shares. So a certificate is
// obtained once for the cluster, any node can answer an ACME challenge
// another node started, and nodes take turns on the work that certmagic
// locks.
//
// Keys are '/'-separated paths with the semantics of certmagic's
// FileStorage: a key with a value is a file, a key that only leads to
// others is a directory. The rows and the SQL are internal/store's; this
// package gives them certmagic's meaning.
package certstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Defaults of the locks (see Lock).
const (
	DefaultLockExpiry  = time.Minute
	DefaultLockRefresh = 20 * time.Second
	DefaultLockPoll    = 250 * time.Millisecond
)

// Storage is a certmagic.Storage and certmagic.Locker on a PostgreSQL
// store. It is safe for concurrent use; every node has its own, on the
// same database.
type Storage struct {
	store  *store.Store
	logger *zap.Logger

	expiry  time.Duration // a lock not refreshed for this long is free
	refresh time.Duration // how often a held lock is refreshed
	poll    time.Duration // how often Lock asks again for a held lock

	mu   sync.Mutex
	held map[string]*lease // the locks this Storage holds, by name
}

// New returns the storage on st, which must be a PostgreSQL store. The
// logger reports locks that could not be refreshed.
func New(st *store.Store, logger *zap.Logger) (*Storage, error) {
	if st.Driver() != store.Postgres {
		return nil, store.ErrNeedsPostgres
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Storage{
		store: st, logger: logger,
		expiry: DefaultLockExpiry, refresh: DefaultLockRefresh, poll: DefaultLockPoll,
		held: map[string]*lease{},
	}, nil
}

// clean returns key in its one spelling: no leading, trailing or doubled
// slashes, no "." or ".." components; "" for the root.
func clean(key string) string {
	return strings.TrimPrefix(path.Clean("/"+key), "/")
}

// notExist is the error of an operation on a key that does not exist.
func notExist(op, key string) error {
	return &fs.PathError{Op: op, Path: key, Err: fs.ErrNotExist}
}

// Store puts value at key, replacing any value there.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	key = clean(key)
	if key == "" {
		return errors.New("store: empty key")
	}
	if err := s.store.PutCertData(ctx, key, value); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key; for a key without a value (missing, or
// a directory) the error satisfies errors.Is(err, fs.ErrNotExist).
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	key = clean(key)
	if key == "" {
		return nil, notExist("load", key)
	}
	value, err := s.store.CertData(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notExist("load", key)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	return value, nil
}

// Delete deletes key and, if it is a directory, every key under it. A
// missing key is no error. The root ("") cannot be deleted.
func (s *Storage) Delete(ctx context.Context, key string) error {
	key = clean(key)
	if key == "" {
		return errors.New("delete: empty key (the whole storage)")
	}
	if _, err := s.store.DeleteCertData(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key has a value or keys under it, and could be
// checked; the root ("") is never a key.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	key = clean(key)
	if key == "" {
		return false
	}
	ok, err := s.store.CertDataExists(ctx, key)
	return err == nil && ok
}

// List returns the keys under prefix ("": the whole storage), sorted.
// Recursive, it lists every key with a value under prefix, at any depth;
// otherwise the keys one level under prefix, files and directories. A
// prefix that does not exist gives an error satisfying
// errors.Is(err, fs.ErrNotExist); a file has nothing under it.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	prefix = clean(prefix)
	var keys []string
	if recursive {
		var err error
		if keys, err = s.store.CertDataKeys(ctx, prefix); err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
	} else {
		children, err := s.store.CertDataChildren(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		keys = make([]string, len(children))
		for i, c := range children {
			keys[i] = path.Join(prefix, c)
		}
	}
	if len(keys) > 0 || prefix == "" {
		return keys, nil
	}
	if _, err := s.store.CertDataInfo(ctx, prefix); errors.Is(err, store.ErrNotFound) {
		return nil, notExist("list", prefix)
	} else if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return keys, nil
}

// Stat describes key: a file with its size and modification time (the
// database's clock), or a directory (IsTerminal false). A missing key
// gives an error satisfying errors.Is(err, fs.ErrNotExist).
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = clean(key)
	if key == "" {
		return certmagic.KeyInfo{}, notExist("stat", key)
	}
	info, err := s.store.CertDataInfo(ctx, key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: info.Modified, Size: info.Size, IsTerminal: true}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	dir, err := s.store.CertDataExists(ctx, key)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if !dir {
		return certmagic.KeyInfo{}, notExist("stat", key)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "proxyos postgres storage" }

// Interface guards
var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)
