package audit

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Details builds the details JSON of an entry: {"before", "after",
// …extra}, redacted and diffed; nil when there is nothing to say.
func Details(before, after any, extra map[string]any) (json.RawMessage, error) {
	b, err := toJSONMap(before)
	if err != nil {
		return nil, err
	}
	af, err := toJSONMap(after)
	if err != nil {
		return nil, err
	}
	if b != nil && af != nil {
		b, af = diffMaps(b, af)
	}
	d := make(map[string]any)
	for k, v := range extra {
		d[k] = v
	}
	d = redactMap(d)
	if len(b) > 0 {
		d["before"] = b
	}
	if len(af) > 0 {
		d["after"] = af
	}
	if len(d) == 0 {
		return nil, nil
	}
	return json.Marshal(d)
}

// toJSONMap turns v into its JSON object form, with secrets removed.
func toJSONMap(v any) (map[string]any, error) {
	if v == nil || reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return redactMap(m), nil
}

// diffMaps keeps the top-level fields whose values differ.
func diffMaps(before, after map[string]any) (map[string]any, map[string]any) {
	b, a := make(map[string]any), make(map[string]any)
	for k, v := range before {
		if w, ok := after[k]; !ok || !reflect.DeepEqual(v, w) {
			b[k] = v
		}
	}
	for k, v := range after {
		if w, ok := before[k]; !ok || !reflect.DeepEqual(v, w) {
			a[k] = v
		}
	}
	return b, a
}

// secretNames are field names whose values never reach the audit log.
// Names are compared in lower case with dashes as underscores, so header
// names such as Authorization and X-Api-Key are caught too.
var secretNames = map[string]bool{
	"password": true, "password_hash": true, "secret": true, "token": true,
	"setup_code": true, "key": true, "authorization": true, "proxy_authorization": true,
	"cookie": true, "set_cookie": true, "recovery_codes": true, "previous_secrets": true,
}

// secretSuffixes mark names such as new_password, totp_secret, api_key.
var secretSuffixes = []string{"_password", "_hash", "_secret", "_secrets", "_token", "_key"}

// isSecretName reports whether a field of this name holds a secret.
func isSecretName(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	if secretNames[n] {
		return true
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// redactMap removes every field with a secret's name from m, at any depth.
func redactMap(m map[string]any) map[string]any {
	for k, v := range m {
		if isSecretName(k) {
			delete(m, k)
			continue
		}
		m[k] = redactValue(v)
	}
	return m
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return redactMap(v)
	case []any:
		for i := range v {
			v[i] = redactValue(v[i])
		}
	}
	return v
}

// Target is how an email someone typed is recorded: trimmed, lower
// case and cut to the longest valid address.
func Target(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > 254 {
		email = email[:254]
	}
	return email
}
