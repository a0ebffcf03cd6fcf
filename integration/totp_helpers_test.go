package integration

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RFC 6238 uses HMAC-SHA1
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

// totpPeriod is the TOTP time step of RFC 6238, of the server and of
// every authenticator app, in seconds.
const totpPeriod = 30

// totpAt computes the code of a base32 TOTP secret (as the enrolment
// shows it, spaces and padding allowed) for a time step, as an
// authenticator app does: HMAC-SHA1 of the big-endian step, dynamic
// truncation (RFC 4226), 6 digits. Written from the RFCs, independent of
// the server's code; TestTOTPAtRFC6238 checks it against the RFC.
func totpAt(t testing.TB, secret string, step int64) string {
	t.Helper()
	s := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(key) == 0 {
		t.Fatalf("the TOTP secret %q is not base32: %v", secret, err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// totpNow is the TOTP time step of now.
func totpNow() int64 { return time.Now().Unix() / totpPeriod }

// TestTOTPAtRFC6238 checks the tests' code generator against RFC 6238
// appendix B (SHA-1; the last 6 of its 8 digits).
func TestTOTPAtRFC6238(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		if got := totpAt(t, secret, unix/totpPeriod); got != want {
			t.Errorf("code at %d = %s, want %s", unix, got, want)
		}
	}
}
