package revocation_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/db/revocation"
)

func TestReadyRefusesAnEvictingRedis(t *testing.T) {
	t.Parallel()
	// A private server: the test changes its eviction policy.
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	if err := revocation.Ready(ctx, rdb); err != nil {
		t.Fatalf("Ready with the default policy (noeviction) = %v, want nil", err)
	}
	for _, policy := range []string{"allkeys-lru", "volatile-ttl", "volatile-lru", "allkeys-random"} {
		if err := rdb.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
			t.Fatal(err)
		}
		err := revocation.Ready(ctx, rdb)
		if err == nil || !strings.Contains(err.Error(), policy) {
			t.Errorf("Ready with maxmemory-policy %s = %v, want an error naming it", policy, err)
		}
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := revocation.Ready(ctx, rdb); err != nil {
		t.Errorf("Ready after noeviction is back = %v, want nil", err)
	}
	srv.Stop()
	if err := revocation.Ready(ctx, rdb); err == nil {
		t.Error("Ready with Redis down = nil, want an error")
	}
}
