package httpe2e_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
)

// enumerationFloor is the test's ENUMERATION_FLOOR: above what the work
// behind a known address takes here, even with the other test packages
// running beside it.
const enumerationFloor = 100 * time.Millisecond

// TestAnswersThatMustNotEnumerateTakeEqualTime: register (required mode),
// forgot password and email change answer a known and an unknown address
// with medians at most 5 % apart, over 100 requests each, sent in pairs
// at the same moment so that the machine's load falls on both alike.
func TestAnswersThatMustNotEnumerateTakeEqualTime(t *testing.T) {
	if testing.Short() {
		t.Skip("300 timed requests of each kind")
	}
	f, _ := lifecycleSetup(t, true, func(c *account.Config) { c.EnumerationFloor = enumerationFloor })
	reg := f.do(t, "POST", "/auth/register", map[string]string{"email": "known@example.com", "password": goodPassword, "name": "K"})
	if reg.status != 202 {
		t.Fatalf("register: %d %s", reg.status, reg.body)
	}
	// A signed-in user for the email change (verified in the database:
	// the flow itself is TestLifecycleOverHTTP's).
	if _, err := f.Pool.Exec(t.Context(), `UPDATE users SET email_verified_at = now()`); err != nil {
		t.Fatal(err)
	}
	var tok api.TokenResponse
	f.do(t, "POST", "/auth/login", map[string]string{"email": "known@example.com", "password": goodPassword}).json(t, &tok)
	f.do(t, "POST", "/auth/register", map[string]string{"email": "taken@example.com", "password": goodPassword, "name": "T"})
	bearer := []string{"Authorization", "Bearer " + tok.AccessToken}

	for _, c := range []struct {
		name           string
		known, unknown func(i int) response
		status         int
	}{
		{"register", func(int) response {
			return f.do(t, "POST", "/auth/register", map[string]string{"email": "known@example.com", "password": goodPassword, "name": "K"})
		}, func(i int) response {
			return f.do(t, "POST", "/auth/register", map[string]string{"email": fmt.Sprintf("new%d@example.com", i), "password": goodPassword, "name": "N"})
		}, 202},
		{"forgot", func(int) response {
			return f.do(t, "POST", "/auth/password/forgot", map[string]string{"email": "known@example.com"})
		}, func(i int) response {
			return f.do(t, "POST", "/auth/password/forgot", map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i)})
		}, 202},
		{"email change", func(int) response {
			return f.do(t, "POST", "/auth/email/change", map[string]string{"newEmail": "taken@example.com", "password": goodPassword}, bearer...)
		}, func(i int) response {
			return f.do(t, "POST", "/auth/email/change", map[string]string{"newEmail": fmt.Sprintf("free%d@example.com", i), "password": goodPassword}, bearer...)
		}, 202},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 100
			var known, unknown []time.Duration
			for i := range n {
				var wg sync.WaitGroup
				var dk, du time.Duration
				var rk, ru response
				wg.Go(func() { s := time.Now(); rk = c.known(i); dk = time.Since(s) })
				wg.Go(func() { s := time.Now(); ru = c.unknown(i); du = time.Since(s) })
				wg.Wait()
				if rk.status != c.status || ru.status != c.status || string(rk.body) != string(ru.body) {
					t.Fatalf("request %d: known %d %s, unknown %d %s", i, rk.status, rk.body, ru.status, ru.body)
				}
				known, unknown = append(known, dk), append(unknown, du)
			}
			mk, mu := median(known), median(unknown)
			gap := float64(mk-mu) / float64(min(mk, mu))
			t.Logf("%s: median known %s, unknown %s, gap %+.1f %%", c.name, mk, mu, 100*gap)
			if gap > 0.05 || gap < -0.05 {
				t.Errorf("%s: median known %s vs unknown %s: a %.1f %% gap tells which addresses have accounts", c.name, mk, mu, 100*gap)
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
