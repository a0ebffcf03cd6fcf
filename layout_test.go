package caddyproxyos

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/proxyos/caddy-proxyos"

// layers places every package of the module (ARCHITECTURE.md explains
// them): a package imports only packages of lower layers, so imports run
// one way, glue → api → account/router → session → keyring/store, and
// nothing imports the glue back. A new package must be placed here, which
// is where a reviewer sees where it sits.
var layers = map[string]int{
	"internal/access":    1, // imports argon
	"internal/argon":     0,
	"internal/authz":     0,
	"internal/certlimit": 0,
	"internal/certs":     0,
	"internal/fail":      0,
	"internal/keyring":   0,
	"internal/metrics":   0, // the Prometheus client only
	"internal/race":      0,
	"internal/ratelimit": 0,
	"internal/request":   0,
	"internal/route":     2, // imports access
	"internal/stream":    2, // imports audit, store, upstream
	"internal/store":     0,
	"internal/upstream":  0,
	"ui":                 0,
	"bench/benchtool":    0,
	"internal/audit":     1,
	"internal/certstore": 1, // certmagic's storage on the store; may import certmagic
	"internal/cluster":   1,
	"internal/doctor":    1, // imports certs, request
	"internal/errorpage": 1, // the proxyos_error_pages handler; imports caddy
	"internal/location":  1, // the proxyos_locations handler; imports caddy
	"internal/testkit":   1, // imported by _test files only (see below)
	"internal/traffic":   1, // imports store
	"internal/session":   2,
	"internal/passkey":   2,
	"internal/dnsprov":   2, // imports audit; may import caddy (its module registry)
	"internal/account":   3,
	"internal/oidc":      3,
	"internal/router":    3,
	"internal/ops":       3,
	"internal/transfer":  3, // imports route; may import Caddy's caddyfile adapter
	"internal/api":       4,
	"proxyos":            5, // the Caddy modules
	"admin":              6, // the admin API and CLI: glue too
	"caddyfile":          6,
	"":                   7, // this package: every module of proxyos
	"cmd/caddy":          8,
	"bench":              8,
	"integration":        8,
}

// caddyFree are the packages whose code is plain Go: nothing of Caddy
// (or certmagic) in what they import, directly or not.
var caddyFree = []string{
	"internal/access", "internal/account", "internal/argon", "internal/audit", "internal/authz", "internal/certlimit", "internal/certs", "internal/cluster", "internal/doctor", "internal/fail",
	"internal/keyring", "internal/metrics", "internal/oidc", "internal/ops", "internal/passkey", "internal/ratelimit", "internal/request", "internal/session", "internal/store", "internal/stream", "internal/traffic", "internal/upstream",
}

// maxFiles bounds the non-test files of a package: past it, a package
// holds more than one thing.
const maxFiles = 15

type listedPackage struct {
	ImportPath string
	GoFiles    []string
	Imports    []string // of the non-test files
	Deps       []string
}

// listPackages runs go list on the module's packages.
func listPackages(t *testing.T) map[string]listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// layerProblems returns what breaks the rules in pkgs: a package with no
// layer or too many files, an import of the same or a higher layer, and
// testkit imported outside tests.
func layerProblems(pkgs map[string]listedPackage) []string {
	var out []string
	for name, p := range pkgs {
		layer, ok := layers[name]
		if !ok {
			out = append(out, fmt.Sprintf("package %q has no layer: place it in layers (and in ARCHITECTURE.md)", p.ImportPath))
			continue
		}
		if len(p.GoFiles) > maxFiles {
			out = append(out, fmt.Sprintf("package %q has %d non-test files, more than %d: split it", p.ImportPath, len(p.GoFiles), maxFiles))
		}
		for _, imp := range p.Imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if dep == "internal/testkit" {
				out = append(out, name+" imports internal/testkit outside its tests")
			}
			if l, ok := layers[dep]; ok && l >= layer {
				out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports go to lower layers only", name, layer, dep, l))
			}
		}
	}
	return out
}

// caddyProblems returns the packages of caddyFree that depend on Caddy,
// directly or not.
func caddyProblems(pkgs map[string]listedPackage) []string {
	var out []string
	for _, name := range caddyFree {
		p, ok := pkgs[name]
		if !ok {
			out = append(out, "no package "+name)
			continue
		}
		var caddy []string
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "github.com/caddyserver/") {
				caddy = append(caddy, d)
			}
		}
		if len(caddy) > 0 {
			out = append(out, fmt.Sprintf("%s depends on Caddy: %s", name, strings.Join(caddy, ", ")))
		}
	}
	return out
}

func TestPackageLayers(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range layerProblems(pkgs) {
		t.Error(p)
	}
	for name := range layers {
		if _, ok := pkgs[name]; !ok {
			t.Errorf("layers places %q, which is not a package of the module", name)
		}
	}
}

func TestPlainGoPackagesImportNoCaddy(t *testing.T) {
	for _, p := range caddyProblems(listPackages(t)) {
		t.Error(p)
	}
}

// The checks catch what they are for: the session cache importing the
// account service (upward), the API importing the glue, a service
// importing testkit, and the key ring depending on Caddy.
func TestLayerRulesRefuse(t *testing.T) {
	pkgs := listPackages(t)
	bad := func(name string, edit func(*listedPackage)) map[string]listedPackage {
		m := make(map[string]listedPackage, len(pkgs))
		for k, v := range pkgs {
			m[k] = v
		}
		p := m[name]
		edit(&p)
		m[name] = p
		return m
	}
	for _, c := range []struct {
		name, pkg, imp string
	}{
		{"upward", "internal/session", module + "/internal/account"},
		{"into the glue", "internal/api", module + "/proxyos"},
		{"sideways", "internal/account", module + "/internal/router"},
		{"testkit", "internal/router", module + "/internal/testkit"},
	} {
		m := bad(c.pkg, func(p *listedPackage) { p.Imports = append(slices.Clone(p.Imports), c.imp) })
		if problems := layerProblems(m); len(problems) != 1 || !strings.Contains(problems[0], c.pkg) {
			t.Errorf("%s: %s importing %s gives %q, want one problem naming it", c.name, c.pkg, c.imp, problems)
		}
	}
	m := bad("internal/keyring", func(p *listedPackage) {
		p.Deps = append(slices.Clone(p.Deps), "github.com/caddyserver/caddy/v2")
	})
	if problems := caddyProblems(m); len(problems) != 1 || !strings.Contains(problems[0], "internal/keyring") {
		t.Errorf("keyring depending on Caddy gives %q, want one problem naming it", problems)
	}
}
