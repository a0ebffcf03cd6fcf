package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Users of the propagation runs, made through the admin API; the
// dashboard's admin (adminEmail) makes the API keys.
const (
	sessionUser  = "sessions@bench.test" // logs in and out
	disabledUser = "disabled@bench.test" // is disabled and enabled again
	userPassword = "bench-user-password-0123"
)

// propagationKinds are the changes timed, in the order of each round;
// each is a sample name "propagation/<kind>/<nodes>".
var propagationKinds = []string{"route", "session", "user", "key"}

// propagation times changes of each kind, written on node A, until every
// other node shows them: one untimed round, then changes rounds of one
// change of each kind (interleaved, so the kinds see the same moments
// of a noisy machine).
func (c *cluster) propagation(ctx context.Context, changes int) error {
	a := c.nodes[0]
	for _, email := range []string{sessionUser, disabledUser} {
		if err := c.admin(a, http.MethodPost, "/proxyos/users", map[string]string{"email": email, "password": userPassword, "role": "viewer"}, http.StatusCreated, nil); err != nil {
			return err
		}
	}
	prop, err := c.createStatic(propHost)
	if err != nil {
		return err
	}
	fence, err := c.createStatic(fenceHost)
	if err != nil {
		return err
	}
	each := map[string]func() (time.Duration, error){
		"route":   func() (time.Duration, error) { return c.changeRoute(prop) },
		"session": c.revokeSession,
		"user":    func() (time.Duration, error) { return c.disableUser(fence) },
		"key":     c.revokeKey,
	}
	got := map[string][]float64{}
	for i := -1; i < changes; i++ { // round -1 untimed
		for _, kind := range propagationKinds {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d, err := each[kind]()
			if err != nil {
				return fmt.Errorf("%s change %d: %w", kind, i+2, err)
			}
			if i >= 0 {
				name := fmt.Sprintf("propagation/%s/%d", kind, len(c.nodes))
				sample(name, ms(d), "ms")
				got[kind] = append(got[kind], ms(d))
			}
		}
	}
	for _, kind := range propagationKinds {
		vs := got[kind]
		st, _ := statOf(vs)
		fmt.Fprintf(os.Stderr, "   %d nodes, %-7s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d changes)\n",
			len(c.nodes), kind, percentile(vs, 50), percentile(vs, 99), st.max, st.n)
	}
	return nil
}

// staticRoute is a static route of the benchmark and its version.
type staticRoute struct {
	id, host, body string
	version        int
}

func staticSpec(r *staticRoute, body string) map[string]any {
	spec := map[string]any{"name": r.host, "hosts": []string{r.host}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 200, "body": body}}
	if r.version > 0 {
		spec["version"] = r.version
	}
	return spec
}

// createStatic creates a static route on node A and waits until every
// node serves it.
func (c *cluster) createStatic(host string) (*staticRoute, error) {
	r := &staticRoute{host: host, body: "v0"}
	var out struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	if err := c.admin(c.nodes[0], http.MethodPost, "/proxyos/routes", staticSpec(r, r.body), http.StatusCreated, &out); err != nil {
		return nil, err
	}
	r.id, r.version = out.ID, out.Version
	_, err := c.until(c.nodes, time.Now(), c.serves(r.host, r.body))
	return r, err
}

// changeRoute gives route r a new body through PUT /proxyos/routes/{id}
// on node A, and times it until every other node serves it.
func (c *cluster) changeRoute(r *staticRoute) (time.Duration, error) {
	body := "v" + strconv.Itoa(r.version+1)
	var out struct {
		Version int `json:"version"`
	}
	if err := c.admin(c.nodes[0], http.MethodPut, "/proxyos/routes/"+r.id, staticSpec(r, body), http.StatusOK, &out); err != nil {
		return 0, err
	}
	t0 := time.Now()
	r.body, r.version = body, out.Version
	return c.until(c.nodes[1:], t0, c.serves(r.host, body))
}

// revokeSession logs a user in on node A, has every other node cache the
// session (one gated request each), logs out on node A, and times it
// until every other node's gate refuses the session.
func (c *cluster) revokeSession() (time.Duration, error) {
	a := c.nodes[0]
	ck, err := c.login(a, sessionUser, userPassword)
	if err != nil {
		return 0, err
	}
	if err := c.cacheSession(ck); err != nil {
		return 0, err
	}
	if err := c.dash(a, http.MethodPost, "/api/auth/logout", ck, map[string]any{}, http.StatusNoContent, nil); err != nil {
		return 0, err
	}
	t0 := time.Now()
	return c.until(c.nodes[1:], t0, c.gateRefuses(ck))
}

// disableUser enables the user again, logs them in on node A, waits
// until every node applied those changes (fence), has every other node
// cache the session, then disables the user through the admin API on
// node A and times it until every other node's gate refuses the session.
func (c *cluster) disableUser(fence *staticRoute) (time.Duration, error) {
	a := c.nodes[0]
	path := "/proxyos/users/" + disabledUser
	if err := c.admin(a, http.MethodPut, path, map[string]any{"disabled": false}, http.StatusOK, nil); err != nil {
		return 0, err
	}
	ck, err := c.login(a, disabledUser, userPassword)
	if err != nil {
		return 0, err
	}
	// Nodes apply changes in order: once a node serves the fence's new
	// body, it has applied the enabling too, which would otherwise drop
	// the session cached below and make the disabling look faster.
	if _, err := c.changeRoute(fence); err != nil {
		return 0, err
	}
	if err := c.cacheSession(ck); err != nil {
		return 0, err
	}
	if err := c.admin(a, http.MethodPut, path, map[string]any{"disabled": true}, http.StatusOK, nil); err != nil {
		return 0, err
	}
	t0 := time.Now()
	return c.until(c.nodes[1:], t0, c.gateRefuses(ck))
}

// revokeKey makes an API key on node A, uses it once on every node,
// revokes it on node A, and times it until every other node refuses it.
func (c *cluster) revokeKey() (time.Duration, error) {
	a := c.nodes[0]
	var k struct {
		Key    string `json:"key"`
		APIKey struct {
			ID string `json:"id"`
		} `json:"api_key"`
	}
	if err := c.dash(a, http.MethodPost, "/api/keys", c.adminCookie, map[string]any{
		"name": "bench-" + randomHex(4), "scopes": []string{"routes:read"}, "password": adminPassword,
	}, http.StatusCreated, &k); err != nil {
		return 0, err
	}
	if k.Key == "" || k.APIKey.ID == "" {
		return 0, errors.New("POST /api/keys answered no key")
	}
	for _, n := range c.nodes {
		if status, err := c.useKey(n, k.Key); err != nil || status != http.StatusOK {
			return 0, fmt.Errorf("a new key on %s: %d %v", n.name, status, err)
		}
	}
	if err := c.dash(a, http.MethodDelete, "/api/keys/"+k.APIKey.ID, c.adminCookie, nil, http.StatusNoContent, nil); err != nil {
		return 0, err
	}
	t0 := time.Now()
	return c.until(c.nodes[1:], t0, func(n *node) (bool, string, error) {
		status, err := c.useKey(n, k.Key)
		seen := strconv.Itoa(status)
		switch {
		case err != nil:
			return false, "", err
		case status != http.StatusOK && status != http.StatusUnauthorized:
			return false, seen, fmt.Errorf("a revoked key: %d, want 200 or 401", status)
		}
		return status == http.StatusUnauthorized, seen, nil
	})
}

// A probe polls one node once: done when the node shows the change;
// seen says what it answered.
type probe func(n *node) (done bool, seen string, err error)

// until polls every node of ns, each on its own goroutine with a pause
// of c.gap between polls, until probe is done on all of them, and
// returns the time from t0 to the last poll answer that showed the
// change. Each figure is thus an upper bound: it includes one poll's
// round trip and at most one pause.
func (c *cluster) until(ns []*node, t0 time.Time, p probe) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(ns))
	last := make([]time.Time, len(ns))
	for i, n := range ns {
		wg.Go(func() {
			for {
				done, seen, err := p(n)
				now := time.Now()
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("%s: %w", n.name, err)
					return
				case done:
					last[i] = now
					return
				case now.Sub(t0) > c.timeout:
					errs[i] = fmt.Errorf("%s: not in effect after %s (it answers %s); its log: %s", n.name, c.timeout, seen, n.log)
					return
				}
				time.Sleep(c.gap)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	end := t0
	for _, t := range last {
		if t.After(end) {
			end = t
		}
	}
	return end.Sub(t0), nil
}

// serves is a probe: the node serves body for host.
func (c *cluster) serves(host, body string) probe {
	return func(n *node) (bool, string, error) {
		status, raw, err := get(n.hc, c.routeURL(host), "")
		if err != nil {
			return false, "", err
		}
		seen := fmt.Sprintf("%d %.200q", status, raw)
		if status != http.StatusOK && status != http.StatusNotFound {
			return false, seen, fmt.Errorf("%s: %s", host, seen)
		}
		return status == http.StatusOK && string(raw) == body, seen, nil
	}
}

// gateRefuses is a probe: the node's gate answers the session 401.
func (c *cluster) gateRefuses(cookie string) probe {
	return func(n *node) (bool, string, error) {
		status, err := c.gate(n, cookie)
		seen := strconv.Itoa(status)
		switch {
		case err != nil:
			return false, "", err
		case status != http.StatusOK && status != http.StatusUnauthorized:
			return false, seen, fmt.Errorf("gate: %d, want 200 or 401", status)
		}
		return status == http.StatusUnauthorized, seen, nil
	}
}

// cacheSession makes every node but A cache the session: one gated
// request each, which must pass.
func (c *cluster) cacheSession(cookie string) error {
	for _, n := range c.nodes[1:] {
		if status, err := c.gate(n, cookie); err != nil || status != http.StatusOK {
			return fmt.Errorf("a new session on %s's gate: %d %v", n.name, status, err)
		}
	}
	return nil
}

// gate asks node n's site behind proxyos_auth with the session, as an
// API client would (a 401, not a redirect to the login page).
func (c *cluster) gate(n *node, cookie string) (int, error) {
	status, _, err := c.send(n, http.MethodGet, c.gateURL(), nil, http.Header{
		"Cookie": {"proxyos_session=" + cookie}, "Accept": {"application/json"}})
	return status, err
}

// useKey lists the routes of node n with an API key.
func (c *cluster) useKey(n *node, key string) (int, error) {
	status, _, err := c.send(n, http.MethodGet, c.dashURL("/api/routes"), nil, http.Header{"Authorization": {"Bearer " + key}})
	return status, err
}

// setup creates the dashboard's first admin on node n with the setup
// code from its admin API, and returns the admin's session cookie.
func (c *cluster) setup(n *node) (string, error) {
	var s struct {
		SetupCode string `json:"setup_code"`
	}
	if err := c.admin(n, http.MethodGet, "/proxyos/setup", nil, http.StatusOK, &s); err != nil {
		return "", err
	}
	if s.SetupCode == "" {
		return "", fmt.Errorf("%s: no setup code: the database already has users", n.name)
	}
	return c.session(n, "/api/setup", map[string]string{"email": adminEmail, "password": adminPassword, "setup_code": s.SetupCode}, http.StatusCreated)
}

// login logs in on node n's dashboard API and returns the session cookie.
func (c *cluster) login(n *node, email, password string) (string, error) {
	return c.session(n, "/api/auth/login", map[string]string{"email": email, "password": password}, http.StatusOK)
}

// session posts to a dashboard endpoint that answers a session cookie.
func (c *cluster) session(n *node, path string, body any, want int) (string, error) {
	b, _ := json.Marshal(body)
	status, raw, cookies, err := sendVia(n.hc, http.MethodPost, c.dashURL(path), b, c.dashHeader(""))
	if err == nil && status != want {
		err = fmt.Errorf("POST %s on %s: %d %.200s", path, n.name, status, raw)
	}
	if err != nil {
		return "", err
	}
	for _, ck := range cookies {
		if ck.Name == "proxyos_session" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("POST %s on %s set no session cookie", path, n.name)
}

// dashHeader is what the dashboard's pages send: same origin, JSON.
func (c *cluster) dashHeader(cookie string) http.Header {
	h := http.Header{"Origin": {c.dashURL("")}, "Accept": {"application/json"}, "Content-Type": {"application/json"}}
	if cookie != "" {
		h.Set("Cookie", "proxyos_session="+cookie)
	}
	return h
}

// dash calls node n's dashboard API with a session; out, if not nil,
// receives the JSON answer.
func (c *cluster) dash(n *node, method, path, cookie string, body any, want int, out any) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, raw, err := c.send(n, method, c.dashURL(path), b, c.dashHeader(cookie))
	return answer(method, path, n, status, raw, err, want, out)
}

// admin calls node n's admin API (on 127.0.0.1); out, if not nil, receives the JSON
// answer.
func (c *cluster) admin(n *node, method, path string, body any, want int, out any) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, raw, _, err := sendVia(client, method, c.adminURL(n, path), b, http.Header{"Content-Type": {"application/json"}})
	return answer(method, path, n, status, raw, err, want, out)
}

func answer(method, path string, n *node, status int, raw []byte, err error, want int, out any) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s %s on %s: %w", method, path, n.name, err)
	case status != want:
		return fmt.Errorf("%s %s on %s: %d %.200s, want %d", method, path, n.name, status, raw, want)
	case out != nil:
		return json.Unmarshal(raw, out)
	}
	return nil
}

// send sends one request to node n and reads the whole answer.
func (c *cluster) send(n *node, method, url string, body []byte, h http.Header) (int, []byte, error) {
	status, raw, _, err := sendVia(n.hc, method, url, body, h)
	return status, raw, err
}

// sendVia sends one request with hc and reads the whole answer.
func sendVia(hc *http.Client, method, url string, body []byte, h http.Header) (int, []byte, []*http.Cookie, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = h
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Cookies(), err
}
