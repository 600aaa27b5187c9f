package account

import "testing"

func TestIPKey(t *testing.T) {
	for _, tc := range []struct {
		prefix int
		in     string
		want   string
	}{
		{0, "198.51.100.7", "198.51.100.7"},
		{0, "::ffff:198.51.100.7", "198.51.100.7"},
		{0, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{0, "2001:DB8:1:2::1", "2001:db8:1:2::/64"},
		{0, "fe80::1%eth0", "fe80::/64"},
		{48, "2001:db8:1:2::1", "2001:db8:1::/48"},
		{128, "2001:db8::1", "2001:db8::1/128"},
		{0, "not an ip", "not an ip"},
	} {
		s := &Service{cfg: Config{IPv6RatePrefix: tc.prefix}}
		if got := s.ipKey(tc.in); got != tc.want {
			t.Errorf("ipKey(%q) with prefix %d = %q, want %q", tc.in, tc.prefix, got, tc.want)
		}
	}
}
