package account

import (
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1: the 8-digit values' last 6 digits are the
// 6-digit codes.
func TestTOTPCodeRFC6238(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		if got := totpCode(secret, totpStep(time.Unix(c.unix, 0))); got != c.want {
			t.Errorf("code at %d = %s, want %s", c.unix, got, c.want)
		}
	}
}

func TestMatchTOTPSkew(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := totpStep(now)
	for d := int64(-1); d <= 1; d++ {
		if step, ok := matchTOTP(secret, totpCode(secret, cur+d), now); !ok || step != cur+d {
			t.Errorf("code of step %+d: ok=%v step=%d", d, ok, step)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, ok := matchTOTP(secret, totpCode(secret, cur+d), now); ok {
			t.Errorf("code %d steps away accepted", d)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(totpURI(secret, "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("issuer") != totpIssuer || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("uri %s", u)
	}
	if got, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(q.Get("secret")); string(got) != string(secret) {
		t.Fatalf("secret in uri decodes to %q", got)
	}
	if !strings.Contains(u.Path, "ada@example.com") {
		t.Fatalf("uri path %q does not name the account", u.Path)
	}
}
