package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Host names the nodes serve; clients reach a node by its address,
// whatever the name (see node.hc), as behind a load balancer.
const (
	dashHost  = "dash.bench.test"  // the dashboard (the app's url)
	gateHost  = "app.bench.test"   // the site behind proxyos_auth
	propHost  = "prop.bench.test"  // the static route whose changes are timed
	fenceHost = "fence.bench.test" // the static route changed to know a node caught up
	tputHost  = "tput.bench.test"  // the proxy route of the throughput runs
)

// postgresEnv names the PostgreSQL server when -dsn is not given (the
// variable scripts/test.sh sets for the tests).
const postgresEnv = "PROXYOS_TEST_POSTGRES"

// cmdCluster measures cluster mode: it creates a fresh database on a
// PostgreSQL server, starts -nodes Caddy processes on it (node A on
// 127.0.0.2, B on 127.0.0.3, …, all on the same ports), and times how
// long changes written on node A take to be in effect on every other
// node (see propagation.go). With -runs it also measures the throughput
// of the gate and of a managed route on node B against a single node on
// SQLite (see throughput.go). It prints samples; the database is dropped
// and the nodes are stopped at the end.
//
// With -check it only connects to the server and prints its version.
func cmdCluster(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	bin := fs.String("caddy", "", "Caddy binary with the proxyos modules")
	dsn := fs.String("dsn", os.Getenv(postgresEnv), "postgres:// URL of a server on which the tool may create databases (default $"+postgresEnv+")")
	check := fs.Bool("check", false, "only check that the server answers, and print its version")
	nodes := fs.Int("nodes", 2, "nodes in the cluster (at least 2)")
	changes := fs.Int("changes", 200, "changes timed of each kind")
	dir := fs.String("dir", "", "work directory for the nodes' configs, data and logs (default: a temporary one, removed)")
	gap := fs.Duration("gap", 250*time.Microsecond, "pause between two polls of one node")
	upstream := fs.String("upstream", "", "host:port the gate and the throughput route proxy to (default: the gate answers ok itself)")
	runs := fs.Int("runs", 0, "wrk runs per throughput scenario (0: no throughput runs; they need -upstream)")
	duration := fs.Duration("duration", 5*time.Second, "length of one wrk run")
	threads := fs.Int("threads", 1, "wrk threads")
	conns := fs.Int("conns", 32, "wrk connections")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	if *dsn == "" {
		return errors.New("no PostgreSQL server: give -dsn or set " + postgresEnv + ", e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *check {
		v, err := postgresVersion(ctx, *dsn)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil
	}
	switch {
	case *bin == "":
		return errors.New("need -caddy")
	case *nodes < 2:
		return errors.New("need -nodes ≥ 2")
	case *runs > 0 && *upstream == "":
		return errors.New("throughput runs (-runs) need -upstream")
	case *runs > 0 && *duration < time.Second:
		return errors.New("need -duration ≥ 1s")
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "proxyos-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}

	db, drop, err := createDatabase(ctx, *dsn)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintf(os.Stderr, "benchtool cluster: dropping the benchmark database: %v\n", err)
		}
	}()
	c := &cluster{bin: *bin, dir: *dir, upstream: *upstream, gap: *gap, timeout: 10 * time.Second, secret: randomHex(24)}
	ips := []string{"127.0.0.1"} // the single node of the throughput runs
	for i := range *nodes {
		ips = append(ips, fmt.Sprintf("127.0.0.%d", 2+i))
	}
	var admins []int
	if c.ports, admins, err = pickPorts(ips, 3, len(ips)); err != nil {
		return err
	}
	for i, ip := range ips[1:] {
		c.nodes = append(c.nodes, c.newNode(fmt.Sprintf("node-%c", 'a'+i), ip, admins[1+i], "postgres "+db))
	}
	defer c.stopAll()
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := c.ready(ctx, n); err != nil {
			return err
		}
	}
	if c.adminCookie, err = c.setup(c.nodes[0]); err != nil {
		return err
	}
	if err := c.propagation(ctx, *changes); err != nil {
		return err
	}
	if *runs > 0 {
		single := c.newNode("single", ips[0], admins[0], "sqlite "+filepath.Join(*dir, "single", "proxyos.db"))
		if err := c.start(single); err != nil {
			return err
		}
		if err := c.ready(ctx, single); err != nil {
			return err
		}
		return c.throughput(ctx, single, *runs, *duration, *threads, *conns)
	}
	return nil
}

// cluster is the nodes of one benchmark: nodes[0] (node A) is where
// every change is written.
type cluster struct {
	bin, dir, secret string
	upstream         string        // host:port, or "" for a gate answering ok
	gap, timeout     time.Duration // between polls; for a change to show
	ports            []int         // dashboard, gate, managed routes
	nodes            []*node
	started          []*node // every node started, the single one too

	adminCookie string // the session of the dashboard's admin, made on node A
}

// node is one Caddy process.
type node struct {
	name, ip string
	admin    int    // the port of its admin endpoint, on 127.0.0.1
	database string // the proxyos database option: "postgres <dsn>" or "sqlite <path>"
	// hc reaches this node (its address, on the URL's port) whatever the
	// URL's host, on keep-alive connections, without following
	// redirects.
	hc *http.Client

	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func (c *cluster) newNode(name, ip string, admin int, database string) *node {
	return &node{name: name, ip: ip, admin: admin, database: database, hc: nodeClient(ip), log: filepath.Join(c.dir, name+".log")}
}

// nodeClient returns a client whose connections go to ip, on the URL's
// port, whatever the URL's host.
func nodeClient(ip string) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
			},
			MaxIdleConnsPerHost: 8,
		},
	}
}

func (c *cluster) adminURL(n *node, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.admin, path)
}
func (c *cluster) dashURL(path string) string {
	return fmt.Sprintf("http://%s:%d%s", dashHost, c.ports[0], path)
}
func (c *cluster) gateURL() string { return fmt.Sprintf("http://%s:%d/", gateHost, c.ports[1]) }
func (c *cluster) routeURL(host string) string {
	return fmt.Sprintf("http://%s:%d/", host, c.ports[2])
}

// caddyfile is the config of node n: the dashboard, a site behind
// proxyos_auth and the managed routes, on the node's own address.
func (c *cluster) caddyfile(n *node) string {
	gate := "respond \"ok\""
	if c.upstream != "" {
		gate = "reverse_proxy " + c.upstream
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%[2]d
	default_bind %[1]s
	persist_config off
	log {
		level WARN
	}
	proxyos {
		secret %[3]s
		database %[4]s
		node_name %[5]s
		url http://%[6]s:%[7]d
	}
}

http://:%[7]d {
	proxyos_dashboard
}

http://:%[8]d {
	proxyos_auth
	%[9]s
}

http://:%[10]d {
	proxyos_routes
	respond "no route" 404
}
`, n.ip, n.admin, c.secret, n.database, n.name, dashHost, c.ports[0], c.ports[1], gate, c.ports[2])
}

// start runs node n's Caddy with its own data and config directories.
func (c *cluster) start(n *node) error {
	home := filepath.Join(c.dir, n.name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	config := filepath.Join(c.dir, n.name+".Caddyfile")
	if err := os.WriteFile(config, []byte(c.caddyfile(n)), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	n.cmd = exec.Command(c.bin, "run", "--config", config, "--adapter", "caddyfile")
	n.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "HOME="+home)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	// Should this tool die without stopping them, the nodes die too.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		n.cmd.Wait() //nolint:errcheck // an exit is noticed through n.exited
		close(n.exited)
	}()
	c.started = append(c.started, n)
	return nil
}

// ready waits until node n's proxyos app runs (its admin API answers)
// and its managed routes' port answers.
func (c *cluster) ready(ctx context.Context, n *node) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if status, _, err := get(client, c.adminURL(n, "/proxyos/setup"), ""); err == nil && status == http.StatusOK {
			if status, _, err := get(n.hc, c.routeURL("none.bench.test"), ""); err == nil && status == http.StatusNotFound {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start; its log: %s", n.name, n.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up within 2 minutes; its log: %s", n.name, n.log)
		}
	}
}

// stopAll ends every node started: SIGTERM, then SIGKILL after 30 s.
func (c *cluster) stopAll() {
	for _, n := range c.started {
		n.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	}
	for _, n := range c.started {
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			n.cmd.Process.Kill() //nolint:errcheck // it may have exited
			<-n.exited
		}
	}
}

// pickPorts returns common ports that were free a moment ago on every
// one of the addresses, so that each node can bind the same ports on its
// own address, and own more ports free on 127.0.0.1 (Caddy's admin
// endpoint answers only Host names of localhost addresses, so every
// node's is there).
func pickPorts(ips []string, common, own int) ([]int, []int, error) {
	var (
		ports, owns []int
		held        []net.Listener
	)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < common; tries++ {
		if tries == 100 {
			return nil, nil, errors.New("found no port free on every node's address")
		}
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return nil, nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		held = append(held, ls...)
		if len(ls) == len(ips) {
			ports = append(ports, port)
		}
	}
	for range own {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		held = append(held, l)
		owns = append(owns, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, owns, nil
}

// createDatabase creates a database of its own on the server of the
// postgres:// URL dsn and returns its URL, and a function that drops it.
func createDatabase(ctx context.Context, dsn string) (string, func() error, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("the PostgreSQL server must be given as a postgres:// URL")
	}
	server, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, redact(err, u)
	}
	name := "proxyos_bench_" + randomHex(6)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := server.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		server.Close()
		return "", nil, fmt.Errorf("creating a database on the PostgreSQL server: %w", redact(err, u))
	}
	drop := func() error {
		defer server.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := server.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return redact(err, u)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// postgresVersion connects to the server and returns its version, or an
// error saying clearly that it is unreachable.
func postgresVersion(ctx context.Context, dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("the PostgreSQL server must be given as a postgres:// URL")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", redact(err, u)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("PostgreSQL server %s unreachable (cluster benchmarks need one): %w", u.Redacted(), redact(err, u))
	}
	return "PostgreSQL " + strings.Fields(v)[0], nil
}

// redact removes the URL's password from an error's text.
func redact(err error, u *url.URL) error {
	if err == nil {
		return nil
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
