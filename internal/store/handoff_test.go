package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestHandoffCodesAndChildSessions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		// Rows as a node of schema 5 wrote them (no change log yet).
		u := testUser("u1", "ada@example.com")
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
			t.Fatal(err)
		}
		sess := func(id, parent, host string) Session {
			return Session{ID: id, TokenHash: "h-" + id, UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastSeenAt: at,
				ParentID: parent, Host: host}
		}
		for _, ss := range []Session{sess("p", "", ""), sess("c1", "p", "a.test"), sess("c2", "p", "b.test"), sess("other", "", "")} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		if su, err := s.SessionByTokenHash(ctx, "h-c1"); err != nil || su.ParentID != "p" || su.Host != "a.test" {
			t.Fatalf("child session read back as %+v, %v", su, err)
		}

		a := HandoffTarget{Scheme: "https", Host: "a.test", Port: 443}
		if err := s.CreateHandoff(ctx, "code1", "p", a, "st", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemHandoff(ctx, "code1", HandoffTarget{Scheme: "https", Host: "b.test", Port: 443}, "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code on another host: %v", err)
		}
		if _, err := s.RedeemHandoff(ctx, "code1", a, "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code after a try on another host: %v, want it spent", err)
		}
		s.CreateHandoff(ctx, "code2", "p", a, "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		if _, err := s.RedeemHandoff(ctx, "code2", a, "st", at.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		s.CreateHandoff(ctx, "code5", "p", a, "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		if _, err := s.RedeemHandoff(ctx, "code5", a, "other state", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code with another browser's state: %v", err)
		}
		s.CreateHandoff(ctx, "code3", "p", a, "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		su, err := s.RedeemHandoff(ctx, "code3", a, "st", at)
		if err != nil || su.ID != "p" || su.Email != u.Email || !su.ExpiresAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("RedeemHandoff = %+v, %v", su, err)
		}
		if _, err := s.RedeemHandoff(ctx, "code3", a, "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code used twice: %v", err)
		}

		// "Log out everywhere else" keeps the current session's handoffs.
		ids, err := s.RevokeUserSessions(ctx, u.ID, "p", at)
		if err != nil || !slices.Equal(ids, []string{"other"}) {
			t.Fatalf("RevokeUserSessions except p = %v, %v; want only other", ids, err)
		}
		// Revoking a session ends its handoffs.
		ids, err = s.RevokeSession(ctx, "p", at)
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"c1", "c2", "p"}) {
			t.Fatalf("RevokeSession(p) = %v, %v; want p and its handoffs", ids, err)
		}
		s.CreateHandoff(ctx, "code4", "p", a, "st", at.Add(time.Minute)) //nolint:errcheck // pruned below
		if _, err := s.PruneSessions(ctx, at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemHandoff(ctx, "code4", a, "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pruned code still redeems: %v", err)
		}
	})
}

// Attack: a handoff code sent to another port of its host. A return URL
// naming http://app.test:4444 must not get a code that the route's real
// port (or scheme) accepts: the code works only where it was issued for.
func TestHandoffCodeBoundToSchemeAndPort(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		// Rows as a node of schema 5 wrote them (no change log yet).
		u := testUser("u1", "ada@example.com")
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, Session{ID: "p", TokenHash: "h-p", UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastSeenAt: at}); err != nil {
			t.Fatal(err)
		}
		issued := HandoffTarget{Scheme: "http", Host: "app.test", Port: 4444}
		for name, presented := range map[string]HandoffTarget{
			"another port":   {Scheme: "http", Host: "app.test", Port: 80},
			"another scheme": {Scheme: "https", Host: "app.test", Port: 4444},
		} {
			code := "code " + name
			if err := s.CreateHandoff(ctx, code, "p", issued, "st", at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RedeemHandoff(ctx, code, presented, "st", at); !errors.Is(err, ErrNotFound) {
				t.Errorf("code for %+v presented at %s %+v: %v, want ErrNotFound", issued, name, presented, err)
			}
			if _, err := s.RedeemHandoff(ctx, code, issued, "st", at); !errors.Is(err, ErrNotFound) {
				t.Errorf("code after a try at %s: %v, want it spent", name, err)
			}
		}
		if err := s.CreateHandoff(ctx, "good", "p", issued, "st", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if su, err := s.RedeemHandoff(ctx, "good", issued, "st", at); err != nil || su.ID != "p" {
			t.Fatalf("code at its own scheme, host and port: %+v, %v", su, err)
		}
	})
}

// Attack: minting sessions without bound. Handing a login off again to
// the same host gives the parent's one handoff session on that host a new
// token (the old one stops working) instead of adding a session.
func TestSaveChildSessionReuses(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		// Rows as a node of schema 5 wrote them (no change log yet).
		u := testUser("u1", "ada@example.com")
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, Session{ID: "p", TokenHash: "h-p", UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastSeenAt: at}); err != nil {
			t.Fatal(err)
		}
		child := func(id, token, host string, seen time.Time) Session {
			return Session{ID: id, TokenHash: token, UserID: u.ID, CreatedAt: seen, ExpiresAt: at.Add(time.Hour), LastSeenAt: seen,
				ClientIP: "192.0.2.1", UserAgent: "ua " + id, ParentID: "p", Host: host}
		}
		id, replaced, err := s.SaveChildSession(ctx, child("c1", "h-c1", "a.test", at))
		if err != nil || id != "c1" || replaced != "" {
			t.Fatalf("first handoff to a.test: %q %q %v, want a new session c1", id, replaced, err)
		}
		id, replaced, err = s.SaveChildSession(ctx, child("c2", "h-c2", "a.test", at.Add(time.Minute)))
		if err != nil || id != "c1" || replaced != "h-c1" {
			t.Fatalf("second handoff to a.test: %q %q %v, want c1 with its token h-c1 replaced", id, replaced, err)
		}
		if _, err := s.SessionByTokenHash(ctx, "h-c1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the replaced token still finds a session: %v", err)
		}
		su, err := s.SessionByTokenHash(ctx, "h-c2")
		if err != nil || su.ID != "c1" || su.UserAgent != "ua c2" || !su.LastSeenAt.Equal(at.Add(time.Minute)) || !su.CreatedAt.Equal(at) {
			t.Errorf("reused session: %+v, %v", su, err)
		}
		if id, replaced, err := s.SaveChildSession(ctx, child("c3", "h-c3", "b.test", at)); err != nil || id != "c3" || replaced != "" {
			t.Errorf("handoff to another host: %q %q %v, want a session of its own", id, replaced, err)
		}
		ss, err := s.ListSessions(ctx, u.ID, at)
		if err != nil || len(ss) != 3 {
			t.Fatalf("sessions after three handoffs to two hosts: %d (%v), want the parent and two", len(ss), err)
		}
		// A revoked handoff session is not revived: the next handoff
		// makes a new one.
		if _, err := s.RevokeSession(ctx, "c1", at); err != nil {
			t.Fatal(err)
		}
		if id, replaced, err := s.SaveChildSession(ctx, child("c4", "h-c4", "a.test", at)); err != nil || id != "c4" || replaced != "" {
			t.Errorf("handoff after the host's session was revoked: %q %q %v, want a new session", id, replaced, err)
		}
	})
}

// Attack: filling the sessions table through one account. A user keeps
// at most the cap of active sessions; the least recently used beyond it
// are revoked with their handoff sessions, never the ones kept.
func TestCapUserSessions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		u, other := testUser("u1", "ada@example.com"), testUser("u2", "bob@example.com")
		for _, x := range []User{u, other} {
			if err := s.CreateUser(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		sess := func(id, user, parent, host string, seen time.Time) Session {
			return Session{ID: id, TokenHash: "h-" + id, UserID: user, CreatedAt: seen, ExpiresAt: at.Add(time.Hour), LastSeenAt: seen,
				ParentID: parent, Host: host}
		}
		// s0 is the least recently used, s5 the most; k (kept) older still.
		all := []Session{sess("k", u.ID, "", "", at.Add(-time.Hour)), sess("o", other.ID, "", "", at.Add(-2*time.Hour))}
		for i := range 6 {
			all = append(all, sess(fmt.Sprintf("s%d", i), u.ID, "", "", at.Add(time.Duration(i)*time.Minute)))
		}
		all = append(all, sess("s0-child", u.ID, "s0", "a.test", at.Add(time.Hour/2)))
		for _, ss := range all {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		if ids, err := s.CapUserSessions(ctx, u.ID, 8, nil, at); err != nil || len(ids) != 0 {
			t.Fatalf("8 sessions with a cap of 8: revoked %v, %v", ids, err)
		}
		ids, err := s.CapUserSessions(ctx, u.ID, 5, []string{"k"}, at)
		slices.Sort(ids)
		// kept: k, s5, s4, s3; s0-child is within the cap but ends with s0
		if want := []string{"s0", "s0-child", "s1", "s2"}; err != nil || !slices.Equal(ids, want) {
			t.Fatalf("cap of 5 keeping k: revoked %v, %v; want %v", ids, err, want)
		}
		active, err := s.ListSessions(ctx, u.ID, at)
		if err != nil || len(active) != 4 {
			t.Errorf("active sessions after the cap: %d (%v), want 4", len(active), err)
		}
		if active, _ := s.ListSessions(ctx, other.ID, at); len(active) != 1 {
			t.Errorf("another user's sessions: %d, want 1 (untouched)", len(active))
		}
	})
}

// TestMigrationDedupesChildSessions upgrades a database that holds
// several active handoff sessions of one parent on one host (as before
// 0006): the newest stays, the others are revoked, and the upgrade does
// not fail on the new unique index.
func TestMigrationDedupesChildSessions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDSN(t, func(t *testing.T, driver, dsn string) {
		name, open := "pgx", dsn
		if driver == SQLite {
			name, open = "sqlite", sqliteDSN(dsn)
		}
		db, err := sql.Open(name, open)
		if err != nil {
			t.Fatal(err)
		}
		s := &Store{db: db, driver: driver}
		t.Cleanup(func() { s.Close() })
		if err := s.createMigrationsTable(ctx); err != nil {
			t.Fatal(err)
		}
		ms, err := s.migrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.version < 6 {
				if err := s.apply(ctx, m); err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
			}
		}
		// Rows as a node of schema 5 wrote them (no change log yet).
		u := testUser("u1", "ada@example.com")
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"p", "c-old", "c-new", "c-other-host"} {
			ss := Session{ID: id, TokenHash: "h-" + id, UserID: u.ID, CreatedAt: at.Add(time.Duration(i) * time.Minute),
				ExpiresAt: at.Add(time.Hour), LastSeenAt: at}
			if id != "p" {
				ss.ParentID, ss.Host = "p", "a.test"
			}
			if id == "c-other-host" {
				ss.Host = "b.test"
			}
			if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sessions
				(id, token_hash, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent, parent_id, host)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				ss.ID, ss.TokenHash, ss.UserID, millis(ss.CreatedAt), millis(ss.ExpiresAt), millis(ss.LastSeenAt), ss.ClientIP, ss.UserAgent,
				ss.ParentID, ss.Host); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.migrate(ctx); err != nil {
			t.Fatalf("migrating a database with duplicate handoff sessions: %v", err)
		}
		active, err := s.ListSessions(ctx, u.ID, at)
		var ids []string
		for _, ss := range active {
			ids = append(ids, ss.ID)
		}
		slices.Sort(ids)
		if want := []string{"c-new", "c-other-host", "p"}; err != nil || !slices.Equal(ids, want) {
			t.Fatalf("active sessions after the upgrade: %v (%v), want %v", ids, err, want)
		}
	})
}
