package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// openPostgres opens a fresh, migrated store on a database of its own.
func openPostgres(t *testing.T) *Store {
	t.Helper()
	return openStore(t, Postgres, postgresDB(t))
}

func TestCertDataValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPostgres(t)

	if _, err := s.CertData(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CertData of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.CertDataInfo(ctx, "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CertDataInfo of a missing key: %v, want ErrNotFound", err)
	}

	before := time.Now()
	value := []byte("-----BEGIN CERTIFICATE-----\x00\xff binary")
	if err := s.PutCertData(ctx, "a/b", value); err != nil {
		t.Fatalf("PutCertData: %v", err)
	}
	got, err := s.CertData(ctx, "a/b")
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("CertData = %q, %v, want %q", got, err, value)
	}
	info, err := s.CertDataInfo(ctx, "a/b")
	if err != nil {
		t.Fatalf("CertDataInfo: %v", err)
	}
	// The database runs on this machine: its clock is ours.
	if info.Key != "a/b" || info.Size != int64(len(value)) ||
		info.Modified.Before(before.Add(-time.Second)) || info.Modified.After(time.Now().Add(time.Second)) {
		t.Fatalf("CertDataInfo = %+v, want key a/b, size %d, modified about now", info, len(value))
	}

	// Storing again replaces the value, its size and its time.
	time.Sleep(10 * time.Millisecond) // so that the modification time moves
	if err := s.PutCertData(ctx, "a/b", []byte("new")); err != nil {
		t.Fatalf("PutCertData again: %v", err)
	}
	got, _ = s.CertData(ctx, "a/b")
	info2, _ := s.CertDataInfo(ctx, "a/b")
	if string(got) != "new" || info2.Size != 3 || !info2.Modified.After(info.Modified) {
		t.Fatalf("after replacing: %q, %+v (before: %+v)", got, info2, info)
	}

	// Empty and nil values are values.
	for _, v := range [][]byte{nil, {}} {
		if err := s.PutCertData(ctx, "empty", v); err != nil {
			t.Fatalf("PutCertData(%#v): %v", v, err)
		}
		got, err := s.CertData(ctx, "empty")
		if err != nil || len(got) != 0 {
			t.Fatalf("CertData of an empty value = %q, %v", got, err)
		}
		if info, err := s.CertDataInfo(ctx, "empty"); err != nil || info.Size != 0 {
			t.Fatalf("CertDataInfo of an empty value = %+v, %v", info, err)
		}
	}
}

// certKeys are keys whose neighbours in byte order (a+b, a.b, a0, ab) are
// not under "a", next to keys that are.
var certKeys = []string{"a", "a+b", "a-b", "a.b", "a/b", "a/c/d", "a/c/e/f", "a0", "ab", "b/a"}

func putKeys(t *testing.T, s *Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := s.PutCertData(context.Background(), k, []byte("value of "+k)); err != nil {
			t.Fatalf("PutCertData(%q): %v", k, err)
		}
	}
}

func TestCertDataPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPostgres(t)
	putKeys(t, s, certKeys...)

	t.Run("exists", func(t *testing.T) {
		for key, want := range map[string]bool{
			"a": true, "a/b": true, "a/c": true, "a/c/e": true, "b": true, "a0": true,
			"a/": false, "a/c/d/x": false, "c": false, "a/c/e/f/g": false, "a/x": false,
		} {
			if got, err := s.CertDataExists(ctx, key); err != nil || got != want {
				t.Errorf("CertDataExists(%q) = %v, %v, want %v", key, got, err, want)
			}
		}
	})
	t.Run("keys", func(t *testing.T) {
		for prefix, want := range map[string][]string{
			"a":       {"a/b", "a/c/d", "a/c/e/f"},
			"a/c":     {"a/c/d", "a/c/e/f"},
			"a/c/e/f": nil, // a value, nothing under it
			"a/b/x":   nil,
			"":        certKeys,
		} {
			if got, err := s.CertDataKeys(ctx, prefix); err != nil || !slices.Equal(got, want) {
				t.Errorf("CertDataKeys(%q) = %q, %v, want %q", prefix, got, err, want)
			}
		}
	})
	t.Run("children", func(t *testing.T) {
		for prefix, want := range map[string][]string{
			"a":   {"b", "c"},
			"a/c": {"d", "e"},
			"b":   {"a"},
			"a/b": nil,
			"":    {"a", "a+b", "a-b", "a.b", "a0", "ab", "b"},
		} {
			if got, err := s.CertDataChildren(ctx, prefix); err != nil || !slices.Equal(got, want) {
				t.Errorf("CertDataChildren(%q) = %q, %v, want %q", prefix, got, err, want)
			}
		}
	})
	t.Run("keys are compared byte by byte", func(t *testing.T) {
		// Under a linguistic collation "a+b" sorts between "a/" and "a0";
		// the column's own collation keeps the range exact whatever the
		// database's default.
		var coll string
		err := s.db.QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
			WHERE table_name = 'certmagic_data' AND column_name = 'key'`).Scan(&coll)
		if err != nil || coll != "C" {
			t.Fatalf("certmagic_data.key collation = %q, %v, want C", coll, err)
		}
	})
}

func TestDeleteCertData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		key  string
		n    int64
		left []string
	}{
		{"a", 4, []string{"a+b", "a-b", "a.b", "a0", "ab", "b/a"}},
		{"a/c", 2, []string{"a", "a+b", "a-b", "a.b", "a/b", "a0", "ab", "b/a"}},
		{"a/c/e/f", 1, []string{"a", "a+b", "a-b", "a.b", "a/b", "a/c/d", "a0", "ab", "b/a"}},
		{"b", 1, []string{"a", "a+b", "a-b", "a.b", "a/b", "a/c/d", "a/c/e/f", "a0", "ab"}},
		{"missing", 0, certKeys},
	}
	s := openPostgres(t)
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM certmagic_data`); err != nil { // a clean slate
				t.Fatal(err)
			}
			putKeys(t, s, certKeys...)
			n, err := s.DeleteCertData(ctx, tt.key)
			if err != nil || n != tt.n {
				t.Fatalf("DeleteCertData(%q) = %d, %v, want %d", tt.key, n, err, tt.n)
			}
			if left, _ := s.CertDataKeys(ctx, ""); !slices.Equal(left, tt.left) {
				t.Fatalf("after DeleteCertData(%q): %q left, want %q", tt.key, left, tt.left)
			}
		})
	}
}

func TestCertLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPostgres(t)
	const ttl = time.Minute

	must := func(ok bool, err error) bool {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !must(s.AcquireCertLock(ctx, "issue_cert_a", "node-1", ttl)) {
		t.Fatal("a free lock was not acquired")
	}
	if must(s.AcquireCertLock(ctx, "issue_cert_a", "node-2", ttl)) {
		t.Fatal("a held lock was acquired by another owner")
	}
	if must(s.AcquireCertLock(ctx, "issue_cert_a", "node-1", ttl)) {
		t.Fatal("a held lock was acquired again by its owner")
	}
	if !must(s.AcquireCertLock(ctx, "issue_cert_b", "node-2", ttl)) {
		t.Fatal("a lock of another name was not acquired")
	}
	if must(s.RefreshCertLock(ctx, "issue_cert_a", "node-2", ttl)) {
		t.Fatal("another owner refreshed the lock")
	}
	if !must(s.RefreshCertLock(ctx, "issue_cert_a", "node-1", ttl)) {
		t.Fatal("the owner could not refresh its lock")
	}
	if must(s.ReleaseCertLock(ctx, "issue_cert_a", "node-2")) {
		t.Fatal("another owner released the lock")
	}
	if must(s.AcquireCertLock(ctx, "issue_cert_a", "node-2", ttl)) {
		t.Fatal("the lock is free after another owner's release")
	}
	if !must(s.ReleaseCertLock(ctx, "issue_cert_a", "node-1")) {
		t.Fatal("the owner could not release its lock")
	}
	if must(s.ReleaseCertLock(ctx, "issue_cert_a", "node-1")) {
		t.Fatal("a lock was released twice")
	}
	if !must(s.AcquireCertLock(ctx, "issue_cert_a", "node-2", ttl)) {
		t.Fatal("a released lock was not acquired")
	}

	t.Run("expired", func(t *testing.T) {
		if !must(s.AcquireCertLock(ctx, "short", "dead", 200*time.Millisecond)) {
			t.Fatal("a free lock was not acquired")
		}
		if must(s.AcquireCertLock(ctx, "short", "node-2", ttl)) {
			t.Fatal("a lock was taken over before it expired")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !must(s.AcquireCertLock(ctx, "short", "node-2", ttl)) {
			if time.Now().After(deadline) {
				t.Fatal("an expired lock was not taken over")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if must(s.RefreshCertLock(ctx, "short", "dead", ttl)) || must(s.ReleaseCertLock(ctx, "short", "dead")) {
			t.Fatal("the former owner still holds the lock it let expire")
		}
		if !must(s.RefreshCertLock(ctx, "short", "node-2", ttl)) {
			t.Fatal("the new owner does not hold the lock")
		}
	})

	t.Run("race", func(t *testing.T) {
		const nodes = 16
		var (
			wg  sync.WaitGroup
			won = make(chan string, nodes)
		)
		for i := range nodes {
			wg.Go(func() {
				owner := fmt.Sprintf("node-%d", i)
				ok, err := s.AcquireCertLock(ctx, "raced", owner, ttl)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- owner
				}
			})
		}
		wg.Wait()
		close(won)
		if n := len(won); n != 1 {
			t.Fatalf("%d owners got the lock at once, want 1", n)
		}
	})
}

// TestCertDataNeedsPostgres checks that the certmagic methods say what
// they need on SQLite, which has no tables for them.
func TestCertDataNeedsPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, SQLite, filepath.Join(t.TempDir(), "proxyos.db"))
	_, err1 := s.CertData(ctx, "a")
	err2 := s.PutCertData(ctx, "a", nil)
	_, err3 := s.AcquireCertLock(ctx, "a", "b", time.Minute)
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrNeedsPostgres) {
			t.Errorf("on SQLite: %v, want ErrNeedsPostgres", err)
		}
	}
}

func TestCustomCertificates(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		c := CustomCertificate{ID: "c1", Name: "wild", Chain: "-----BEGIN CERTIFICATE-----", Key: "v1.k.sealed", CreatedBy: "ada", CreatedAt: at, UpdatedAt: at}
		before, _ := s.LastChange(ctx)
		if err := s.PutCustomCertificate(ctx, c, false); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCustomCertificate(ctx, c, false); err == nil {
			t.Fatal("a second certificate with the same id was stored")
		}
		c.Key, c.UpdatedAt = "v1.k.other", at.Add(time.Hour)
		if err := s.PutCustomCertificate(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		got, err := s.CustomCertificate(ctx, "c1")
		if err != nil || got.Key != "v1.k.other" || !got.UpdatedAt.Equal(at.Add(time.Hour)) || !got.CreatedAt.Equal(at) || got.CreatedBy != "ada" {
			t.Fatalf("after replace: %+v, %v", got, err)
		}
		if err := s.PutCustomCertificate(ctx, CustomCertificate{ID: "nope"}, true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("replacing a missing certificate: %v", err)
		}
		// The key is among the sealed values re-sealed on secret rotation.
		vals, err := s.SealedValues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var sealed Sealed
		for _, v := range vals {
			if v.Table == "custom_certificates" {
				sealed = v
			}
		}
		if ok, err := s.ReplaceSealed(ctx, sealed, "v1.k.fresh"); !ok || err != nil {
			t.Fatalf("ReplaceSealed(%+v) = %v, %v", sealed, ok, err)
		}
		if all, _ := s.CustomCertificates(ctx); len(all) != 1 || all[0].Key != "v1.k.fresh" {
			t.Fatalf("list %+v", all)
		}
		if err := s.DeleteCustomCertificate(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CustomCertificate(ctx, "c1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		changes, _ := s.ChangesAfter(ctx, before, 10)
		if len(changes) != 3 || changes[0].Kind != ChangeCertificate || changes[0].Entity != "c1" {
			t.Fatalf("changes %+v, want 3 of kind certificate", changes)
		}
	})
}
