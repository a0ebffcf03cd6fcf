package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func auditFixture(t *testing.T, s *Store, base time.Time) []int64 {
	t.Helper()
	entries := []AuditEntry{
		{Actor: "alice@example.com", ActorKind: "user", Action: "login", Target: "alice@example.com", Outcome: "success"},
		{Actor: "anonymous", ActorKind: "user", Action: "login", Target: "bob@example.com", Outcome: "failure", Reason: "bad_credentials"},
		{Actor: "admin API", ActorKind: "admin_api", Action: "route.create", Target: "r1", Outcome: "success",
			Details: json.RawMessage(`{"after":{"name":"grafana"}}`)},
		{Actor: "alice@example.com", ActorKind: "user", Action: "route.update", Target: "r1", Outcome: "success", ClientIP: "192.0.2.7"},
		{Actor: "alice@example.com", ActorKind: "user", Action: "logout", Target: "alice@example.com", Outcome: "success"},
	}
	var ids []int64
	for i, e := range entries {
		e.At = base.Add(time.Duration(i) * time.Hour)
		id, err := s.AddAudit(context.Background(), e)
		if err != nil {
			t.Fatalf("AddAudit: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

func auditIDs(es []AuditEntry) []int64 {
	out := make([]int64, 0, len(es))
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestListAudit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		ids := auditFixture(t, s, base)
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("ids not increasing: %v", ids)
			}
		}
		for _, tt := range []struct {
			name   string
			f      AuditFilter
			limit  int
			before int64
			want   []int64
		}{
			{"all newest first", AuditFilter{}, 10, 0, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"limit", AuditFilter{}, 2, 0, []int64{ids[4], ids[3]}},
			{"next page", AuditFilter{}, 2, ids[3], []int64{ids[2], ids[1]}},
			{"last page", AuditFilter{}, 2, ids[1], []int64{ids[0]}},
			{"actor", AuditFilter{Actor: "alice@example.com"}, 10, 0, []int64{ids[4], ids[3], ids[0]}},
			{"action", AuditFilter{Action: "login"}, 10, 0, []int64{ids[1], ids[0]}},
			{"target", AuditFilter{Target: "r1"}, 10, 0, []int64{ids[3], ids[2]}},
			{"since", AuditFilter{Since: base.Add(3 * time.Hour)}, 10, 0, []int64{ids[4], ids[3]}},
			{"until", AuditFilter{Until: base.Add(time.Hour)}, 10, 0, []int64{ids[1], ids[0]}},
			{"combined", AuditFilter{Actor: "alice@example.com", Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, 10, 0, []int64{ids[3]}},
			{"nothing", AuditFilter{Actor: "mallory"}, 10, 0, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListAudit(ctx, tt.f, tt.limit, tt.before)
				if err != nil {
					t.Fatalf("ListAudit: %v", err)
				}
				if g := auditIDs(got); fmt.Sprint(g) != fmt.Sprint(tt.want) && !(len(g) == 0 && len(tt.want) == 0) {
					t.Errorf("ids = %v, want %v", g, tt.want)
				}
			})
		}

		got, err := s.ListAudit(ctx, AuditFilter{Target: "r1", Action: "route.create"}, 1, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("ListAudit(route.create) = %v, %v", got, err)
		}
		e := got[0]
		if !e.At.Equal(base.Add(2*time.Hour)) || e.Actor != "admin API" || e.ActorKind != "admin_api" ||
			e.Outcome != "success" || string(e.Details) != `{"after":{"name":"grafana"}}` {
			t.Errorf("entry read back as %+v", e)
		}
		got, _ = s.ListAudit(ctx, AuditFilter{Action: "route.update"}, 1, 0)
		if len(got) != 1 || got[0].ClientIP != "192.0.2.7" || got[0].Details != nil {
			t.Errorf("route.update entry = %+v, want client IP and no details", got)
		}
	})
}

func TestPruneAudit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		ids := auditFixture(t, s, base)
		n, err := s.PruneAudit(ctx, base.Add(2*time.Hour))
		if err != nil {
			t.Fatalf("PruneAudit: %v", err)
		}
		if n != 2 {
			t.Errorf("PruneAudit removed %d, want 2", n)
		}
		got, err := s.ListAudit(ctx, AuditFilter{}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if g := auditIDs(got); fmt.Sprint(g) != fmt.Sprint([]int64{ids[4], ids[3], ids[2]}) {
			t.Errorf("after prune ids = %v, want the three newest", g)
		}
	})
}
