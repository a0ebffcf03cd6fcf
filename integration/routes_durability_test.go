package integration

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRouteDurability checks that what the route APIs confirmed survives
// a graceful restart, a kill -9 and a config reload: every route is
// served right after start-up, with the same versions, and changes keep
// going live afterwards.
func TestRouteDurability(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	a := rtNewUpstream(t, "dur-a", false)
	b := rtNewUpstream(t, "dur-b", false)

	proxy := e.dash.create(rtProxy("dur-proxy.proxyos.test", "off", a.URL))
	e.api.update(proxy.ID, 1, rtProxy("dur-proxy.proxyos.test", "off", b.URL)) // version 2
	redirect := e.api.create(map[string]any{"enabled": true, "hosts": []string{"dur-redirect.proxyos.test"}, "kind": "redirect", "tls": "off",
		"redirect": map[string]any{"to": "https://elsewhere.proxyos.test", "status": 301, "preserve_path": true}})
	static := e.api.create(map[string]any{"enabled": true, "hosts": []string{"dur-static.proxyos.test"}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 503, "body": "maintenance", "content_type": "text/plain"}})
	off := e.dash.create(rtProxy("dur-off.proxyos.test", "off", a.URL))
	e.dash.update(off.ID, 1, rtWith(rtProxy("dur-off.proxyos.test", "off", a.URL), "enabled", false))
	internal := e.dash.create(rtWith(rtProxy("dur-internal.proxyos.test", "internal", a.URL), "hsts", true))
	wild := e.api.create(rtProxy("*.dur.proxyos.test", "off", a.URL))

	want := map[string]int{proxy.ID: 2, redirect.ID: 1, static.ID: 1, off.ID: 2, internal.ID: 1, wild.ID: 1}
	served := func(stage string) {
		t.Helper()
		e.servedBy("dur-proxy.proxyos.test", b.Name)
		if resp, _ := e.get("dur-redirect.proxyos.test", "/p?q=1"); resp.StatusCode != http.StatusMovedPermanently ||
			resp.Header.Get("Location") != "https://elsewhere.proxyos.test/p?q=1" {
			t.Fatalf("%s: redirect route: %d %q", stage, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, raw := e.get("dur-static.proxyos.test", "/"); resp.StatusCode != http.StatusServiceUnavailable || string(raw) != "maintenance" {
			t.Fatalf("%s: static route: %d %q", stage, resp.StatusCode, raw)
		}
		e.noRoute("dur-off.proxyos.test")
		e.servedBy("x.dur.proxyos.test", a.Name)
		resp, _ := e.getTLS("dur-internal.proxyos.test", "/")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != a.Name || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Fatalf("%s: tls internal route over HTTPS: %d from %q", stage, resp.StatusCode, resp.Header.Get("X-Upstream"))
		}
		got := map[string]int{}
		for _, r := range e.api.list() {
			got[r.ID] = r.Version
		}
		for id, v := range want {
			if got[id] != v {
				t.Fatalf("%s: route %s has version %d, want %d (all: %v)", stage, id, got[id], v, got)
			}
		}
		if vs := e.api.versions(proxy.ID); len(vs) != want[proxy.ID] || vs[0].Version != want[proxy.ID] || vs[len(vs)-1].Actor != e.adminEmail {
			t.Fatalf("%s: history of the proxy route: %+v", stage, vs)
		}
	}
	served("before restart")

	e.inst.Restart()
	served("after a graceful restart")

	// A change confirmed just before kill -9 is kept.
	e.api.update(static.ID, 1, map[string]any{"enabled": true, "hosts": []string{"dur-static.proxyos.test"}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 503, "body": "maintenance", "content_type": "text/plain"}})
	want[static.ID] = 2
	last := e.api.create(rtProxy("dur-last.proxyos.test", "off", b.URL))
	want[last.ID] = 1
	e.inst.Kill()
	e.inst.Start()
	served("after kill -9")
	e.servedBy("dur-last.proxyos.test", b.Name)

	// Changes still go live after the restarts, through both APIs (the
	// dashboard session survived too).
	e.dash.update(proxy.ID, 2, rtProxy("dur-proxy.proxyos.test", "off", a.URL))
	e.servedBy("dur-proxy.proxyos.test", a.Name)
	e.api.update(proxy.ID, 3, rtProxy("dur-proxy.proxyos.test", "off", b.URL))
	want[proxy.ID] = 4
	e.servedBy("dur-proxy.proxyos.test", b.Name)

	// A config reload (POST /load of the same Caddyfile, forced) keeps
	// every route served.
	cfg, err := os.ReadFile(e.inst.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := do(t, http.DefaultClient, http.MethodPost, "http://"+e.inst.Admin+"/load", strings.NewReader(string(cfg)),
		http.Header{"Content-Type": {"text/caddyfile"}, "Cache-Control": {"must-revalidate"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /load: %d %s", resp.StatusCode, raw)
	}
	// Caddy may write the line just after answering.
	rtPoll(t, 10*time.Second, func() string {
		if n := rtCount(e.inst.Log(), `"load complete"`); n != 1 {
			return fmt.Sprintf("log has %d \"load complete\" lines after POST /load, want 1", n)
		}
		return ""
	})
	served("after a config reload")
	e.dash.update(proxy.ID, 4, rtProxy("dur-proxy.proxyos.test", "off", a.URL))
	e.servedBy("dur-proxy.proxyos.test", a.Name)
	r := e.api.create(rtProxy("dur-after-reload.proxyos.test", "off", b.URL))
	e.servedBy("dur-after-reload.proxyos.test", b.Name)
	e.api.delete(r.ID)
	e.noRoute("dur-after-reload.proxyos.test")
	if got := e.api.get(proxy.ID); got.Version != 5 || !slices.Equal(got.Upstreams, []string{a.URL}) {
		t.Fatalf("proxy route after the reload: %+v", got)
	}
}
