package audit

import (
	"sync"
	"time"
)

// budget bounds the audit entries that clients who are not logged
// in can cause (failed logins and setups, locks), whatever the number of
// networks they come from: beyond it, entries are only counted, and the
// count is recorded once per maintenance interval.
type budget struct {
	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// Anonymous audit entries: at most anonAuditBurst at once, refilled at
// anonAuditPerSecond.
const (
	anonAuditBurst     = 600
	anonAuditPerSecond = 5
)

// allow takes one entry from the budget, or counts it as suppressed.
func (b *budget) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = anonAuditBurst
	} else {
		b.tokens = min(anonAuditBurst, b.tokens+now.Sub(b.last).Seconds()*anonAuditPerSecond)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	b.suppressed++
	return false
}

// takeSuppressed returns and resets the count of suppressed entries.
func (b *budget) takeSuppressed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.suppressed
	b.suppressed = 0
	return n
}
