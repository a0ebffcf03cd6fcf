package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// client keeps connections alive, as a real API client and wrk do.
var client = &http.Client{Timeout: 5 * time.Minute}

// Credentials of the benchmark's dashboard admin.
const (
	adminEmail    = "bench@bench.test"
	adminPassword = "bench-password-0123"
)

// cmdSession creates the first admin through the dashboard's setup API
// (with the setup code from the admin API) and prints the session cookie.
func cmdSession(args []string) error {
	fs := flag.NewFlagSet("session", flag.ExitOnError)
	admin := fs.String("admin", "", "admin endpoint host:port")
	dash := fs.String("dash", "", "dashboard base URL, e.g. http://127.0.0.1:8080")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	var setup struct {
		SetupCode string `json:"setup_code"`
	}
	if err := getJSON("http://"+*admin+"/proxyos/setup", &setup); err != nil {
		return err
	}
	if setup.SetupCode == "" {
		return errors.New("no setup code: the instance already has users")
	}
	body, _ := json.Marshal(map[string]string{"email": adminEmail, "password": adminPassword, "setup_code": setup.SetupCode})
	req, _ := http.NewRequest(http.MethodPost, *dash+"/api/setup", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", *dash)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/setup: %d %s", resp.StatusCode, raw)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "proxyos_session" {
			fmt.Println(c.Value)
			return nil
		}
	}
	return errors.New("POST /api/setup set no session cookie")
}

// routeSpec is a managed proxy route as the admin API takes it.
func routeSpec(host, upstream string, version int, header string) map[string]any {
	r := map[string]any{
		"name": host, "enabled": true, "hosts": []string{host},
		"kind": "proxy", "tls": "off", "upstreams": []string{upstream},
	}
	if version > 0 {
		r["version"] = version
	}
	if header != "" {
		r["headers"] = map[string]any{"response": map[string]any{"set": map[string]string{"X-Bench-Version": header}}}
	}
	return r
}

// hostName is the i-th benchmark host; run.sh and the native configs use
// the same names.
func hostName(i int) string { return "r" + strconv.Itoa(i) + ".bench.test" }

// cmdSeed creates proxy routes for hosts r<from>…r<to> (or one -host)
// through POST /proxyos/routes, a few requests in flight at once; with
// -rate-limit, each with a rate limit per client IP.
func cmdSeed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	admin := fs.String("admin", "", "admin endpoint host:port")
	upstream := fs.String("upstream", "", "upstream URL of every route")
	from := fs.Int("from", 1, "first host index")
	to := fs.Int("to", 0, "last host index")
	host := fs.String("host", "", "create one route for this host instead")
	workers := fs.Int("workers", 4, "requests in flight")
	rateLimit := fs.Int("rate-limit", 0, "when set, each route allows this many requests per second and client IP")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	hosts := make(chan string)
	go func() {
		if *host != "" {
			hosts <- *host
		}
		for i := *from; *host == "" && i <= *to; i++ {
			hosts <- hostName(i)
		}
		close(hosts)
	}()
	var (
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for range *workers {
		wg.Go(func() {
			for h := range hosts {
				if failed.Load() != nil {
					continue
				}
				spec := routeSpec(h, *upstream, 0, "")
				if *rateLimit > 0 {
					spec["rate_limit"] = map[string]any{"requests": *rateLimit, "per": "1s"}
				}
				status, raw, err := sendJSON(http.MethodPost, "http://"+*admin+"/proxyos/routes", spec)
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("POST /proxyos/routes %s: %d %s", h, status, raw)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return nil
}

// cmdApply times route changes through PUT /proxyos/routes/{id}: from
// sending the request to the first response of the route's host that
// carries the new X-Bench-Version header.
func cmdApply(args []string) error {
	fs := flag.NewFlagSet("apply", flag.ExitOnError)
	admin := fs.String("admin", "", "admin endpoint host:port")
	url := fs.String("url", "", "URL the managed routes are served on")
	host := fs.String("host", "", "host of the route to change")
	upstream := fs.String("upstream", "", "upstream URL of the route")
	reps := fs.Int("reps", 10, "changes to time")
	name := fs.String("name", "apply", "sample name")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	var list struct {
		Routes []struct {
			ID      string   `json:"id"`
			Hosts   []string `json:"hosts"`
			Version int      `json:"version"`
		} `json:"routes"`
	}
	if err := getJSON("http://"+*admin+"/proxyos/routes", &list); err != nil {
		return err
	}
	id, version := "", 0
	for _, r := range list.Routes {
		if len(r.Hosts) == 1 && r.Hosts[0] == *host {
			id, version = r.ID, r.Version
		}
	}
	if id == "" {
		return fmt.Errorf("no route for host %s among %d", *host, len(list.Routes))
	}
	for i := -1; i < *reps; i++ { // one untimed change first
		nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
		start := time.Now()
		var updated struct {
			Version int `json:"version"`
		}
		status, raw, err := sendJSON(http.MethodPut, "http://"+*admin+"/proxyos/routes/"+id, routeSpec(*host, *upstream, version, nonce))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("PUT /proxyos/routes/%s: %d %s", id, status, raw)
		}
		if err == nil {
			err = json.Unmarshal(raw, &updated)
		}
		if err != nil {
			return err
		}
		version = updated.Version
		if err := waitHeader(*url, *host, nonce, 60*time.Second); err != nil {
			return err
		}
		if i >= 0 {
			sample(*name, ms(time.Since(start)), "ms")
		}
	}
	return nil
}

// cmdLoad times Caddy's POST /load of two configs in turn, from sending
// the config to the first response of the host that carries the
// X-Bench-Version of the config just loaded ("a" or "b").
func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	admin := fs.String("admin", "", "admin endpoint host:port")
	url := fs.String("url", "", "URL the sites are served on")
	host := fs.String("host", "", "host whose response header changes")
	reps := fs.Int("reps", 5, "loads to time")
	name := fs.String("name", "load", "sample name")
	fileA := fs.String("a", "", "config JSON setting X-Bench-Version: a")
	fileB := fs.String("b", "", "config JSON setting X-Bench-Version: b")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	cfgs := [2][]byte{}
	for i, f := range []string{*fileA, *fileB} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		cfgs[i] = b
	}
	for i := -1; i < *reps; i++ { // config a first, untimed
		which := (i + 1) % 2
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, "http://"+*admin+"/load", bytes.NewReader(cfgs[which]))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /load: %d %s", resp.StatusCode, raw)
		}
		if err := waitHeader(*url, *host, string(rune('a'+which)), 120*time.Second); err != nil {
			return err
		}
		if i >= 0 {
			sample(*name, ms(time.Since(start)), "ms")
		}
	}
	return nil
}

// cmdWait polls a host until it answers 200 (or -status) and prints the time since
// -since (Unix nanoseconds, taken just before the process was started).
func cmdWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll")
	host := fs.String("host", "", "Host header")
	since := fs.Int64("since", 0, "start time, Unix nanoseconds")
	name := fs.String("name", "", "sample name (none: print nothing)")
	want := fs.Int("status", http.StatusOK, "status to wait for")
	pid := fs.Int("pid", 0, "give up when this process has exited")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	deadline := time.Now().Add(*timeout)
	poll := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if status, _, err := get(poll, *url, *host); err == nil && status == *want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (Host %s) did not answer %d within %s", *url, *host, *want, *timeout)
		}
		if *pid != 0 && syscall.Kill(*pid, 0) != nil {
			return fmt.Errorf("process %d exited", *pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if *name != "" {
		sample(*name, ms(time.Since(time.Unix(0, *since))), "ms")
	}
	return nil
}

// heapAllocRe finds the live heap in /debug/pprof/heap?debug=1.
var heapAllocRe = regexp.MustCompile(`(?m)^# HeapAlloc = (\d+)$`)

// cmdHeap prints the live heap of a running Caddy after a GC, read from
// its admin endpoint's /debug/pprof/heap (gc=1 collects first).
func cmdHeap(args []string) error {
	fs := flag.NewFlagSet("heap", flag.ExitOnError)
	admin := fs.String("admin", "", "admin endpoint host:port")
	name := fs.String("name", "heap", "sample name")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	var heap string
	for range 2 { // the second GC also frees what the first left to finalizers
		status, raw, err := get(client, "http://"+*admin+"/debug/pprof/heap?gc=1&debug=1", "")
		if err != nil {
			return err
		}
		m := heapAllocRe.FindSubmatch(raw)
		if status != http.StatusOK || m == nil {
			return fmt.Errorf("GET /debug/pprof/heap: %d, no HeapAlloc", status)
		}
		heap = string(m[1])
	}
	v, _ := strconv.ParseFloat(heap, 64)
	sample(*name, v, "B")
	return nil
}

// waitHeader polls url with the Host header until X-Bench-Version is want.
func waitHeader(url, host, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // draining
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Bench-Version") == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (Host %s) did not serve X-Bench-Version %q within %s", url, host, want, timeout)
		}
	}
}

func get(c *http.Client, url, host string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func getJSON(url string, v any) error {
	status, raw, err := get(client, url, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, status, raw)
	}
	return json.Unmarshal(raw, v)
}

func sendJSON(method, url string, v any) (int, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cmdPorts prints n loopback ports that were free a moment ago.
func cmdPorts(args []string) error {
	fs := flag.NewFlagSet("ports", flag.ExitOnError)
	n := fs.Int("n", 1, "how many")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range *n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
