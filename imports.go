// Package caddyproxyos plugs proxyos into Caddy: import it (or build with
// xcaddy --with github.com/proxyos/caddy-proxyos) to get the proxyos app,
// its HTTP handlers, Caddyfile directives and admin API endpoints.
package caddyproxyos

import (
	_ "github.com/proxyos/caddy-proxyos/admin"
	_ "github.com/proxyos/caddy-proxyos/caddyfile"
	_ "github.com/proxyos/caddy-proxyos/proxyos"
)
