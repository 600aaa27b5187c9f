package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/testenv"
)

// TestAccessLogCarriesNoClientIPAtInfo: an access-log line is kept as long
// as the logs are, beyond any erasure of the user (issue 19). At info
// level it names the client by a pseudonym, a keyed hash whose key lives
// only as long as the process: two requests of one client share it, two
// clients do not, and nobody can turn it back into the address.
func TestAccessLogCarriesNoClientIPAtInfo(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	h, err := api.New(newFake(), api.Config{}, logging.New(logs, "info"), api.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"198.51.100.7", "198.51.100.7", "203.0.113.9"} {
		req := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
		req.RemoteAddr = ip + ":4711"
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if strings.Contains(logs.String(), "198.51.100.7") || strings.Contains(logs.String(), "203.0.113.9") {
		t.Fatalf("a client IP is in the info-level access log:\n%s", logs)
	}
	var clients []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Client string `json:"client"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Msg != "request" {
			continue
		}
		clients = append(clients, l.Client)
	}
	if len(clients) != 3 || !strings.HasPrefix(clients[0], "pg1.") || clients[0] != clients[1] || clients[1] == clients[2] {
		t.Errorf("access-log clients %q, want three pg1. pseudonyms, the first two equal", clients)
	}
}
