package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
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
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
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

// The reasons of a refused second factor.
const (
	ReasonTOTPRequired Reason = "totp_required"
	ReasonTOTPInvalid  Reason = "totp_invalid"
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

// BeginTOTP starts an enrolment: a new secret is stored sealed as pending
// until ConfirmTOTP. It fails with ErrTOTPEnabled when TOTP is on.
func (a *App) BeginTOTP(ctx context.Context, u store.User) (TOTPEnrolment, error) {
	t, err := a.state.store.UserTOTP(ctx, u.ID)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret != "" {
		return TOTPEnrolment{}, ErrTOTPEnabled
	}
	secret := make([]byte, totpSecretLen)
	rand.Read(secret) //nolint:errcheck // never fails
	sealed, err := a.keyring.Seal(secret, totpContext(u.ID))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if err := a.state.store.SetTOTPPending(ctx, u.ID, sealed); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("storing two-factor set-up: %w", err)
	}
	uri := totpURI(secret, u.Email)
	qr, err := qrDataURL(uri)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("rendering QR code: %w", err)
	}
	return TOTPEnrolment{Secret: b32.EncodeToString(secret), URI: uri, QR: qr}, nil
}

// ConfirmTOTP turns TOTP on when code matches the pending secret, and
// returns new recovery codes (shown once; only hashes are stored).
func (a *App) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	t, err := a.state.store.UserTOTP(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret != "" {
		return nil, ErrTOTPEnabled
	}
	if t.Pending == "" {
		return nil, ErrNoEnrolment
	}
	secret, err := a.keyring.Open(t.Pending, totpContext(userID))
	if err != nil {
		return nil, ErrNoEnrolment
	}
	step, ok := matchTOTP(secret, code, a.now())
	if !ok {
		return nil, &FieldError{"code", "wrong code; check the device's clock and try the current code"}
	}
	codes, hashes := newRecoveryCodes()
	if err := a.state.store.EnableTOTP(ctx, userID, t.Pending, step, hashes); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoEnrolment
	} else if err != nil {
		return nil, fmt.Errorf("storing two-factor state: %w", err)
	}
	return codes, nil
}

// checkSecondFactor checks a TOTP code, or a recovery code, for a user
// with TOTP on. A code is accepted once: its time step, and every earlier
// one, is spent; a recovery code is spent. It returns nil when the user
// has TOTP off.
func (a *App) checkSecondFactor(ctx context.Context, userID, code string) error {
	t, err := a.state.store.UserTOTP(ctx, userID)
	if err != nil {
		return fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret == "" {
		return nil
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return ErrTOTPRequired
	}
	if len(code) > 64 {
		return ErrTOTPInvalid
	}
	if isDigits(strings.ReplaceAll(code, " ", "")) {
		secret, err := a.keyring.Open(t.Secret, totpContext(userID))
		if err != nil {
			var uk *keyring.UnknownKeyError
			if errors.As(err, &uk) {
				a.logger.Error("a TOTP secret is sealed with a key that is not configured; reset the user's TOTP (caddy proxyos user reset-password --reset-totp) or add the old secret to previous_secrets",
					zap.String("user_id", userID), zap.String("key_id", uk.KeyID))
			}
			return ErrTOTPInvalid
		}
		step, ok := matchTOTP(secret, code, a.now())
		if !ok || step <= t.LastStep {
			return ErrTOTPInvalid
		}
		used, err := a.state.store.UseTOTPStep(ctx, userID, step)
		if err != nil {
			return fmt.Errorf("storing two-factor state: %w", err)
		}
		if !used {
			return ErrTOTPInvalid // a parallel request spent this step first
		}
		return nil
	}
	used, err := a.state.store.UseRecoveryCode(ctx, userID, recoveryHash(code), a.now())
	if err != nil {
		return fmt.Errorf("storing two-factor state: %w", err)
	}
	if !used {
		return ErrTOTPInvalid
	}
	a.logger.Info("recovery code used", zap.String("user_id", userID))
	return nil
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

// resealAll re-seals every stored value sealed with a previous key with
// the current one, so that the previous secret can be dropped later
// without losing TOTP secrets or API keys. Values sealed with a key that
// is not configured at all are left alone and logged.
func (a *App) resealAll(ctx context.Context) {
	vals, err := a.state.store.SealedValues(ctx)
	if err != nil {
		a.logger.Error("listing sealed values to re-seal", zap.Error(err))
		return
	}
	moved := 0
	for _, v := range vals {
		sealCtx := totpContext(v.ID)
		if v.Table == "api_keys" {
			sealCtx = apiKeyContext(v.ID)
		}
		fresh, err := a.keyring.ResealIfOld(v.Value, sealCtx)
		var uk *keyring.UnknownKeyError
		switch {
		case errors.As(err, &uk):
			a.logger.Warn("a stored secret is sealed with a key that is not configured and cannot be used",
				zap.String("key_id", uk.KeyID), zap.String("table", v.Table), zap.String("column", v.Column), zap.String("id", v.ID))
			continue
		case err != nil:
			a.logger.Warn("a stored secret cannot be opened", zap.String("table", v.Table), zap.String("column", v.Column),
				zap.String("id", v.ID))
			continue
		case fresh == "":
			continue
		}
		if ok, err := a.state.store.ReplaceSealed(ctx, v, fresh); err != nil {
			a.logger.Error("re-sealing", zap.Error(err))
			return
		} else if ok {
			moved++
		}
	}
	if moved > 0 {
		a.logger.Info("re-sealed stored secrets with the current key", zap.Int("count", moved),
			zap.String("key_id", a.keyring.CurrentID()))
	}
}
