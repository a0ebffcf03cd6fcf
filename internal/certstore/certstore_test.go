package certstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// newNodes returns n storages on one fresh PostgreSQL database, each on
// its own connection pool, as n nodes of a cluster have.
func newNodes(t *testing.T, n int) []*Storage {
	t.Helper()
	dsn := testkit.PostgresDSN(t)
	nodes := make([]*Storage, n)
	for i := range nodes {
		s, err := New(testkit.OpenPostgres(t, dsn), nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		nodes[i] = s
	}
	return nodes
}

// layout is a certmagic storage as Caddy fills it.
var layout = map[string]string{
	"certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.crt":  "cert",
	"certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.key":  "key",
	"certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.json": "{}",
	"certificates/acme-v02.api.letsencrypt.org-directory/b.example/b.example.crt":      "cert 3",
	"certificates/local/wildcard_.example.net/wildcard_.example.net.crt":               "cert 2",
	"acme/acme-v02.api.letsencrypt.org-directory/users/me@example.com/me.json":         "{}",
	"acme/acme-v02.api.letsencrypt.org-directory/challenge_tokens/example.com.json":    `{"token":"x"}`,
	"ocsp/example.com-1234":      "staple",
	"last_clean.json":            "{}",
	"pki/authorities/local/root": "",
}

// queried are keys a caller may ask about: files, directories, missing
// keys and keys next to existing ones.
var queried = []string{
	"", "certificates", "certificates/acme-v02.api.letsencrypt.org-directory",
	"certificates/acme-v02.api.letsencrypt.org-directory/example.com",
	"certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.crt",
	"certificates/local", "acme", "acme/acme-v02.api.letsencrypt.org-directory/challenge_tokens",
	"ocsp", "ocsp/example.com-1234", "ocsp/example.com", "last_clean.json", "last_clean",
	"pki/authorities/local/root", "pki/authorities", "missing", "certificates/missing/x",
}

func fill(t *testing.T, s certmagic.Storage) {
	t.Helper()
	for k, v := range layout {
		if err := s.Store(context.Background(), k, []byte(v)); err != nil {
			t.Fatalf("Store(%q): %v", k, err)
		}
	}
}

// TestStorageLikeFileStorage runs the same calls on this storage and on
// certmagic's FileStorage (the reference of the semantics certmagic
// expects) and compares what they answer. The one difference by design:
// a recursive List names only keys with values, where FileStorage also
// names the directories on the way (Caddy filters them out with Stat).
func TestStorageLikeFileStorage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newNodes(t, 1)[0]
	files := &certmagic.FileStorage{Path: t.TempDir()}
	fill(t, db)
	fill(t, files)

	compare := func(t *testing.T) {
		t.Helper()
		for _, k := range queried {
			if got, want := db.Exists(ctx, k), files.Exists(ctx, k); got != want && k != "" {
				t.Errorf("Exists(%q) = %v, FileStorage says %v", k, got, want)
			}

			gotInfo, gotErr := db.Stat(ctx, k)
			wantInfo, wantErr := files.Stat(ctx, k)
			if k != "" && !sameErr(gotErr, wantErr) {
				t.Errorf("Stat(%q) error %v, FileStorage's %v", k, gotErr, wantErr)
			} else if gotErr == nil && k != "" {
				if gotInfo.Key != k || gotInfo.IsTerminal != wantInfo.IsTerminal || (gotInfo.IsTerminal && gotInfo.Size != wantInfo.Size) {
					t.Errorf("Stat(%q) = %+v, FileStorage's %+v", k, gotInfo, wantInfo)
				}
			}

			if wantErr == nil && wantInfo.IsTerminal {
				got, err := db.Load(ctx, k)
				want, _ := files.Load(ctx, k)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("Load(%q) = %q, %v, want %q", k, got, err, want)
				}
			} else if _, err := db.Load(ctx, k); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Load(%q) of a directory or missing key: %v, want fs.ErrNotExist", k, err)
			}

			for _, recursive := range []bool{false, true} {
				got, gotErr := db.List(ctx, k, recursive)
				want, wantErr := files.List(ctx, k, recursive)
				if recursive {
					want = slices.DeleteFunc(want, func(key string) bool {
						info, err := files.Stat(ctx, key)
						return err != nil || !info.IsTerminal
					})
				}
				slices.Sort(want)
				if !sameErr(gotErr, wantErr) || !slices.Equal(got, want) {
					t.Errorf("List(%q, %v) = %q, %v; FileStorage: %q, %v", k, recursive, got, gotErr, want, wantErr)
				}
			}
		}
	}
	compare(t)

	for _, k := range []string{
		"certificates/acme-v02.api.letsencrypt.org-directory/example.com", // a directory
		"ocsp/example.com-1234", // a file, leaving its directory empty
		"missing/key",           // nothing: no error
	} {
		if err := db.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		if err := files.Delete(ctx, k); err != nil {
			t.Fatalf("FileStorage.Delete(%q): %v", k, err)
		}
		if db.Exists(ctx, k) {
			t.Errorf("Exists(%q) after Delete", k)
		}
	}
	// FileStorage keeps the emptied directory ocsp; here a directory
	// exists only through its keys.
	if err := files.Delete(ctx, "ocsp"); err != nil {
		t.Fatal(err)
	}
	compare(t)
}

// sameErr reports whether both errors are nil or both mean "does not
// exist".
func sameErr(got, want error) bool {
	if want == nil || got == nil {
		return got == nil && want == nil
	}
	return errors.Is(got, fs.ErrNotExist) == errors.Is(want, fs.ErrNotExist)
}

func TestStorageKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newNodes(t, 1)[0]

	// One key, however its slashes are written.
	if err := s.Store(ctx, "/a//b/c/", []byte("v1")); err != nil {
		t.Fatalf("Store: %v", err)
	}
	for _, k := range []string{"a/b/c", "/a/b/c", "a/b//c", "a/./b/c", "a/x/../b/c"} {
		if got, err := s.Load(ctx, k); err != nil || string(got) != "v1" {
			t.Errorf("Load(%q) = %q, %v, want v1", k, got, err)
		}
	}
	if keys, err := s.List(ctx, "a/", true); err != nil || !slices.Equal(keys, []string{"a/b/c"}) {
		t.Errorf("List(a/) = %q, %v", keys, err)
	}

	// Overwriting keeps one value and moves its time on.
	before, _ := s.Stat(ctx, "a/b/c")
	time.Sleep(10 * time.Millisecond)
	if err := s.Store(ctx, "a/b/c", []byte("value 2")); err != nil {
		t.Fatalf("Store again: %v", err)
	}
	after, err := s.Stat(ctx, "a/b/c")
	if err != nil || after.Size != 7 || !after.Modified.After(before.Modified) || !after.IsTerminal {
		t.Errorf("Stat after overwrite = %+v, %v (before %+v)", after, err, before)
	}
	if time.Since(after.Modified).Abs() > 5*time.Second {
		t.Errorf("Modified = %v, want about now", after.Modified)
	}

	// Empty keys name the root: nothing to store, load or delete there.
	if err := s.Store(ctx, "", []byte("x")); err == nil {
		t.Error("Store of an empty key succeeded")
	}
	if err := s.Delete(ctx, "/"); err == nil {
		t.Error("Delete of the root succeeded")
	}
	if got, _ := s.Load(ctx, "a/b/c"); string(got) != "value 2" {
		t.Errorf("after refused root Delete: %q", got)
	}

	// Values are bytes, empty ones too.
	bin := []byte{0, 1, 2, 0xff, '\n'}
	for _, v := range [][]byte{bin, {}, nil} {
		if err := s.Store(ctx, "bin", v); err != nil {
			t.Fatalf("Store(%v): %v", v, err)
		}
		if got, err := s.Load(ctx, "bin"); err != nil || !bytes.Equal(got, v) {
			t.Errorf("Load = %v, %v, want %v", got, err, v)
		}
	}
}

// TestNewNeedsPostgres: the storage refuses an SQLite store, which has no
// tables for it and no other node to share with.
func TestNewNeedsPostgres(t *testing.T) {
	t.Parallel()
	st, _ := testkit.OpenStore(t)
	if _, err := New(st, nil); !errors.Is(err, store.ErrNeedsPostgres) {
		t.Fatalf("New on SQLite: %v, want ErrNeedsPostgres", err)
	}
}
