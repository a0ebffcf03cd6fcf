package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/argon"
	"github.com/proxyos/caddy-proxyos/internal/request"
)

// A route token is "prt_<id>.<secret>": the id finds its row, the
// secret (32 random bytes) is checked against the argon2id hash stored
// there. As a basic-auth password it comes with the token's user name.
const tokenPrefix = "prt_"

// NewToken returns a new token and its id.
func NewToken() (token, id string) {
	var b [12 + 32]byte
	rand.Read(b[:])
	id = hex.EncodeToString(b[:12])
	return tokenPrefix + id + "." + base64.RawURLEncoding.EncodeToString(b[12:]), id
}

// TokenID returns the id of a token, or false when s is not shaped as
// one.
func TokenID(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok || len(id) != 24 || len(secret) != 43 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// HashToken returns the argon2id hash of token in modular-crypt form
// (see argon.Hash).
func HashToken(token string) string { return argon.Hash(token) }

// CheckToken reports whether token matches hash (from HashToken), in
// constant time.
func CheckToken(hash, token string) bool {
	ok, err := argon.Verify(hash, token)
	return ok && err == nil
}

// Verified remembers the tokens argon2id has accepted, so later
// requests with the same credential cost an HMAC and a map lookup. The
// key of an entry is an HMAC-SHA256 of route, user name and token under
// a key made for this process: the map holds no token, and nothing in
// it helps outside the process. Forget drops a token on revocation
// (also of another node, through the change log).
type Verified struct {
	key []byte

	mu  sync.RWMutex
	m   map[[32]byte]Holder
	gen uint64 // counts Forget calls
}

// Holder is who a verified token stands for.
type Holder struct {
	TokenID   string
	RouteID   string
	Name      string
	ExpiresAt time.Time // zero: never
	touched   time.Time
}

// Expired reports whether the token has expired at now.
func (h Holder) Expired(now time.Time) bool {
	return !h.ExpiresAt.IsZero() && !now.Before(h.ExpiresAt)
}

// maxVerified bounds the cache; past it, the cache starts over.
const maxVerified = 10000

// NewVerified returns an empty cache with a fresh key.
func NewVerified() *Verified {
	k := make([]byte, 32)
	rand.Read(k)
	return &Verified{key: k, m: make(map[[32]byte]Holder)}
}

// Sum returns the cache key of a credential.
func (v *Verified) Sum(routeID, user, token string) [32]byte {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(routeID))
	m.Write([]byte{0})
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(token))
	var s [32]byte
	m.Sum(s[:0])
	return s
}

// Lookup returns the holder of a verified credential.
func (v *Verified) Lookup(sum [32]byte) (Holder, bool) {
	v.mu.RLock()
	h, ok := v.m[sum]
	v.mu.RUnlock()
	return h, ok
}

// Gen returns the cache's generation: take it before reading a token
// from the store, and give it to Add.
func (v *Verified) Gen() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.gen
}

// Add remembers a verified credential, unless a token was forgotten
// since gen (it may be this one, revoked while it was being checked).
func (v *Verified) Add(sum [32]byte, h Holder, gen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen {
		return
	}
	if len(v.m) >= maxVerified {
		clear(v.m)
	}
	v.m[sum] = h
}

// Touched records when the holder's last use was written, and reports
// whether the previous write is older than every.
func (v *Verified) Touched(sum [32]byte, now time.Time, every time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, ok := v.m[sum]
	if !ok || now.Sub(h.touched) < every {
		return false
	}
	h.touched = now
	v.m[sum] = h
	return true
}

// Forget drops every credential of token id.
func (v *Verified) Forget(tokenID string) {
	v.mu.Lock()
	v.gen++
	for k, h := range v.m {
		if h.TokenID == tokenID {
			delete(v.m, k)
		}
	}
	v.mu.Unlock()
}

// ForgetAll empties the cache, for a node that missed changes.
func (v *Verified) ForgetAll() {
	v.mu.Lock()
	v.gen++
	clear(v.m)
	v.mu.Unlock()
}

// Failures counts failed token attempts per client IP (IPv6: per /64)
// over a window:
// past the limit, the IP's attempts are refused without checking, so a
// token cannot be guessed and argon2id cannot be turned against the CPU.
type Failures struct {
	Limit  int           // failures per window; default 10
	Window time.Duration // default 5 minutes

	mu sync.Mutex
	m  map[string]failureCount
}

type failureCount struct {
	n     int
	start time.Time
}

// maxFailureIPs bounds the IPs tracked; past it, windows that ended are
// dropped, and if none did, every count.
const maxFailureIPs = 100000

func (f *Failures) limits() (int, time.Duration) {
	n, w := f.Limit, f.Window
	if n <= 0 {
		n = 10
	}
	if w <= 0 {
		w = 5 * time.Minute
	}
	return n, w
}

// failureKey is what failures count against: an IPv4 address, or the
// /64 of an IPv6 address (see request.ClientNetworks).
func failureKey(ip string) string {
	n64, _, _ := request.ClientNetworks(ip)
	return n64
}

// Blocked reports whether ip has failed too often in the current
// window, and when it may try again.
func (f *Failures) Blocked(ip string, now time.Time) (bool, time.Duration) {
	limit, window := f.limits()
	ip = failureKey(ip)
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[ip]
	if !ok || now.Sub(c.start) >= window {
		return false, 0
	}
	return c.n >= limit, window - now.Sub(c.start)
}

// Fail counts a failed attempt of ip.
func (f *Failures) Fail(ip string, now time.Time) {
	_, window := f.limits()
	ip = failureKey(ip)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[string]failureCount)
	}
	if len(f.m) >= maxFailureIPs {
		for k, c := range f.m {
			if now.Sub(c.start) >= window {
				delete(f.m, k)
			}
		}
		if len(f.m) >= maxFailureIPs {
			clear(f.m)
		}
	}
	c := f.m[ip]
	if now.Sub(c.start) >= window {
		c = failureCount{start: now}
	}
	c.n++
	f.m[ip] = c
}
