package account

import (
	"strings"
	"testing"
)

// TestNetworkLimits checks the networks a client is limited by: an IPv4
// address, and for IPv6 its /64, /56 and /48, so a subscriber cannot
// rotate through the addresses (or subnets) it holds to dodge the limit.
func TestNetworkLimits(t *testing.T) {
	for ip, want := range map[string][]string{
		"192.0.2.7":            {"ip:192.0.2.7"},
		"::ffff:192.0.2.7":     {"ip:192.0.2.7"},
		"2001:db8:1:2:3:4:5:6": {"ip:2001:db8:1:2::/64", "ip:2001:db8:1::/56", "ip:2001:db8:1::/48"},
		"2001:db8:1:2ff::1":    {"ip:2001:db8:1:2ff::/64", "ip:2001:db8:1:200::/56", "ip:2001:db8:1::/48"},
		"not an ip":            {"ip:not an ip"},
	} {
		var got []string
		for _, l := range networkLimits(ip) {
			got = append(got, l.key)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("networkLimits(%q) = %q, want %q", ip, got, want)
		}
	}
}
