package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

var actor = audit.Actor{Name: "admin API", Kind: audit.ActorAdminAPI}

// A backup is a database a store opens, with the rows of the moment.
func TestBackupCopiesTheDatabase(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	testkit.AddUser(t, st, "kept@example.com", "password", "admin")
	s := &Service{Store: st, Audit: audit.New(st, testkit.NewClock().Now, zap.NewNop)}
	path := filepath.Join(t.TempDir(), "copy.db")
	b, err := s.Backup(context.Background(), actor, path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != b.Bytes || b.Bytes == 0 {
		t.Fatalf("backup %+v, file %v %v", b, fi, err)
	}
	copied, err := store.Open(context.Background(), store.SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if _, err := copied.UserByEmail(context.Background(), "kept@example.com"); err != nil {
		t.Fatalf("the copy lacks the user: %v", err)
	}
}

// Bad paths are refused naming the field, and nothing is overwritten.
func TestBackupRefuses(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	s := &Service{Store: st, Audit: audit.New(st, testkit.NewClock().Now, zap.NewNop)}
	existing := filepath.Join(t.TempDir(), "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	pg := &Service{Store: testkit.OpenPostgres(t, testkit.PostgresDSN(t))}
	for _, tt := range []struct {
		name string
		s    *Service
		path string
		want string
	}{
		{"relative", s, "copy.db", "absolute"},
		{"existing file", s, existing, "exists already"},
		{"missing directory", s, filepath.Join(t.TempDir(), "no", "copy.db"), "does not exist"},
		{"PostgreSQL", pg, filepath.Join(t.TempDir(), "pg.db"), "pg_dump"},
	} {
		_, err := tt.s.Backup(context.Background(), actor, tt.path)
		var fe *fail.FieldError
		if !errors.As(err, &fe) || fe.Field != "path" || !strings.Contains(fe.Message, tt.want) {
			t.Errorf("%s: %v, want a field error on path saying %q", tt.name, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}
}
