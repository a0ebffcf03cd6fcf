package proxyos

import (
	"encoding/json"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/router"
)

// TestRouteInputEnabledDefault checks that a route is enabled unless the
// client says "enabled": false, and that a status sent back is ignored.
func TestRouteInputEnabledDefault(t *testing.T) {
	for body, want := range map[string]bool{
		`{"hosts":["a.test"]}`:                            true,
		`{"hosts":["a.test"],"enabled":true}`:             true,
		`{"hosts":["a.test"],"enabled":false}`:            false,
		`{"hosts":["a.test"],"status":{"live":true}}`:     true,
		`{"hosts":["a.test"],"enabled":false,"status":1}`: false,
	} {
		var in router.RouteInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		r, err := in.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := r.Enabled; got != want {
			t.Errorf("%s: enabled %v, want %v", body, got, want)
		}
	}
}
