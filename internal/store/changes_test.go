package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// changesSince returns kind:entity of the changes after seq.
func changesSince(t *testing.T, s *Store, seq int64) []string {
	t.Helper()
	cs, err := s.ChangesAfter(context.Background(), seq, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, c := range cs {
		if c.Origin != s.Origin() {
			t.Errorf("change %d has origin %q, want %q", c.Seq, c.Origin, s.Origin())
		}
		if i > 0 && c.Seq <= cs[i-1].Seq {
			t.Errorf("changes out of order: %d after %d", c.Seq, cs[i-1].Seq)
		}
		out = append(out, c.Kind+":"+c.Entity)
	}
	return out
}

// Every write that another node keeps in memory is in the change log,
// with the entity it touched, in the order of the writes; failed writes
// and writes that change nothing leave no entry.
func TestChangeLogRecordsWrites(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.SetOrigin("node-a")
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		step := func(name string, want []string, f func() error) {
			t.Helper()
			last, err := s.LastChange(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := changesSince(t, s, last); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: changes %v, want %v", name, got, want)
			}
		}
		u := testUser("u1", "ada@example.com")
		step("create user", []string{"user:u1"}, func() error { return s.CreateUser(ctx, u) })
		step("create first user (refused)", nil, func() error {
			if err := s.CreateFirstUser(ctx, testUser("u0", "zed@example.com")); err != ErrConflict {
				return fmt.Errorf("CreateFirstUser = %v, want ErrConflict", err)
			}
			return nil
		})
		bob := testUser("u2", "bob@example.com")
		bob.Role = "viewer"
		step("create a second user", []string{"user:u2"}, func() error { return s.CreateUser(ctx, bob) })
		u.Role = "viewer"
		step("update user", []string{"user:u1"}, func() error { return s.UpdateUser(ctx, u) })
		step("update user keeping an admin", []string{"user:u1"}, func() error { return s.UpdateUserKeepingAdmin(ctx, u) })
		step("create sessions", []string{"session:s1", "session:s2"}, func() error {
			for _, id := range []string{"s1", "s2"} {
				if err := s.CreateSession(ctx, testSession(id, u.ID, at)); err != nil {
					return err
				}
			}
			return nil
		})
		step("revoke a session", []string{"session:s1"}, func() error { _, err := s.RevokeSession(ctx, "s1", at); return err })
		step("revoke it again", nil, func() error { _, err := s.RevokeSession(ctx, "s1", at); return err })
		step("revoke a user's sessions", []string{"session:s2"}, func() error {
			_, err := s.RevokeUserSessions(ctx, u.ID, "", at)
			return err
		})
		step("enable TOTP", []string{"user:u1"}, func() error {
			if err := s.SetTOTPPending(ctx, u.ID, "sealed"); err != nil {
				return err
			}
			return s.EnableTOTP(ctx, u.ID, "sealed", 1, []string{"h"})
		})
		step("disable TOTP", []string{"user:u1"}, func() error { return s.DisableTOTP(ctx, u.ID) })
		step("set a user's OIDC groups", []string{"user:u1"}, func() error {
			if err := s.SetUserGroups(ctx, u.ID, []string{"ops", "dev team"}); err != nil {
				return err
			}
			got, err := s.UserByID(ctx, u.ID)
			if err != nil || strings.Join(got.Groups, "|") != "ops|dev team" {
				return fmt.Errorf("stored groups %q, %v", got.Groups, err)
			}
			return nil
		})
		step("a group with a line break is refused", nil, func() error {
			if err := s.SetUserGroups(ctx, u.ID, []string{"ops\nadmins"}); err == nil {
				return fmt.Errorf("stored a group with a line break")
			}
			return nil
		})
		k := APIKey{ID: "k1", UserID: u.ID, Name: "ci", Scopes: []string{"routes:read"}, Digest: "d", CreatedAt: at}
		step("create key", []string{"api_key:k1"}, func() error { return s.CreateAPIKey(ctx, k) })
		step("revoke key", []string{"api_key:k1"}, func() error { _, err := s.RevokeAPIKey(ctx, "k1", at); return err })
		step("revoke it again", nil, func() error { _, err := s.RevokeAPIKey(ctx, "k1", at); return err })
		k.ID = "k2"
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		step("revoke a user's keys", []string{"api_key:k2"}, func() error { _, err := s.RevokeUserAPIKeys(ctx, u.ID, at); return err })
		step("put route", []string{"route:r1"}, func() error {
			return s.PutRoute(ctx, rtuRoute("r1", 1, "a.example.com"), 0, "create", "ada", nil)
		})
		step("put route refused by its check", nil, func() error {
			err := s.PutRoute(ctx, rtuRoute("r1", 2, "a.example.com"), 1, "update", "ada", func() error { return fmt.Errorf("refused") })
			if err == nil {
				return fmt.Errorf("the check's refusal was not returned")
			}
			return nil
		})
		step("delete route", []string{"route:r1"}, func() error { return s.DeleteRoute(ctx, "r1", 1, "ada", at) })
		step("delete user", []string{"user:u2"}, func() error { return s.DeleteUser(ctx, "u2") })
		step("make u1 admin, then delete the last admin (refused)", []string{"user:u1"}, func() error {
			u.Role = "admin"
			if err := s.UpdateUser(ctx, u); err != nil {
				return err
			}
			last, _ := s.LastChange(ctx)
			if err := s.DeleteUser(ctx, u.ID); err != ErrLastAdmin {
				return fmt.Errorf("DeleteUser = %v, want ErrLastAdmin", err)
			}
			if got := changesSince(t, s, last); len(got) != 0 {
				return fmt.Errorf("a refused deletion recorded %v", got)
			}
			return nil
		})
	})
}

// A handoff that replaces the token of a host's session is a change:
// other nodes drop the old token.
func TestChangeLogRecordsReplacedHandoffToken(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		u := testUser("u1", "ada@example.com")
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, testSession("p", u.ID, at)); err != nil {
			t.Fatal(err)
		}
		child := testSession("c1", u.ID, at)
		child.ParentID, child.Host = "p", "app.test"
		if _, _, err := s.SaveChildSession(ctx, child); err != nil {
			t.Fatal(err)
		}
		last, _ := s.LastChange(ctx)
		child.ID, child.TokenHash = "c2", "other-token"
		id, replaced, err := s.SaveChildSession(ctx, child)
		if err != nil || id != "c1" || replaced == "" {
			t.Fatalf("second handoff: %q %q %v", id, replaced, err)
		}
		if got := changesSince(t, s, last); strings.Join(got, " ") != "session:c1" {
			t.Fatalf("changes %v, want session:c1", got)
		}
	})
}

// Attack on the feed's promise (a node that read up to seq n has seen
// every change up to n): a change whose transaction commits after a
// later seq was read would be skipped for good. Writers hold the
// change-log lock from adding their row to commit, so while one writer
// is between the two, no later seq can commit and a reader sees nothing
// past it.
func TestChangeLogSeqsCommitInOrder(t *testing.T) {
	s := openStore(t, Postgres, postgresDB(t))
	ctx := context.Background()
	if err := s.CreateUser(ctx, testUser("u1", "ada@example.com")); err != nil {
		t.Fatal(err)
	}
	start, _ := s.LastChange(ctx)

	inCommit, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	s.beforeCommit = func() {
		if first.CompareAndSwap(false, true) { // only the first writer waits
			close(inCommit)
			<-release
		}
	}
	slow := make(chan error, 1)
	go func() { slow <- s.CreateSession(ctx, testSession("slow", "u1", time.Now())) }()
	<-inCommit // the slow writer has its row, uncommitted

	fast := make(chan error, 1)
	go func() { fast <- s.CreateSession(ctx, testSession("fast", "u1", time.Now())) }()
	select {
	case err := <-fast:
		t.Fatalf("a second writer committed (%v) while the first held its change uncommitted", err)
	case <-time.After(300 * time.Millisecond):
	}
	if got := changesSince(t, s, start); len(got) != 0 {
		t.Fatalf("a reader sees %v while the first change is uncommitted", got)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if err := <-fast; err != nil {
		t.Fatal(err)
	}
	if got := changesSince(t, s, start); strings.Join(got, " ") != "session:slow session:fast" {
		t.Fatalf("changes %v, want the slow writer's first", got)
	}
}

// Pruning drops old changes but keeps the last one, from which a node
// that starts later reads; FirstChange tells a node that fell further
// behind than the log reaches.
func TestPruneChanges(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i := range 3 {
			if err := s.CreateUser(ctx, testUser(fmt.Sprint("u", i), fmt.Sprintf("u%d@example.com", i))); err != nil {
				t.Fatal(err)
			}
		}
		last, _ := s.LastChange(ctx)
		if n, err := s.PruneChanges(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("PruneChanges = %d, %v; want 2 (all but the last)", n, err)
		}
		first, _ := s.FirstChange(ctx)
		if l, _ := s.LastChange(ctx); first != last || l != last {
			t.Fatalf("after pruning: first %d last %d, want both %d", first, l, last)
		}
		if n, _ := s.PruneChanges(ctx, time.Now().Add(-time.Hour)); n != 0 {
			t.Fatalf("pruned %d recent changes", n)
		}
	})
}

// A node refuses to start against a database that a newer proxyos
// migrated, naming both versions, and leaves it as it is.
func TestNewerSchemaRefused(t *testing.T) {
	forEachDSN(t, func(t *testing.T, driver, dsn string) {
		s := openStore(t, driver, dsn)
		ctx := context.Background()
		known, _ := s.SchemaVersion(ctx)
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO proxyos_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			known+1, "from the future", 0); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, driver, dsn)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", known+1)) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", known)) {
			t.Fatalf("Open of a newer schema: %v, want an error naming versions %d and %d", err, known+1, known)
		}
		if v, _ := s.SchemaVersion(ctx); v != known+1 {
			t.Fatalf("schema version %d after the refusal, want %d", v, known+1)
		}
	})
}

// Nodes report themselves; the list shows the latest report of each and
// forgets nodes long gone.
func TestNodes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		a := Node{ID: "a", Name: "web-1", Version: "v1", StartedAt: t0, LastSeen: t0, LastSeq: 3}
		b := Node{ID: "b", Name: "web-2", Version: "v1", StartedAt: t0, LastSeen: t0.Add(time.Second), LastSeq: 1}
		for _, n := range []Node{a, b} {
			if err := s.Heartbeat(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		a.LastSeen, a.LastSeq = t0.Add(time.Minute), 7
		if err := s.Heartbeat(ctx, a); err != nil {
			t.Fatal(err)
		}
		ns, err := s.ListNodes(ctx)
		if err != nil || len(ns) != 2 || ns[0].ID != "a" || ns[0].LastSeq != 7 || !ns[0].LastSeen.Equal(a.LastSeen) || ns[1].ID != "b" {
			t.Fatalf("nodes %+v, %v", ns, err)
		}
		if n, err := s.PruneNodes(ctx, t0.Add(30*time.Second)); err != nil || n != 1 {
			t.Fatalf("PruneNodes = %d, %v; want 1", n, err)
		}
		// web-1 restarted: its previous run goes, another node of the
		// same name still reporting stays.
		twin := Node{ID: "a2", Name: "web-1", Version: "v1", StartedAt: t0, LastSeen: t0.Add(2 * time.Minute)}
		if err := s.Heartbeat(ctx, twin); err != nil {
			t.Fatal(err)
		}
		restarted := Node{ID: "a3", Name: "web-1", Version: "v2", StartedAt: t0.Add(90 * time.Second), LastSeen: t0.Add(3 * time.Minute)}
		if err := s.Heartbeat(ctx, restarted); err != nil {
			t.Fatal(err)
		}
		ns, _ = s.ListNodes(ctx)
		var ids []string
		for _, n := range ns {
			ids = append(ids, n.ID)
		}
		if strings.Join(ids, " ") != "a3 a2" {
			t.Fatalf("nodes after web-1 restarted: %v, want a3 and the twin a2 (still reporting after a3 started), not a", ids)
		}
	})
}
