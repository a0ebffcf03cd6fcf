package request

import (
	"net"
	"net/http"
	"strconv"
)

// LocalPort returns the port of this Caddy the request's connection
// arrived on, or 0 when the server did not record it. Unlike the port in
// the Host header, the client cannot choose it.
func LocalPort(r *http.Request) int {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return 0
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return n
}
