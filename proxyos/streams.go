package proxyos

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/mholt/caddy-l4/layer4"
	_ "github.com/mholt/caddy-l4/modules/l4tls" // the tls matcher that reads the ClientHello
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// Timeouts of stream connections.
const (
	streamDialTimeout  = 10 * time.Second
	streamKeepAlive    = 30 * time.Second
	streamHelloTimeout = 5 * time.Second // to read a ClientHello, or complete a handshake
	streamUDPIdle      = 2 * time.Minute // a UDP client's session ends after this silence
)

// streams serves the managed streams of one database, on this node: the
// listeners of streams on ports of their own (opened through Caddy's
// listener facilities, so that a config reload keeps them) and the
// streams that share an HTTPS port by server name (see StreamsWrapper).
// It lives in the shared state: config reloads do not touch it, and a
// stream change touches only that stream. Connections in flight keep
// the stream version they started with.
type streams struct {
	mu        sync.Mutex
	byID      map[string]*liveStream
	listeners map[string]*streamListener // by stream id
	shared    atomic.Pointer[[]*liveStream]
	wrapped   map[uint16]int // ports where a proxyos_streams wrapper runs, by count

	// Of the latest config: the guard of every dial, the context TLS
	// configs are made in, Caddy's HTTP ports.
	guard  atomic.Pointer[upstream.Guard]
	ctx    atomic.Pointer[caddy.Context]
	ports  atomic.Pointer[func() *listenPorts]
	logger atomic.Pointer[zap.Logger]
	hello  atomic.Pointer[layer4.RouteList] // see provisionHello

	// changed, when set, is called after the set of listeners changed.
	changed func()
}

// liveStream is one version of a stream, ready to serve.
type liveStream struct {
	*stream.Stream
	addr   stream.Address
	shared bool        // on an HTTPS port of Caddy's, by server name
	tls    *tls.Config // for tls terminate
}

// streamListener is a listener of streams on a port of its own; the
// stream version it serves is swapped in place when its address stays.
type streamListener struct {
	addr stream.Address
	cur  atomic.Pointer[liveStream]
	ln   net.Listener
	pc   net.PacketConn
}

func newStreams() *streams {
	s := &streams{byID: make(map[string]*liveStream), listeners: make(map[string]*streamListener), wrapped: make(map[uint16]int)}
	s.shared.Store(new([]*liveStream))
	return s
}

// follow makes the streams use a's guard, context and listeners.
func (s *streams) follow(a *App) error {
	if err := s.provisionHello(a.ctx); err != nil {
		return err
	}
	s.guard.Store(a.upstreams)
	ctx := a.ctx
	s.ctx.Store(&ctx)
	ports := a.handoffPorts
	s.ports.Store(&ports)
	s.logger.Store(a.logger)
	return nil
}

func (s *streams) log() *zap.Logger {
	if l := s.logger.Load(); l != nil {
		return l
	}
	return zap.NewNop()
}

// Shared reports whether Caddy's HTTP servers listen on addr's port, and
// whether a proxyos_streams wrapper routes TLS connections there.
func (s *streams) Shared(addr stream.Address) (used, ok bool) {
	used = s.httpUses(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	return used, used && addr.Network == stream.TCP && s.wrapped[addr.Port] > 0 && s.httpsPort(addr.Port)
}

// Serving reports whether stream id is served.
func (s *streams) Serving(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id] != nil
}

// terminating returns the served stream with tls terminate whose hosts
// cover server name sni, or nil.
func (s *streams) terminating(sni string) *stream.Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ls := range s.byID {
		if ls.TLS == stream.TLSTerminate && ls.Serves(sni) {
			return ls.Stream
		}
	}
	return nil
}

// httpsPort reports whether Caddy serves HTTPS on port.
func (s *streams) httpsPort(port uint16) bool {
	f := s.ports.Load()
	return f != nil && (*f)().serves("https", int(port))
}

// httpUses reports whether Caddy's HTTP servers listen on addr's port
// (UDP: HTTP/3 on its HTTPS ports).
func (s *streams) httpUses(addr stream.Address) bool {
	f := s.ports.Load()
	if f == nil {
		return false
	}
	p := (*f)()
	if addr.Network == stream.UDP {
		return p.serves("https", int(addr.Port))
	}
	return p.serves("https", int(addr.Port)) || p.serves("http", int(addr.Port))
}

// Prepare opens what stream x needs: a listener when it listens on a
// new address, a TLS config for tls terminate.
func (s *streams) Prepare(x *stream.Stream) (stream.Prepared, error) {
	ls := &liveStream{Stream: x, addr: x.Addr()}
	ls.shared = s.httpUses(ls.addr)
	if ls.shared && ls.addr.Network == stream.UDP {
		return nil, errors.New("this Caddy serves HTTP/3 on this UDP port")
	}
	if x.TLS == stream.TLSTerminate {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		ls.tls = cfg
	}
	p := &preparedStream{s: s, ls: ls}
	if ls.shared {
		return p, nil
	}
	s.mu.Lock()
	old := s.listeners[x.ID]
	s.mu.Unlock()
	if old != nil && old.addr == ls.addr {
		p.reuse = old
		return p, nil
	}
	na := caddy.NetworkAddress{Network: ls.addr.Network, Host: ls.addr.Host, StartPort: uint(ls.addr.Port), EndPort: uint(ls.addr.Port)}
	v, err := na.Listen(context.Background(), 0, net.ListenConfig{KeepAlive: streamKeepAlive})
	if err != nil {
		return nil, err
	}
	p.ln = &streamListener{addr: ls.addr}
	switch l := v.(type) {
	case net.Listener:
		p.ln.ln = l
	case net.PacketConn:
		p.ln.pc = l
	default:
		return nil, fmt.Errorf("unexpected listener %T", v)
	}
	return p, nil
}

// tlsConfig returns a TLS config of the latest config's TLS app: its
// certificates and automation, as HTTPS routes get them.
func (s *streams) tlsConfig() (*tls.Config, error) {
	ctx := s.ctx.Load()
	if ctx == nil {
		return nil, errors.New("no TLS app")
	}
	cp := caddytls.ConnectionPolicies{new(caddytls.ConnectionPolicy)}
	if err := cp.Provision(*ctx); err != nil {
		return nil, fmt.Errorf("TLS: %v", err)
	}
	return cp.TLSConfig(*ctx), nil
}

// preparedStream is a stream version ready to be committed.
type preparedStream struct {
	s     *streams
	ls    *liveStream
	ln    *streamListener // a new listener
	reuse *streamListener // the stream's listener, kept
}

// Commit serves the stream version: it replaces the previous one.
func (p *preparedStream) Commit() {
	s, id := p.s, p.ls.ID
	s.mu.Lock()
	s.byID[id] = p.ls
	old := s.listeners[id]
	switch {
	case p.reuse != nil:
		p.reuse.cur.Store(p.ls)
		old = nil
	case p.ln != nil:
		p.ln.cur.Store(p.ls)
		s.listeners[id] = p.ln
		go s.serveListener(p.ln)
	default:
		delete(s.listeners, id)
	}
	s.publishShared()
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	if p.ln != nil || old != nil {
		s.notify()
	}
}

// Cancel closes what Prepare opened.
func (p *preparedStream) Cancel() {
	if p.ln != nil {
		p.ln.close()
	}
}

// Remove stops serving stream id; its connections in flight finish.
func (s *streams) Remove(id string) {
	s.mu.Lock()
	delete(s.byID, id)
	ln := s.listeners[id]
	delete(s.listeners, id)
	s.publishShared()
	s.mu.Unlock()
	if ln != nil {
		ln.close()
		s.notify()
	}
}

// publishShared replaces the list of streams on shared ports. Callers
// hold mu.
func (s *streams) publishShared() {
	var list []*liveStream
	for _, ls := range s.byID {
		if ls.shared {
			list = append(list, ls)
		}
	}
	s.shared.Store(&list)
}

func (s *streams) notify() {
	if s.changed != nil {
		s.changed()
	}
}

// endpoints are the addresses streams listen on, for the upstream
// policy: no route or stream may reach them (a loop).
func (s *streams) endpoints() []upstream.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var eps []upstream.Endpoint
	for _, ln := range s.listeners {
		eps = append(eps, listenEndpoints(ln.addr.String(), "")...)
	}
	return eps
}

// lookup returns the stream on shared port that serves server name sni.
func (s *streams) lookup(port uint16, sni string) *liveStream {
	for _, ls := range *s.shared.Load() {
		if ls.addr.Port == port && ls.Serves(sni) {
			return ls
		}
	}
	return nil
}

// sharedHost returns the name of a served stream on a shared HTTPS port
// whose hosts overlap host (equal, or one a wildcard covering the
// other), or "".
func (s *streams) sharedHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, ls := range *s.shared.Load() {
		for _, h := range ls.Hosts {
			if h == host || covers(h, host) || covers(host, h) {
				return ls.Name
			}
		}
	}
	return ""
}

// covers reports whether wildcard host w ("*.example.com") covers name
// by one label.
func covers(w, name string) bool {
	rest, ok := strings.CutPrefix(w, "*.")
	i := strings.IndexByte(name, '.')
	return ok && i > 0 && name[i+1:] == rest
}

// httpsRouteHost returns the name of an enabled HTTPS route that serves
// host, or, for a wildcard host, a name it covers, or "": a stream on a
// shared HTTPS port may not take its host.
func (a *App) httpsRouteHost(host string) string {
	lives := append([]*router.Live{a.routes.Table.Lookup(host)}, a.routes.Table.Under(host)...)
	for _, lr := range lives {
		if lr == nil || lr.Route.TLS == route.TLSOff {
			continue
		}
		if lr.Route.Name != "" {
			return lr.Route.Name
		}
		return lr.Route.ID
	}
	return ""
}

// sharing reports whether a stream shares port.
func (s *streams) sharing(port uint16) bool {
	for _, ls := range *s.shared.Load() {
		if ls.addr.Port == port {
			return true
		}
	}
	return false
}

// stop closes every listener, when the last config is gone.
func (s *streams) stop() {
	s.mu.Lock()
	lns := s.listeners
	s.listeners = make(map[string]*streamListener)
	s.byID = make(map[string]*liveStream)
	s.publishShared()
	s.mu.Unlock()
	for _, ln := range lns {
		ln.close()
	}
}

func (l *streamListener) close() {
	if l.ln != nil {
		_ = l.ln.Close()
	}
	if l.pc != nil {
		_ = l.pc.Close()
	}
}

// serveListener accepts connections (or packets) until the listener
// closes.
func (s *streams) serveListener(l *streamListener) {
	if l.pc != nil {
		s.serveUDP(l)
		return
	}
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go s.serveOwn(l.cur.Load(), conn)
	}
}

// serveOwn serves a connection to a stream's own port: with hosts, only
// TLS connections for them.
func (s *streams) serveOwn(ls *liveStream, conn net.Conn) {
	if len(ls.Hosts) == 0 {
		s.serveConn(ls, conn)
		return
	}
	cx := layer4.WrapConnection(conn, make([]byte, 0, 4096), s.log())
	h := s.helloRoutes(layer4.HandlerFunc(func(cx *layer4.Connection) error {
		if ls.Serves(helloName(cx)) {
			s.serveConn(ls, cx)
			return nil
		}
		return conn.Close()
	}))
	if err := h.Handle(cx); err != nil {
		_ = conn.Close()
	}
}

// serveConn proxies one TCP connection of stream ls: the TLS handshake
// for tls terminate, then the first upstream that accepts.
func (s *streams) serveConn(ls *liveStream, conn net.Conn) {
	defer conn.Close()
	if ls.tls != nil {
		tc := tls.Server(conn, ls.tls)
		_ = tc.SetDeadline(time.Now().Add(streamHelloTimeout))
		if err := tc.Handshake(); err != nil {
			s.log().Debug("stream handshake", zap.String("stream_id", ls.ID), zap.Error(err))
			return
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	up, err := s.dial(ls, "tcp")
	if err != nil {
		s.log().Warn("stream upstream unavailable", zap.String("stream_id", ls.ID), zap.Error(err))
		return
	}
	defer up.Close()
	pipe(conn, up)
}

// dial connects to the first of ls's upstreams that accepts, each
// address checked against the upstream policy.
func (s *streams) dial(ls *liveStream, network string) (net.Conn, error) {
	g := s.guard.Load()
	if g == nil {
		return nil, errors.New("no upstream policy")
	}
	d := g.Dialer(streamDialTimeout, streamKeepAlive)
	var err error
	for _, u := range ls.Upstreams {
		var c net.Conn
		if c, err = d.Dial(network, u); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// pipe copies both ways until both sides are done; a side that ends
// closes the other's writing half.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

// serveUDP relays datagrams: each client address gets a connection to
// an upstream, closed after streamUDPIdle of silence.
func (s *streams) serveUDP(l *streamListener) {
	var (
		mu       sync.Mutex
		sessions = make(map[string]net.Conn)
	)
	defer func() {
		mu.Lock()
		for _, c := range sessions {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		n, client, err := l.pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		key := client.String()
		mu.Lock()
		up := sessions[key]
		if up == nil {
			ls := l.cur.Load()
			if up, err = s.dial(ls, "udp"); err != nil {
				mu.Unlock()
				s.log().Warn("stream upstream unavailable", zap.String("stream_id", ls.ID), zap.Error(err))
				continue
			}
			sessions[key] = up
			go func() {
				s.relayBack(l.pc, client, up)
				mu.Lock()
				delete(sessions, key)
				mu.Unlock()
			}()
		}
		mu.Unlock()
		_ = up.SetReadDeadline(time.Now().Add(streamUDPIdle))
		_, _ = up.Write(buf[:n])
	}
}

// relayBack sends an upstream's datagrams to the client until the
// session is idle.
func (s *streams) relayBack(pc net.PacketConn, client net.Addr, up net.Conn) {
	defer up.Close()
	buf := make([]byte, 65535)
	for {
		_ = up.SetReadDeadline(time.Now().Add(streamUDPIdle))
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if _, err := pc.WriteTo(buf[:n], client); err != nil {
			return
		}
	}
}

// provisionHello provisions, in ctx, caddy-l4's tls matcher in a route
// list of its own: it reads a connection's ClientHello, if it starts
// with one, and leaves the server name in the connection's replacer.
func (s *streams) provisionHello(ctx caddy.Context) error {
	rl := layer4.RouteList{&layer4.Route{MatcherSetsRaw: []caddy.ModuleMap{{"tls": json.RawMessage(`{}`)}}}}
	if err := rl.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning the tls matcher: %w", err)
	}
	s.hello.Store(&rl)
	return nil
}

// helloRoutes returns a handler that reads a connection's ClientHello
// and calls next with the connection, which replays what was read.
func (s *streams) helloRoutes(next layer4.Handler) layer4.Handler {
	return s.hello.Load().Compile(s.log(), streamHelloTimeout, next)
}

// helloName returns the TLS server name the tls matcher read, or "".
func helloName(cx *layer4.Connection) string {
	v, _ := cx.Replacer().Get("l4.tls.server_name")
	name, _ := v.(string)
	return name
}

func init() {
	caddy.RegisterModule(StreamsWrapper{})
}

// StreamsWrapper (listener wrapper `proxyos_streams`) shares an HTTPS
// port between HTTP and the managed streams that listen on it: for each
// connection it reads the TLS ClientHello (caddy-l4's tls matcher) and
// hands a connection whose server name one of those streams lists to
// that stream (passed through, or terminated with tls terminate); every
// other connection goes on to HTTP unchanged. It consults the live
// stream table per connection, so stream changes need no reload. Place
// it before `tls`:
//
//	servers :443 {
//		listener_wrappers {
//			proxyos_streams
//			tls
//		}
//	}
//
// A client has streamHelloTimeout (5 s) to send its ClientHello.
type StreamsWrapper struct {
	streams *streams
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (StreamsWrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.proxyos_streams",
		New: func() caddy.Module { return new(StreamsWrapper) },
	}
}

// Provision finds the streams of the proxyos app.
func (w *StreamsWrapper) Provision(ctx caddy.Context) error {
	w.logger = ctx.Logger()
	v, err := ctx.App("proxyos")
	if err != nil {
		return fmt.Errorf("proxyos_streams needs the proxyos app: %w", err)
	}
	w.streams = v.(*App).state.streams
	return nil
}

// WrapListener returns l with the connections of streams taken out.
func (w *StreamsWrapper) WrapListener(l net.Listener) net.Listener {
	var port uint16
	if ta, ok := l.Addr().(*net.TCPAddr); ok {
		port = uint16(ta.Port)
	}
	sl := &sharedListener{Listener: l, s: w.streams, port: port, conns: make(chan net.Conn), done: make(chan struct{})}
	w.streams.mu.Lock()
	w.streams.wrapped[port]++
	w.streams.mu.Unlock()
	go sl.loop()
	return sl
}

// UnmarshalCaddyfile sets up the wrapper from Caddyfile tokens. Syntax:
//
//	proxyos_streams
func (w *StreamsWrapper) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

// sharedListener is an HTTPS listener whose stream connections are
// served by their streams; Accept returns the others.
type sharedListener struct {
	net.Listener
	s     *streams
	port  uint16
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *sharedListener) loop() {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.Close()
			return
		}
		go l.handle(conn)
	}
}

// handle reads the ClientHello of conn and serves it by its stream, or
// passes it on to HTTP.
func (l *sharedListener) handle(conn net.Conn) {
	if !l.s.sharing(l.port) { // no stream shares the port: nothing to read
		l.pass(conn)
		return
	}
	cx := layer4.WrapConnection(conn, make([]byte, 0, 4096), l.s.log())
	h := l.s.helloRoutes(layer4.HandlerFunc(func(cx *layer4.Connection) error {
		if ls := l.s.lookup(l.port, helloName(cx)); ls != nil {
			l.s.serveConn(ls, cx)
			return nil
		}
		l.pass(cx)
		return nil
	}))
	if err := h.Handle(cx); err != nil {
		_ = conn.Close()
	}
}

func (l *sharedListener) pass(conn net.Conn) {
	select {
	case l.conns <- conn:
	case <-l.done:
		_ = conn.Close()
	}
}

// Accept returns the next connection for HTTP.
func (l *sharedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener; streams' connections in flight go on.
func (l *sharedListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.s.mu.Lock()
		if l.s.wrapped[l.port]--; l.s.wrapped[l.port] <= 0 {
			delete(l.s.wrapped, l.port)
		}
		l.s.mu.Unlock()
	})
	return err
}

// Interface guards
var (
	_ caddy.Provisioner     = (*StreamsWrapper)(nil)
	_ caddy.ListenerWrapper = (*StreamsWrapper)(nil)
	_ caddyfile.Unmarshaler = (*StreamsWrapper)(nil)
	_ stream.Live           = (*streams)(nil)
)

// parseStreamPorts parses the stream_ports option; none means
// 1024-65535.
func parseStreamPorts(specs []string) (stream.Ports, error) {
	if len(specs) == 0 {
		return stream.Ports{{First: 1024, Last: 65535}}, nil
	}
	var ps stream.Ports
	for i, spec := range specs {
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			last = first
		}
		f, err1 := strconv.ParseUint(first, 10, 16)
		l, err2 := strconv.ParseUint(last, 10, 16)
		if err1 != nil || err2 != nil || f == 0 || l < f {
			return nil, fmt.Errorf("stream_ports[%d]: %q is not a port or a range of ports (first-last)", i, spec)
		}
		ps = append(ps, stream.PortRange{First: uint16(f), Last: uint16(l)})
	}
	return ps, nil
}
