package subjects

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"auth.user.*", "auth.user.registered", true},
		{"auth.user.*", "auth.user.a.b", false},
		{"auth.user.*", "auth.user", false},
		{"auth.>", "auth.user.a.b", true},
		{"auth.>", "auth", false},
		{"auth.user.registered", "auth.user.registered", true},
		{"auth.user.registered", "auth.user.logged_in", false},
		{"auth.user.*", "auth.user.", false},
		{"auth.>", "auth..x", false},
		{"*.user.*", "x.user.y", true},
	} {
		if got := Match(tc.filter, tc.subject); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
	if !MatchAny([]string{"a.b", "auth.>"}, "auth.x") || MatchAny(nil, "auth.x") || MatchAny([]string{"a.b"}, "auth.x") {
		t.Error("MatchAny disagrees with Match")
	}
}
