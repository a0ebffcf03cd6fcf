package doctor

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Checks of the secret and the key ring. They report where the secret
// comes from and how strong it is, never any part of it.

// strongSecretLen is the length from which a secret counts as strong: the
// generated one is 43 characters (32 random bytes).
const strongSecretLen = 32

func checkSecretSource(f *Facts) []Finding {
	s := f.Secret
	switch s.Source {
	case "config":
		return []Finding{{ID: "secret_source", Severity: Warning,
			Saw: "the secret is written in the config itself",
			Why: "whoever reads the Caddyfile, its backups or the admin API's GET /config/ has the secret, and with it can forge a session of any user",
			Fix: "move it out of the config: secret {env.PROXYOS_SECRET} or secret {file./etc/caddy/proxyos-secret}"}}
	case "generated":
		return []Finding{ok("secret_source", "the secret was generated on first run and is kept in "+s.File.Path)}
	case "file":
		return []Finding{ok("secret_source", "the secret is read from the file "+s.File.Path)}
	}
	return []Finding{ok("secret_source", "the secret is read from the environment")}
}

func checkSecretStrength(f *Facts) []Finding {
	s := f.Secret
	saw := fmt.Sprintf("the secret is %d characters long with %d of 4 kinds of characters", s.Length, s.Classes)
	if s.Previous > 0 {
		saw += fmt.Sprintf("; %d previous secrets still verify", s.Previous)
	}
	if s.Length < strongSecretLen || s.Classes < 2 {
		return []Finding{{ID: "secret_strength", Severity: Warning, Saw: saw,
			Why: "a short or simple secret can be guessed offline from one session cookie, and with it any session forged",
			Fix: "use 32 random bytes or more, such as the output of openssl rand -base64 32, and list the old secret under previous_secrets so nobody is logged out"}}
	}
	return []Finding{ok("secret_strength", saw)}
}

func checkSecretFile(f *Facts) []Finding {
	file := f.Secret.File
	switch {
	case file == nil:
		return nil
	case file.Err != "":
		return []Finding{{ID: "secret_file", Severity: Warning,
			Saw: fmt.Sprintf("cannot examine the secret file %s: %s", file.Path, file.Err),
			Why: "its permissions decide who else on this machine can read the secret",
			Fix: fmt.Sprintf("check that %s exists and is readable by the user Caddy runs as", file.Path)}}
	case file.Mode.Perm()&0o077 != 0:
		return []Finding{{ID: "secret_file", Severity: Problem,
			Saw: fmt.Sprintf("the secret file %s has mode %04o", file.Path, file.Mode.Perm()),
			Why: "other users of this machine can read the secret, and with it forge a session of any user",
			Fix: fmt.Sprintf("chmod 600 %s (owned by the user Caddy runs as)", file.Path)}}
	}
	return []Finding{ok("secret_file", fmt.Sprintf("the secret file %s has mode %04o", file.Path, file.Mode.Perm()))}
}

func checkUnknownKeys(f *Facts) []Finding {
	k := f.Keys
	if len(k.Unknown) == 0 {
		return []Finding{ok("unknown_key", fmt.Sprintf("no session cookie signed by a key outside the key ring (%d keys, current %s) arrived since Caddy started", len(k.IDs), k.Current))}
	}
	n, ids := 0, make([]string, len(k.Unknown))
	first, last := k.Unknown[0].First, k.Unknown[0].Last
	for i, u := range k.Unknown {
		n += u.Refusals
		ids[i] = u.ID
		if u.First.Before(first) {
			first = u.First
		}
		if u.Last.After(last) {
			last = u.Last
		}
	}
	saw := fmt.Sprintf("%d session cookies signed by %d keys outside the key ring (ids %s) were refused since %s, the latest at %s; the current key is %s",
		n, len(ids), strings.Join(ids, ", "), stamp(first), stamp(last), k.Current)
	switch {
	case !k.ChangedAt.IsZero():
		saw += fmt.Sprintf(", which replaced key %s at %s", k.ChangedFrom, stamp(k.ChangedAt))
	case f.Secret.Source == "generated" && f.Secret.File != nil && !f.Secret.File.ModTime.IsZero():
		saw += fmt.Sprintf(", generated at %s", stamp(f.Secret.File.ModTime))
	}
	return []Finding{{ID: "unknown_key", Severity: Warning, Saw: saw,
		Why: "these sessions were signed with a secret that is no longer configured, so their users are logged out (reason unknown_key) and must log in again",
		Fix: "if the secret changed by mistake, restore it; if on purpose, list the old secret under previous_secrets until those sessions have expired"}}
}

// SecretClasses returns how many of lower case letters, upper case
// letters, digits and other characters s uses, for Secret.Classes.
func SecretClasses(s string) int {
	var lower, upper, digit, other int
	for _, r := range s {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	return lower + upper + digit + other
}

// stamp formats a time in findings.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
