package location

import (
	"errors"
	"fmt"
	"path"
	"runtime"
	"strings"
)

// CheckPath checks a location's path: the two forms whose matching
// pattern reproduces, Caddy's path matcher's for them. "%" (escaped
// matching), braces (placeholders), "//" (slashes not merged) and glob
// characters would each need another of its ways.
func CheckPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("must start with /")
	case strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return errors.New("may have a * only at its end")
	case strings.Contains(p, "//"):
		return errors.New("has an empty segment (//)")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`%{}?[]\`, c) >= 0 {
			return fmt.Errorf("has the character %q", c)
		}
	}
	return nil
}

// pattern is a location's path ready to match: lower case, without the
// final "*" of a prefix.
type pattern struct {
	s      string
	prefix bool
}

func parsePattern(p string) pattern {
	p = strings.ToLower(p)
	if strings.HasSuffix(p, "*") {
		return pattern{s: p[:len(p)-1], prefix: true}
	}
	return pattern{s: p}
}

// match reports whether the cleaned request path k (cleanKey's) matches:
// in ASCII case folding, which is lower-casing for a key that
// cleanKey lower-cased already.
func (pt pattern) match(k string) bool {
	if pt.prefix {
		return len(k) >= len(pt.s) && foldedEqual(k[:len(pt.s)], pt.s)
	}
	return len(k) == len(pt.s) && foldedEqual(k, pt.s)
}

// foldedEqual reports whether s in ASCII lower case is lower, of the
// same length.
func foldedEqual(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// cleanKey returns the request path p as Caddy's path matcher compares
// it with a pattern of the two forms: lower-cased, then cleaned
// (path.Clean keeping a final slash, doubled slashes merged). The result
// is to be compared in ASCII case folding: an ASCII path is returned
// cleaned but not lower-cased, which needs no allocation when it is
// clean already (lower-casing only changes letters and cleaning only
// looks at "/" and ".", so the order does not matter for it). Any other
// path is lower-cased as strings.ToLower does, in Unicode: the Kelvin
// sign "K" becomes an ASCII "k", for example, as it does in Caddy.
func cleanKey(p string) string {
	if runtime.GOOS == "windows" {
		return cleanPath(windowsPath(strings.ToLower(p)))
	}
	for i := 0; i < len(p); i++ {
		if p[i] >= 0x80 {
			return cleanPath(strings.ToLower(p))
		}
	}
	return cleanPath(p)
}

// cleanPath is path.Clean keeping a final slash, as Caddy's CleanPath
// with slashes merged, without allocating for a path that is clean
// already.
func cleanPath(p string) string {
	c := path.Clean(p)
	if c == "/" || !strings.HasSuffix(p, "/") {
		return c
	}
	if len(p) == len(c)+1 && p[:len(c)] == c {
		return p
	}
	return c + "/"
}

// windowsPath normalises a path as Caddy's path matcher does on Windows:
// backslashes become slashes and trailing dots and spaces of segments
// go, so that the names Windows treats as the same match the same.
func windowsPath(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	segments := strings.Split(p, "/")
	for i, s := range segments {
		if s == "." || s == ".." {
			continue
		}
		segments[i] = strings.TrimRight(s, ". ")
	}
	return strings.Join(segments, "/")
}
