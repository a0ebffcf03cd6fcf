package traffic

import (
	"sync"
	"time"
)

// The size of a route's request log: DefaultLogSize when the route sets
// none, MaxLogSize at most.
const (
	DefaultLogSize = 100
	MaxLogSize     = 1000
)

// maxPath bounds the path a log entry keeps.
const maxPath = 512

// Request is one entry of a route's request log. It never holds a query
// string (queries may carry tokens), a header, a cookie or a body.
type Request struct {
	Time       time.Time `json:"time"`
	ClientIP   string    `json:"client_ip"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	User       string    `json:"user,omitempty"` // the gate's user (email) or route token, if any
}

// Log is a route's last requests, a ring of fixed size.
type Log struct {
	mu      sync.Mutex
	entries []Request
	next    int  // where the next entry goes
	full    bool // entries wrapped around
}

// add records r, resizing the ring to size first if it has another.
func (l *Log) add(size int, r Request) {
	if len(r.Path) > maxPath {
		r.Path = r.Path[:maxPath]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) != size {
		l.resize(size)
	}
	l.entries[l.next] = r
	l.next++
	if l.next == len(l.entries) {
		l.next, l.full = 0, true
	}
}

// resize makes the ring hold size entries, keeping the newest.
func (l *Log) resize(size int) {
	kept := l.list()
	if len(kept) > size {
		kept = kept[:size]
	}
	l.entries = make([]Request, size)
	for i := range kept {
		l.entries[i] = kept[len(kept)-1-i]
	}
	l.next, l.full = len(kept)%size, len(kept) == size
}

// list returns the entries, newest first. l.mu is held.
func (l *Log) list() []Request {
	n := l.next
	if l.full {
		n = len(l.entries)
	}
	out := make([]Request, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.entries[(l.next-i+len(l.entries))%len(l.entries)])
	}
	return out
}

// Logs are the request logs of the routes that keep one, by route id.
type Logs struct {
	m sync.Map // id → *Log
}

// LogSize returns the size of a route's log for its setting n: the
// default for 0, bounded by MaxLogSize.
func LogSize(n int) int {
	if n <= 0 {
		return DefaultLogSize
	}
	return min(n, MaxLogSize)
}

// Record adds r to the log of route id, whose setting holds size
// entries (see LogSize).
func (ls *Logs) Record(id string, size int, r Request) {
	v, ok := ls.m.Load(id)
	if !ok {
		v, _ = ls.m.LoadOrStore(id, new(Log))
	}
	v.(*Log).add(LogSize(size), r)
}

// List returns the log of route id, newest first.
func (ls *Logs) List(id string) []Request {
	v, ok := ls.m.Load(id)
	if !ok {
		return []Request{}
	}
	l := v.(*Log)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list()
}

// Keep drops the logs of the routes for which keep returns false: those
// deleted or no longer logging.
func (ls *Logs) Keep(keep func(id string) bool) {
	ls.m.Range(func(k, _ any) bool {
		if id := k.(string); !keep(id) {
			ls.m.Delete(id)
		}
		return true
	})
}
