package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238 and every authenticator app use HMAC-SHA1
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// TOTP parameters (RFC 6238 with the defaults every authenticator app
// supports): 6 digits, 30 s steps, HMAC-SHA1, one step of clock skew
// either way.
const (
	totpDigits     = 6
	totpPeriod     = 30 // seconds
	totpSkew       = 1  // steps
	totpSecretLen  = 20 // bytes, as RFC 4226 recommends
	totpIssuer     = "ProxyOS"
	recoveryCodes  = 10
	recoveryGroups = 4 // of 4 characters: 80 bits per code
)

// Second-factor errors. Login answers them as the reasons totp_required
// and totp_invalid.
var (
	ErrTOTPRequired = errors.New("a code from the authenticator app is required")
	ErrTOTPInvalid  = errors.New("the code is wrong or was used already")
	ErrTOTPEnabled  = errors.New("two-factor authentication is already on; turn it off first")
	ErrNoEnrolment  = errors.New("no two-factor set-up is in progress; start again")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpCode computes the code of secret for a time step (RFC 4226
// dynamic truncation).
func totpCode(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// TOTPCode returns the code an authenticator app shows for secret at t.
func TOTPCode(secret []byte, t time.Time) string { return totpCode(secret, totpStep(t)) }

// totpStep is the time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// matchTOTP returns the time step within the allowed skew whose code is
// code, or false. Every candidate is compared, in constant time.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0, false
	}
	cur := totpStep(now)
	var found int64
	ok := 0
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, s)), []byte(code)) == 1 {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}

// totpURI is the otpauth:// URI authenticator apps read from the QR code.
func totpURI(secret []byte, email string) string {
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(secret))
	q.Set("issuer", totpIssuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(totpPeriod))
	return "otpauth://totp/" + url.PathEscape(totpIssuer+":"+email) + "?" + q.Encode()
}

// qrDataURL renders s as a QR code PNG data URL, made here so no
// external service ever sees the secret.
func qrDataURL(s string) (string, error) {
	png, err := qrcode.Encode(s, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// newRecoveryCodes makes one-time codes like "k7p2-xq4m-…" (lower-case
// base32, 80 random bits) and their hashes. 80 bits make an unkeyed hash
// safe against guessing, so the codes survive any change of secret.
func newRecoveryCodes() (codes, hashes []string) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range recoveryCodes {
		raw := make([]byte, recoveryGroups*4*5/8)
		rand.Read(raw) //nolint:errcheck // never fails
		s := strings.ToLower(enc.EncodeToString(raw))
		var groups []string
		for i := 0; i < len(s); i += 4 {
			groups = append(groups, s[i:i+4])
		}
		code := strings.Join(groups, "-")
		codes = append(codes, code)
		hashes = append(hashes, recoveryHash(code))
	}
	return codes, hashes
}

// recoveryHash hashes a recovery code as typed: case, spaces and dashes do
// not matter.
func recoveryHash(code string) string {
	norm := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	sum := sha256.Sum256([]byte("proxyos recovery code v1:" + norm))
	return hex.EncodeToString(sum[:])
}

func totpContext(userID string) string { return "totp:" + userID }

// TOTPEnrolment is what a user needs to add proxyos to an authenticator
// app.
type TOTPEnrolment struct {
	Secret string `json:"secret"` // base32, for typing in
	URI    string `json:"uri"`    // otpauth://
	QR     string `json:"qr"`     // PNG data URL of URI
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
