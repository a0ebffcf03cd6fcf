package transfer

import (
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // registers the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

const testCaddyfile = `
app.example.com, www.app.example.com {
	encode
	header -Server
	header X-Frame-Options DENY
	reverse_proxy 10.0.0.5:8080
}

old.example.com {
	redir https://new.example.com{uri} permanent
}

maintenance.example.com {
	respond "back soon" 503
}

internal.example.com {
	tls internal
	reverse_proxy https://10.0.0.6:8443
}

http://plain.example.com {
	reverse_proxy 10.0.0.7:80
}

private.example.com {
	basic_auth {
		bob $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	reverse_proxy 10.0.0.8:80
}

split.example.com {
	handle /api/* {
		reverse_proxy 10.0.0.9:80
	}
	file_server
}

files.example.com {
	root * /srv
	file_server
}

:8080 {
	respond "port only"
}
`

func TestFromCaddyfile(t *testing.T) {
	im, err := FromCaddyfile([]byte(testCaddyfile))
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]*route.Route{}
	for _, r := range im.Routes {
		byHost[r.Hosts[0]] = r
		r.Normalize()
		if err := r.Validate(); err != nil {
			t.Errorf("route %v is not valid: %v", r.Hosts, err)
		}
	}
	if len(im.Routes) != 6 {
		t.Errorf("%d routes, want 6", len(im.Routes))
	}
	app := byHost["app.example.com"]
	if app == nil || app.Kind != route.KindProxy || len(app.Hosts) != 2 || app.Upstreams[0] != "http://10.0.0.5:8080" || !app.Compress ||
		app.TLS != route.TLSAuto || app.Headers == nil || app.Headers.Response.Set["X-Frame-Options"] != "DENY" ||
		strings.Join(app.Headers.Response.Delete, ",") != "Server" {
		t.Errorf("app.example.com: %+v", app)
	}
	if r := byHost["old.example.com"]; r == nil || r.Kind != route.KindRedirect || r.Redirect.To != "https://new.example.com" ||
		!r.Redirect.PreservePath || r.Redirect.Status != 301 {
		t.Errorf("old.example.com: %+v", r)
	}
	if r := byHost["maintenance.example.com"]; r == nil || r.Kind != route.KindStatic || r.Static.Status != 503 || r.Static.Body != "back soon" {
		t.Errorf("maintenance.example.com: %+v", r)
	}
	if r := byHost["internal.example.com"]; r == nil || r.TLS != route.TLSInternal || r.Upstreams[0] != "https://10.0.0.6:8443" {
		t.Errorf("internal.example.com: %+v", r)
	}
	if r := byHost["plain.example.com"]; r == nil || r.TLS != route.TLSOff {
		t.Errorf("plain.example.com: %+v", r)
	}
	if r := byHost["private.example.com"]; r == nil || r.Auth == nil || !r.Auth.RequireLogin {
		t.Errorf("private.example.com: %+v; want the dashboard login in place of basic_auth", r)
	}
	notes := ""
	for _, n := range im.Notes {
		notes += n.Source + ": " + n.Reason + "\n"
	}
	for _, want := range []string{
		"site split.example.com: not imported: it matches requests inside the site",
		"site files.example.com: not imported:",
		"a site without a host name: not imported",
		"site private.example.com: basic_auth users not imported",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "$2a$") {
		t.Error("a note shows a password hash")
	}
}

func TestFromCaddyfileRefusesBadSyntax(t *testing.T) {
	if _, err := FromCaddyfile([]byte("example.com {\n\treverse_proxy {\n")); err == nil || !strings.Contains(err.Error(), "Caddyfile") {
		t.Errorf("err = %v, want an adapt error naming the Caddyfile", err)
	}
}
