package account

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
)

// Reseal re-seals every stored value sealed with a previous key with
// the current one, so that the previous secret can be dropped later
// without losing TOTP secrets, API keys, passkeys or the keys of custom
// certificates. Values sealed with a key that
// is not configured at all are left alone and logged.
func (s *Service) Reseal(ctx context.Context) {
	vals, err := s.Store.SealedValues(ctx)
	if err != nil {
		s.Logger().Error("listing sealed values to re-seal", zap.Error(err))
		return
	}
	moved := 0
	for _, v := range vals {
		sealCtx := totpContext(v.ID)
		switch v.Table {
		case "api_keys":
			sealCtx = apiKeyContext(v.ID)
		case "passkeys":
			sealCtx = passkey.SealContext(v.ID)
		case "custom_certificates":
			sealCtx = certs.KeyContext(v.ID)
		}
		fresh, err := s.Keys.ResealIfOld(v.Value, sealCtx)
		var uk *keyring.UnknownKeyError
		switch {
		case errors.As(err, &uk):
			s.Logger().Warn("a stored secret is sealed with a key that is not configured and cannot be used",
				zap.String("key_id", uk.KeyID), zap.String("table", v.Table), zap.String("column", v.Column), zap.String("id", v.ID))
			continue
		case err != nil:
			s.Logger().Warn("a stored secret cannot be opened", zap.String("table", v.Table), zap.String("column", v.Column),
				zap.String("id", v.ID))
			continue
		case fresh == "":
			continue
		}
		if ok, err := s.Store.ReplaceSealed(ctx, v, fresh); err != nil {
			s.Logger().Error("re-sealing", zap.Error(err))
			return
		} else if ok {
			moved++
		}
	}
	if moved > 0 {
		s.Logger().Info("re-sealed stored secrets with the current key", zap.Int("count", moved),
			zap.String("key_id", s.Keys.CurrentID()))
	}
}
