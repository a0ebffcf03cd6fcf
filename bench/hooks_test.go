package bench

import (
	"context"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/proxyos/caddy-proxyos/proxyos"
)

// The hot paths under test, sessionCache.verify and router.lookup, are
// unexported. These hooks reach them by symbol name so the benchmarks can
// time them without the handler around them. The declarations must match
// the methods' signatures exactly (receiver first); hookCheck calls both
// once and checks their answers, so a signature change fails TestQuick
// instead of measuring garbage.

//go:linkname sessionVerify github.com/proxyos/caddy-proxyos/proxyos.(*sessionCache).verify
func sessionVerify(c unsafe.Pointer, ctx context.Context, k *proxyos.Keyring, cookie string, idle time.Duration) (unsafe.Pointer, proxyos.Reason, error)

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
