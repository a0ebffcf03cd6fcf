package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// handedOut holds every port freePort returned in this run.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort returns a loopback port that was free a moment ago and that no
// other caller in this run was given: Caddy listens with SO_REUSEPORT, so
// two instances given one port would both bind it and share its
// connections instead of failing. Another process may still take the port
// before it is bound; instance.TryStart retries then.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedOut.Lock()
		fresh := !handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if fresh {
			return port
		}
	}
	t.Fatal("no loopback port that was not handed out before")
	return 0
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bounds of one start of an instance.
const (
	startAttempts = 5                // first starts, each on new ports after a port was taken
	startTimeout  = 60 * time.Second // until the admin endpoint serves the config
)

// errPortTaken is why a start failed when Caddy could not bind a port it
// was given: something else took it after the harness picked it.
var errPortTaken = errors.New("a port of the instance is taken")

// instance is one Caddy process with its own data and config directories,
// which survive Restart and Kill so state persists like on a real host.
//
// The harness picks its ports (Admin, and Port for each name) and its
// Caddyfile is a function of them (Configure). When the first start finds
// a port taken, it picks new ports and renders the Caddyfile again, so read
// the ports after Start (or in the Configure function), never before.
type instance struct {
	t     testing.TB
	Home  string // XDG_DATA_HOME and XDG_CONFIG_HOME live under here
	Admin string // admin endpoint, 127.0.0.1:port
	Env   []string
	Bin   string // the Caddy binary; default caddyBin

	caddyfile func() string  // renders the Caddyfile from the current ports
	fixed     bool           // the Caddyfile was written as is: it does not follow new ports
	ports     map[string]int // by name
	served    bool           // has served once: the test knows its ports, they stay
	cmd       *exec.Cmd
	log       *syncBuffer
	logs      []*syncBuffer // every run's log, oldest first
	done      chan struct{}
}

// newInstance prepares (but does not start) a Caddy process with its admin
// endpoint on a free port; its Caddyfile has `admin <inst.Admin>` in the
// global options.
func newInstance(t testing.TB) *instance {
	t.Helper()
	inst := &instance{t: t, Home: t.TempDir(), ports: map[string]int{}}
	inst.Admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	t.Cleanup(func() {
		inst.Kill()
		if t.Failed() {
			t.Logf("caddy log:\n%s", inst.FullLog())
		}
	})
	return inst
}

// Port returns the instance's loopback port called name (such as "dash"),
// picked on first use. Until the instance has served once, a start that
// finds a port taken picks new ones for every name.
func (c *instance) Port(name string) int {
	c.t.Helper()
	p, ok := c.ports[name]
	if !ok {
		p = freePort(c.t)
		c.ports[name] = p
	}
	return p
}

// pickPorts replaces the admin endpoint's port and every named port.
func (c *instance) pickPorts() {
	c.t.Helper()
	c.Admin = fmt.Sprintf("127.0.0.1:%d", freePort(c.t))
	for name := range c.ports {
		c.ports[name] = freePort(c.t)
	}
}

// Configure sets the Caddyfile of the following starts as a function of
// the instance's ports (c.Admin, c.Port): every start renders it again.
func (c *instance) Configure(caddyfile func() string) {
	c.caddyfile, c.fixed = caddyfile, false
}

// WriteConfig writes a fixed Caddyfile, for a reload of the running
// instance (POST /load, caddy reload) and the starts after it. It does not
// follow new ports: a first start with it does not retry.
func (c *instance) WriteConfig(caddyfile string) {
	c.t.Helper()
	c.caddyfile, c.fixed = func() string { return caddyfile }, true
	if err := c.writeConfig(caddyfile); err != nil {
		c.t.Fatal(err)
	}
}

// ConfigFile is the path of the Caddyfile the instance runs with.
func (c *instance) ConfigFile() string { return filepath.Join(c.Home, "Caddyfile") }

func (c *instance) writeConfig(caddyfile string) error {
	return os.WriteFile(c.ConfigFile(), []byte(caddyfile), 0o600)
}

// Start runs Caddy and waits until its admin endpoint serves the config
// (see TryStart).
func (c *instance) Start() {
	c.t.Helper()
	if err := c.TryStart(); err != nil {
		c.t.Fatalf("starting caddy: %v\nlog:\n%s", err, c.Log())
	}
}

// TryStart runs Caddy and waits until its admin endpoint serves the config
// rendered for this start, or returns why it did not start. When the first
// start of the instance fails because a port it was given is taken, it
// picks new ports and starts again, up to startAttempts times; later
// starts (Restart, Start after Kill) keep the ports the test knows.
func (c *instance) TryStart() error {
	c.t.Helper()
	for attempt := 1; ; attempt++ {
		err := c.run()
		switch {
		case err == nil:
			c.served = true
			return nil
		case errors.Is(err, errPortTaken) && !c.served && !c.fixed && attempt < startAttempts:
			c.t.Logf("%v; starting again on new ports (attempt %d of %d)", err, attempt+1, startAttempts)
			c.pickPorts()
		default:
			return err
		}
	}
}

// run renders and writes the Caddyfile, runs Caddy once and waits until
// it serves the config.
func (c *instance) run() error {
	if c.caddyfile == nil {
		return errors.New("no Caddyfile: call Configure first")
	}
	caddyfile := c.caddyfile()
	if err := c.writeConfig(caddyfile); err != nil {
		return err
	}
	c.log = new(syncBuffer)
	c.logs = append(c.logs, c.log)
	bin := c.Bin
	if bin == "" {
		bin = caddyBin
	}
	c.cmd = exec.Command(bin, "run", "--config", c.ConfigFile(), "--adapter", "caddyfile")
	c.cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(c.Home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Home, "config"),
		"HOME="+c.Home,
	)
	c.cmd.Env = append(c.cmd.Env, c.Env...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	c.done = done
	go func() { c.cmd.Wait(); close(done) }() //nolint:errcheck // exit status is in the log
	return c.waitServing(caddyfile, done)
}

// waitServing polls the admin endpoint until GET /config/ answers the
// config adapted from caddyfile (the endpoint's POST /adapt does that).
// Caddy answers GET /config/ only once the initial config is running, and
// the comparison tells this instance from another process on its admin
// port. It fails as soon as the process exits.
func (c *instance) waitServing(caddyfile string, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel() // ends a request the dead process would never answer
		case <-ctx.Done():
		}
	}()
	var want any
	last := "no answer yet"
	for {
		select {
		case <-done:
			return c.exitError()
		default:
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the admin endpoint did not serve the config within %s: %s", startTimeout, last)
		}
		var err error
		if want == nil {
			want, err = c.adminJSON(ctx, http.MethodPost, "/adapt", caddyfile)
			if m, ok := want.(map[string]any); ok {
				want = m["result"]
			}
		}
		if err == nil {
			var got any
			if got, err = c.adminJSON(ctx, http.MethodGet, "/config/", ""); err == nil {
				if reflect.DeepEqual(got, want) {
					return nil
				}
				err = errors.New("GET /config/ answers another config")
			}
		}
		last = err.Error()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// adminJSON calls the admin endpoint (with a Caddyfile body, if any) and
// decodes its 200 answer.
func (c *instance) adminJSON(ctx context.Context, method, path, caddyfile string) (any, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Admin+path, strings.NewReader(caddyfile))
	if err != nil {
		return nil, err
	}
	if caddyfile != "" {
		req.Header.Set("Content-Type", "text/caddyfile")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, path, err)
	}
	return v, nil
}

// exitError says why the process exited during a start: errPortTaken with
// Caddy's message when it could not bind a port.
func (c *instance) exitError() error {
	for _, line := range strings.Split(c.log.String(), "\n") {
		if strings.Contains(line, "address already in use") {
			return fmt.Errorf("caddy exited: %w: %s", errPortTaken, strings.TrimSpace(line))
		}
	}
	return errors.New("caddy exited")
}

// Stop ends Caddy gracefully (SIGTERM) and waits for it.
func (c *instance) Stop() {
	c.t.Helper()
	c.signal(syscall.SIGTERM)
}

// Kill ends Caddy at once (SIGKILL, as kill -9) and waits for it.
func (c *instance) Kill() { c.signal(syscall.SIGKILL) }

func (c *instance) signal(sig syscall.Signal) {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
	default:
		c.cmd.Process.Signal(sig) //nolint:errcheck // may have exited
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill() //nolint:errcheck // last resort
			<-c.done
		}
	}
	c.cmd = nil
}

// Restart stops Caddy gracefully and starts it again with the same
// directories, the same ports and the current config.
func (c *instance) Restart() {
	c.t.Helper()
	c.Stop()
	c.Start()
}

// Log returns everything Caddy printed so far in its last run.
func (c *instance) Log() string {
	if c.log == nil {
		return ""
	}
	return c.log.String()
}

// FullLog returns everything Caddy printed in every run of this instance.
func (c *instance) FullLog() string {
	var b strings.Builder
	for i, l := range c.logs {
		if i > 0 {
			b.WriteString("--- restart ---\n")
		}
		b.WriteString(l.String())
	}
	return b.String()
}

// TestInstanceRetriesTakenPort holds a listener on a port the instance
// was given before its first start, as another process may take a port
// between freePort and Caddy's bind, and checks that the start still
// gives a running instance: on new ports, with the Caddyfile rendered for
// them, after a failed attempt that names the taken port.
func TestInstanceRetriesTakenPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		take func(inst *instance) int // the port to occupy
	}{
		{"site port", func(inst *instance) int { return inst.Port("site") }},
		{"admin port", func(inst *instance) int {
			_, p, _ := net.SplitHostPort(inst.Admin)
			n, _ := strconv.Atoi(p)
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst := newInstance(t)
			inst.Configure(func() string {
				return testCaddyfile(inst.Admin, "", "", fmt.Sprintf("http://localhost:%d {\n\trespond \"site on %[1]d\"\n}", inst.Port("site")))
			})
			taken := tt.take(inst)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", taken))
			if err != nil {
				t.Fatalf("occupying port %d: %v", taken, err)
			}
			defer l.Close()

			inst.Start()
			if len(inst.logs) < 2 || !strings.Contains(inst.logs[0].String(), fmt.Sprintf(":%d: bind: address already in use", taken)) {
				t.Fatalf("the first attempt did not fail on port %d:\n%s", taken, inst.FullLog())
			}
			site := inst.Port("site")
			if site == taken || inst.Admin == l.Addr().String() {
				t.Fatalf("still on the occupied port %d (site %d, admin %s)", taken, site, inst.Admin)
			}
			base := fmt.Sprintf("http://localhost:%d", site)
			resp, raw := do(t, plainHTTP, http.MethodGet, base+"/", nil, nil)
			if want := fmt.Sprintf("site on %d", site); resp.StatusCode != http.StatusOK || string(raw) != want {
				t.Fatalf("GET %s/: %d %q, want 200 %q", base, resp.StatusCode, raw, want)
			}
			resp, raw = inst.AdminDo(http.MethodGet, "/config/admin/listen", nil)
			if want := fmt.Sprintf("%q\n", inst.Admin); resp.StatusCode != http.StatusOK || string(raw) != want {
				t.Fatalf("GET /config/admin/listen: %d %q, want %q", resp.StatusCode, raw, want)
			}
		})
	}
}
