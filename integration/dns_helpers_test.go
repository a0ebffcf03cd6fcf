package integration

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// dnsServer is a real DNS server on a loopback UDP port that answers A
// and AAAA queries from a table the test changes while it runs, with a
// TTL of 0, as a rebinding attacker's server would.
type dnsServer struct {
	Addr string // 127.0.0.1:port

	mu      sync.Mutex
	records map[string][]net.IP // lower-case name without the final dot
	zones   map[string]bool     // names answering SOA queries (see Zone)
}

func newDNSServer(t testing.TB) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{Addr: pc.LocalAddr().String(), records: make(map[string][]net.IP), zones: make(map[string]bool)}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe() //nolint:errcheck // ends with Shutdown
	<-started
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return s
}

// Set makes name resolve to the given addresses (none: NXDOMAIN).
func (s *dnsServer) Set(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.IP
	for _, ip := range ips {
		out = append(out, net.ParseIP(ip))
	}
	s.records[strings.ToLower(strings.TrimSuffix(name, "."))] = out
}

// Zone makes name the apex of a zone: SOA queries for it are answered,
// as DNS-01 clients look for the zone of a challenge record.
func (s *dnsServer) Zone(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[strings.ToLower(strings.TrimSuffix(name, "."))] = true
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, q := range req.Question {
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		ips, ok := s.records[name]
		found = found || ok
		if q.Qtype == dns.TypeSOA && s.zones[name] {
			found = true
			m.Answer = append(m.Answer, &dns.SOA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 0},
				Ns: "ns." + q.Name, Mbox: "hostmaster." + q.Name, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 0})
		}
		for _, ip := range ips {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
			switch {
			case q.Qtype == dns.TypeA && ip.To4() != nil:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.To4()})
			case q.Qtype == dns.TypeAAAA && ip.To4() == nil:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	}
	if !found {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m) //nolint:errcheck // the client retries
}
