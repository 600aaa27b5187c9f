package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/dashboard"
	"github.com/authevents/authevents/internal/testenv"
)

// TestMakeRunDashboardShowsARegistration is the newcomer's path: make run,
// open the dashboard URL it prints, register a user with the API, and see
// the registration counted, published and consumed within seconds.
func TestMakeRunDashboardShowsARegistration(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	_, out, done := makeRunOwnNATS(t, bin, "RATE_LIMIT_ENABLED=false")
	testenv.WaitFor(t, "make run to print its URLs", 90*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("make run ended (%v):\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), "authevents is running")
	})
	urls := func(name string) string {
		m := regexp.MustCompile(`(?m)^\s+` + name + `\s+(http://\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("make run printed no %s URL:\n%s", name, out)
		}
		return strings.TrimSuffix(m[1], "/")
	}
	board, api := urls("Dashboard"), urls("API")

	res, err := apiClient(t, api).RegisterWithResponse(t.Context(), nil, client.RegisterRequest{
		Email: "newcomer@example.com", Password: "correct horse battery staple", Name: "Newcomer"})
	// make run requires verified addresses (the default): 202, and the
	// verification link is mailed.
	if err != nil || res.StatusCode() != 202 {
		t.Fatalf("register: %v %v", err, res)
	}
	var ov dashboard.Overview
	registered := func() (te dashboard.TypeEvents) {
		for _, te = range ov.Events.Types {
			if te.Type == "user.registered" {
				return te
			}
		}
		return te
	}
	consumed := func() uint64 {
		for _, c := range ov.Consumers.Items {
			if c.Name == "email-service" {
				return c.Acknowledged
			}
		}
		return 0
	}
	testenv.WaitFor(t, "the registration counted, published and consumed on the dashboard", 15*time.Second, func() bool {
		res, err := http.Get(board + "/api/overview")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		ov = dashboard.Overview{}
		if err := json.NewDecoder(res.Body).Decode(&ov); err != nil {
			t.Fatal(err)
		}
		// Two events: user.registered and its verification link
		// (make run seals links to the email service's key).
		return ov.Events != nil && ov.Consumers != nil && registered().Count == 1 && registered().Published == 1 && consumed() == 2
	})
	if ov.Outbox == nil || ov.Outbox.RelayReplicas != 1 || ov.Stream == nil || ov.Stream.Messages != 2 {
		t.Errorf("outbox %+v, stream %+v: want 1 relay replica and the two events in the stream", ov.Outbox, ov.Stream)
	}
}
