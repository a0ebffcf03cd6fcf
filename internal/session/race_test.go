package session

import (
	"context"
	"errors"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// A session whose user changes while it is being created is not cached
// with the old state: the revocation of everything the user had, landing
// right after the insert, holds for the new session too.
func TestSessionCreateRacingRevocation(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	f.cache.afterInsert = func() {
		f.cache.afterInsert = nil
		ids, err := f.store.RevokeUserSessions(ctx, f.user.ID, "", f.clock.Now())
		if err != nil {
			t.Error(err)
		}
		f.cache.MarkRevoked(f.user.ID, ids)
	}
	cookie, _ := f.create(t)
	if _, reason := f.verify(t, cookie); reason != ReasonRevoked {
		t.Fatalf("session revoked while it was created: %q, want revoked", reason)
	}
}

// A logout landing between reading the parent session and storing the
// handoff session made from it must not leave that new session alive.
func TestHandoffRacingLogout(t *testing.T) {
	f := newSessionFixture(t)
	ctx := context.Background()
	parent, id := f.create(t)
	to := store.HandoffTarget{Scheme: "http", Host: "app.other.test", Port: 80}
	code, err := f.cache.IssueHandoff(ctx, id.SessionID, to, "browser-state")
	if err != nil {
		t.Fatal(err)
	}
	f.cache.afterInsert = func() {
		f.cache.afterInsert = nil
		e, reason := f.verify(t, parent)
		if reason != "" {
			t.Errorf("parent session: %q", reason)
			return
		}
		if err := f.cache.Revoke(ctx, e); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := f.cache.RedeemHandoff(ctx, f.ring, code, "browser-state", to, "192.0.2.1", "test"); !errors.Is(err, ErrHandoffInvalid) {
		t.Fatalf("redeeming while the parent is logged out: %v, want ErrHandoffInvalid", err)
	}
	ss, err := f.store.ListSessions(ctx, f.user.ID, f.clock.Now())
	if err != nil || len(ss) != 0 {
		t.Fatalf("%d sessions alive after the logout (%v): %+v", len(ss), err, ss)
	}
}
