package chaos

import (
	"slices"
	"testing"
	"time"
)

func TestWindowsCutOutFaultsThatHitTheAPI(t *testing.T) {
	s := time.Second
	plan := []Fault{{Kind: QuorumLoss, At: 10 * s, Down: 20 * s}, {Kind: CrashPostgres, At: 15 * s, Down: 3 * s},
		{Kind: KillRelay, At: 12 * s, Down: 5 * s}, {Kind: KillConsumer, At: 1 * s, Down: 5 * s}}
	got := Windows(plan)
	want := []Interval{{10 * s, 13 * s}, {20 * s, 30 * s}} // the crash ± APISettle is cut out
	if !slices.Equal(got, want) {
		t.Errorf("Windows = %v, want %v", got, want)
	}
	quiet := Quiet(plan, 3*s, 40*s)
	if want := []Interval{{3 * s, 10 * s}, {35 * s, 40 * s}}; !slices.Equal(quiet, want) { // the relay kill does not count
		t.Errorf("Quiet = %v, want %v", quiet, want)
	}
}
