package integration

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rtTestNoDroppedRequests keeps requesting a route while it is updated
// back and forth and other routes are created and deleted: every request
// is answered 200 by one of its upstreams, and a slow request in flight
// while its route changes completes.
func rtTestNoDroppedRequests(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "swap-a", false)
	b := rtNewUpstream(t, "swap-b", false)
	const host = "swap.proxyos.test"
	r := e.dash.create(rtProxy(host, "off", a.URL))
	url := "http://" + host + ":" + strconv.Itoa(e.HTTPPort)

	get := func(path string) string {
		resp, err := rtHTTP.Get(url + path)
		if err != nil {
			return err.Error()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if up := resp.Header.Get("X-Upstream"); err != nil || resp.StatusCode != http.StatusOK || (up != a.Name && up != b.Name) {
			return fmt.Sprintf("%d from %q: %.80s (%v)", resp.StatusCode, up, body, err)
		}
		return ""
	}
	slow := make(chan string, 1)
	go func() { slow <- get("/slow") }()
	rtPoll(t, 10*time.Second, func() string {
		if a.hits.Load() == 0 {
			return "the slow request did not reach the upstream"
		}
		return ""
	})

	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
		n      atomic.Int64
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if msg := get("/"); msg != "" {
					mu.Lock()
					failed = append(failed, msg)
					mu.Unlock()
				}
				n.Add(1)
			}
		}()
	}
	other := rtNewUpstream(t, "swap-other", false)
	version := 1
	for i := 0; i < 10; i++ {
		up := b.URL
		if i%2 == 1 {
			up = a.URL
		}
		e.dash.update(r.ID, version, rtProxy(host, "off", up))
		version++
		o := e.api.create(rtProxy(fmt.Sprintf("swap-other-%d.proxyos.test", i), "off", other.URL))
		e.api.delete(o.ID)
	}
	stop.Store(true)
	wg.Wait()
	if msg := <-slow; msg != "" {
		t.Errorf("a slow request in flight while its route changed: %s", msg)
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d requests failed during route changes, first: %s", len(failed), n.Load(), failed[0])
	}
	t.Logf("%d requests during 10 updates of the route and 20 changes of others", n.Load())
	if n.Load() < 10 {
		t.Fatalf("only %d requests were made during the changes", n.Load())
	}
}
