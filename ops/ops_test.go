package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/authevents/authevents/ops"
)

// TestMetricsCarryReadinessAndBuild: every binary's /metrics says which
// build runs (authevents_build_info) and, checked at scrape time, which
// dependency its readiness finds down (authevents_dependency_up), so an
// alert on readiness needs no traffic.
func TestMetricsCarryReadinessAndBuild(t *testing.T) {
	t.Parallel()
	redisUp := true
	h := ops.Handler(ops.NewRegistry(),
		ops.Check{Name: "postgres", Fn: func(context.Context) error { return nil }},
		ops.Check{Name: "redis", Fn: func(context.Context) error {
			if !redisUp {
				return errors.New("connection refused")
			}
			return nil
		}})
	scrape := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	body := scrape()
	for _, want := range []string{
		`authevents_dependency_up{dependency="postgres"} 1`,
		`authevents_dependency_up{dependency="redis"} 1`,
		`goversion="` + runtime.Version() + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(body, "authevents_build_info{") || !strings.Contains(body, `revision="`) || !strings.Contains(body, `version="`) {
		t.Errorf("/metrics lacks authevents_build_info{version,revision,goversion}")
	}
	redisUp = false
	if body := scrape(); !strings.Contains(body, `authevents_dependency_up{dependency="redis"} 0`) {
		t.Errorf("/metrics with Redis down lacks authevents_dependency_up{dependency=\"redis\"} 0")
	}
}
