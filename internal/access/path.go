package access

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// cleanPath returns the path that rules match for the decoded request
// path p, built in buf: backslashes read as slashes and ";" parameters
// dropped from each segment (as some upstreams do), runs of slashes
// merged, "." and ".." segments resolved, a trailing slash kept. plain
// reports whether p needed none of that and holds nothing an upstream
// might decode once more ("%") or read otherwise (control characters):
// a path that every upstream reads as the rule does.
func cleanPath(buf []byte, p string) (key string, plain bool) {
	if isClean(p) {
		return p, strings.IndexByte(p, '%') < 0
	}
	return clean(buf, p), false
}

// clean is cleanPath for a path that isClean refused.
func clean(buf []byte, p string) string {
	buf = append(buf[:0], '/')
	for i := 0; i < len(p); {
		for i < len(p) && (p[i] == '/' || p[i] == '\\') {
			i++
		}
		if i >= len(p) {
			break
		}
		j := i
		for j < len(p) && p[j] != '/' && p[j] != '\\' {
			j++
		}
		seg := p[i:j]
		if k := strings.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k]
		}
		i = j
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(buf) > 1 {
				k := strings.LastIndexByte(unsafeString(buf[:len(buf)-1]), '/')
				buf = buf[:k+1]
			}
			continue
		}
		buf = append(buf, seg...)
		buf = append(buf, '/')
	}
	if !endsDotSegment(p) && len(buf) > 1 {
		buf = buf[:len(buf)-1] // no trailing slash in p
	}
	return unsafeString(buf)
}

// isClean reports whether p is already what cleanPath would make it.
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' || c == ';' || c < 0x20 || c == 0x7f:
			return false
		case c == '/' && i+1 < len(p) && p[i+1] == '/':
			return false
		case c == '.' && p[i-1] == '/':
			// "/." or "/.." as a whole segment
			rest := p[i:]
			if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
				return false
			}
		}
	}
	return true
}

func endsDotSegment(p string) bool {
	last := p[strings.LastIndexAny(p, "/\\")+1:]
	if k := strings.IndexByte(last, ';'); k >= 0 {
		last = last[:k]
	}
	return last == "" || last == "." || last == ".."
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// checkPattern checks a rule's path pattern.
func checkPattern(s string) error {
	switch {
	case len(s) > maxPatternLen:
		return fmt.Errorf("is longer than %d characters", maxPatternLen)
	case strings.Count(s, "*") > maxStars:
		return fmt.Errorf("has more than %d *", maxStars)
	case s == "*":
		return nil
	case s[0] != '/' && s[0] != '*':
		return errors.New("must start with / or *")
	case strings.ContainsAny(s, "?#%;\\ \t\r\n{}"):
		return errors.New(`must be a plain path: no query, fragment, encoded characters, ";", "\", spaces or braces`)
	case strings.Contains(s, "//"):
		return errors.New(`has "//", which no cleaned path holds`)
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return errors.New(`has a "." or ".." segment, which no cleaned path holds`)
		}
	}
	return nil
}

// matchPattern reports whether path matches pattern, where * matches
// any run of bytes (slashes too), and a pattern ending in "/*" also
// matches the path without it ("/api/*" matches "/api"). With fold,
// ASCII letters match in any case. It allocates nothing.
func matchPattern(pattern, path string, fold bool) bool {
	if base, ok := strings.CutSuffix(pattern, "/*"); ok && base != "" && !strings.Contains(base, "*") && equal(base, path, fold) {
		return true
	}
	// iterative glob with one backtrack point per star
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(path) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && byteEq(pattern[pi], path[si], fold):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// patternKind is how a rule's path pattern is matched: the common
// shapes without the glob, each as matchPattern would match them.
type patternKind uint8

const (
	globPattern   patternKind = iota // anything else: matchPattern
	exactPattern                     // no *: the path itself
	prefixPattern                    // "/base/*": "/base" and what lies under it
	suffixPattern                    // "*.ext": what ends so
)

// classify returns the kind of pattern, and the literal part the kind
// matches.
func classify(pattern string) (patternKind, string) {
	switch n := strings.Count(pattern, "*"); {
	case n == 0:
		return exactPattern, pattern
	case n > 1:
		return globPattern, pattern
	case len(pattern) > 2 && strings.HasSuffix(pattern, "/*"):
		return prefixPattern, pattern[:len(pattern)-2]
	case pattern[0] == '*':
		return suffixPattern, pattern[1:]
	}
	return globPattern, pattern
}

// matchKey reports whether the cleaned path key matches the rule's
// pattern, as matchPattern(r.pattern, key, fold) does.
func (r *rule) matchKey(key string, fold bool) bool {
	switch r.kind {
	case exactPattern:
		return len(key) == len(r.lit) && bytesEq(r.lit, key, fold)
	case prefixPattern:
		// the base itself, then "base/…" as the glob "base/*" does
		if equal(r.lit, key, fold) {
			return true
		}
		n := len(r.lit)
		return len(key) > n && key[n] == '/' && bytesEq(r.lit, key[:n], fold)
	case suffixPattern:
		return len(key) >= len(r.lit) && bytesEq(r.lit, key[len(key)-len(r.lit):], fold)
	}
	return matchPattern(r.pattern, key, fold)
}

// bytesEq reports whether a and b, of the same length, are equal byte
// by byte, with fold ASCII letters in any case (as matchPattern's glob
// compares).
func bytesEq(a, b string, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	for i := 0; i < len(a); i++ {
		if !byteEq(a[i], b[i], true) {
			return false
		}
	}
	return true
}

func equal(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func byteEq(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}
