package api

import (
	"encoding/json"
	"net/http"
)

// account shows the caller's own account and two-factor state.
func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	u, left, err := s.Accounts.Me(r.Context(), caller(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"user": u, "totp_enabled": u.TOTP, "recovery_codes_left": left})
	return nil
}

// changePassword changes the caller's own password and revokes their
// other sessions; this one stays.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	n, err := s.Accounts.ChangePassword(r.Context(), caller(r), body.Current, body.New)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

// beginTOTP starts two-factor enrolment, after checking the password,
// and answers the secret, its otpauth:// URI and a QR code of it.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Password string `json:"password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	enr, err := s.Accounts.BeginTOTP(r.Context(), caller(r), body.Password)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, enr)
	return nil
}

// confirmTOTP turns two-factor authentication on with a first code and
// answers the recovery codes, which are shown this once.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Code string `json:"code"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	codes, err := s.Accounts.ConfirmTOTP(r.Context(), caller(r), body.Code)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

// disableTOTP turns two-factor authentication off; it needs the password
// and a current code (or a recovery code).
func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	if err := s.Accounts.DisableTOTP(r.Context(), caller(r), body.Password, body.Code); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listPasskeys lists the caller's passkeys (names and times only).
func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Accounts.ListPasskeys(r.Context(), caller(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"passkeys": list, "rp_id": s.Accounts.Passkeys.RPID()})
	return nil
}

// beginPasskey starts registering a passkey, after checking the
// password; the ceremony is bound to this session and browser.
func (s *Server) beginPasskey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	c, err := s.Accounts.BeginPasskeyRegistration(r.Context(), caller(r), body.Name, body.Password)
	if err != nil {
		return err
	}
	setPasskeyCookie(w, r, c.ID)
	WriteJSON(w, http.StatusOK, c)
	return nil
}

// finishPasskey stores the passkey the authenticator made.
func (s *Server) finishPasskey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Credential json.RawMessage `json:"credential"` // PublicKeyCredential.toJSON()
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	v, err := s.Accounts.FinishPasskeyRegistration(r.Context(), caller(r), takePasskeyCookie(w, r), body.Credential)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, v)
	return nil
}

// removePasskey removes one of the caller's passkeys; it needs the
// password.
func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Password string `json:"password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	if err := s.Accounts.RemovePasskey(r.Context(), caller(r), r.PathValue("id"), body.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
