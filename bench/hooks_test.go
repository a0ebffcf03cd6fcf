package bench

import (
	"context"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// The hot paths under test, sessionCache.verify and router.lookup, are
// unexported, and so are the handlers of a live route (routeHandlers). These hooks reach them by symbol name so the benchmarks can
// time them without the handler around them. The declarations must match
// the methods' signatures exactly (receiver first); hookCheck calls both
// once and checks their answers, so a signature change fails TestQuick
// instead of measuring garbage.

//go:linkname sessionVerify github.com/proxyos/caddy-proxyos/proxyos.(*sessionCache).verify
func sessionVerify(c unsafe.Pointer, ctx context.Context, k *keyring.Keyring, cookie string, idle time.Duration) (unsafe.Pointer, proxyos.Reason, error)

//go:linkname routerLookup github.com/proxyos/caddy-proxyos/proxyos.(*router).lookup
func routerLookup(rt unsafe.Pointer, host string) unsafe.Pointer

// sessionCacheOf returns the app's *sessionCache (App.state.sessions).
func sessionCacheOf(tb testing.TB, app *proxyos.App) unsafe.Pointer {
	tb.Helper()
	st := reflect.ValueOf(app).Elem().FieldByName("state")
	if st.Kind() != reflect.Pointer || st.IsNil() {
		tb.Fatal("hook: proxyos.App has no state pointer")
	}
	c := st.Elem().FieldByName("sessions")
	if c.Kind() != reflect.Pointer || c.Type().Elem().Name() != "sessionCache" {
		tb.Fatalf("hook: App.state.sessions is %s, want *sessionCache", c.Type())
	}
	return c.UnsafePointer()
}

// routerOf returns the app's *router (App.router).
func routerOf(tb testing.TB, app *proxyos.App) unsafe.Pointer {
	tb.Helper()
	rt := reflect.ValueOf(app).Elem().FieldByName("router")
	if rt.Kind() != reflect.Pointer || rt.Type().Elem().Name() != "router" || rt.IsNil() {
		tb.Fatal("hook: proxyos.App has no *router")
	}
	return rt.UnsafePointer()
}

// routeHandlers returns the provisioned handlers of the live route
// serving host (liveRoute.list, found through the router's byID map,
// whose element type is *liveRoute).
func routeHandlers(tb testing.TB, app *proxyos.App, host string) []caddyhttp.MiddlewareHandler {
	tb.Helper()
	lr := routerLookup(routerOf(tb, app), host)
	if lr == nil {
		tb.Fatalf("hook: no live route for %s", host)
	}
	byID := reflect.ValueOf(app).Elem().FieldByName("router").Elem().FieldByName("byID")
	if byID.Kind() != reflect.Map || byID.Type().Elem().Kind() != reflect.Pointer || byID.Type().Elem().Elem().Name() != "liveRoute" {
		tb.Fatalf("hook: router.byID is %s, want map[string]*liveRoute", byID.Type())
	}
	list := reflect.NewAt(byID.Type().Elem().Elem(), lr).Elem().FieldByName("list")
	if list.Type() != reflect.TypeFor[caddyhttp.RouteList]() {
		tb.Fatalf("hook: liveRoute.list is %s, want caddyhttp.RouteList", list.Type())
	}
	var handlers []caddyhttp.MiddlewareHandler
	for _, r := range *(*caddyhttp.RouteList)(unsafe.Pointer(list.UnsafeAddr())) {
		handlers = append(handlers, r.Handlers...)
	}
	return handlers
}
