// Command caddy is Caddy with the standard modules and proxyos, for
// `go build` and the integration tests; xcaddy builds the same binary.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/proxyos/caddy-proxyos"
)

func main() {
	caddycmd.Main()
}
