package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/stream"
)

// TestRouteStreamNameRace prevents one server name from ending up on an
// HTTPS route and on a stream of the shared HTTPS port at once through
// a route save and a stream save racing each other (the bug: each
// checked the other's names before the other was live, both were
// stored, and the proxyos_streams wrapper silently handed every TLS
// connection for the route's host to the stream's upstream — an
// operator's stream capturing a site's HTTPS traffic, logins and
// cookies included). Many rounds race a route create and a stream
// create for a fresh name each; exactly one may win, the other is
// refused naming its hosts, and afterwards the name is never both a
// live route's and a served stream's. Run with -race.
func TestRouteStreamNameRace(t *testing.T) {
	a := newTestApp(t)
	port := sharedHTTPSPort(t, a)
	ctx := context.Background()
	admin := stream.Caller{Actor: audit.Actor{Name: "test", Kind: audit.ActorSystem}, AnyPort: true}

	const rounds = 60
	var bothWon int
	for i := range rounds {
		name := fmt.Sprintf("n%d.race.test", i)
		var (
			wg           sync.WaitGroup
			start        = make(chan struct{})
			rErr, sErr   error
			routeRefused bool
		)
		wg.Go(func() {
			<-start
			_, rErr = a.routes.Create(ctx, rtuStaticRoute("", "route "+name, name), testActor)
		})
		wg.Go(func() {
			<-start
			_, sErr = a.streams.Create(ctx, &stream.Stream{Name: "stream " + name, Enabled: true,
				Listen: fmt.Sprintf("tcp/:%d", port), Hosts: []string{name}, Upstreams: []string{"127.0.0.1:9"}}, admin)
		})
		close(start)
		wg.Wait()
		switch {
		case rErr == nil && sErr == nil:
			bothWon++
		case rErr != nil && sErr != nil:
			t.Fatalf("round %d: both refused: route %v; stream %v", i, rErr, sErr)
		case rErr != nil:
			routeRefused = true
			assertHostsRefusal(t, i, "route", rErr)
		default:
			assertHostsRefusal(t, i, "stream", sErr)
		}
		live, served := a.routes.Table.Lookup(name) != nil, a.state.streams.sharedHost(name) != ""
		if live && served {
			t.Errorf("round %d: %s is both a live route's and a served stream's", i, name)
		} else if live == routeRefused || served != routeRefused {
			t.Errorf("round %d: route live %v, stream served %v, route refused %v", i, live, served, routeRefused)
		}
	}
	if bothWon > 0 {
		t.Fatalf("in %d of %d rounds a route save and a stream save both took the same name on the HTTPS port", bothWon, rounds)
	}
}

// assertHostsRefusal fails unless err refuses a host (a field error on
// hosts or hosts[0]).
func assertHostsRefusal(t *testing.T, round int, what string, err error) {
	t.Helper()
	var fe *fail.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "hosts") {
		t.Fatalf("round %d: the %s was refused with %v, want a refusal naming hosts", round, what, err)
	}
}

// sharedHTTPSPort makes a's streams see a port on which Caddy serves
// HTTPS behind the proxyos_streams wrapper, as a config with the wrapper
// does, and returns it. Nothing listens there: streams on a shared port
// get their connections from the wrapper and open no listener.
func sharedHTTPSPort(t *testing.T, a *testApp) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	ports := func() *listenPorts { return &listenPorts{https: []portRange{{first: port, last: port}}} }
	a.state.streams.ports.Store(&ports)
	a.state.streams.mu.Lock()
	a.state.streams.wrapped[uint16(port)]++
	a.state.streams.mu.Unlock()
	return uint16(port)
}
