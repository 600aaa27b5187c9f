package revocation

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Ready is the api's readiness check of Redis: it answers, and it will
// not evict keys. An evicted denylist entry is a revoked token that works
// again, and with any policy but noeviction Redis evicts under memory
// pressure (the volatile-* policies included: every denylist key has a
// TTL). The policy is read from INFO, which managed services that disable
// CONFIG still serve.
func Ready(ctx context.Context, rdb redis.UniversalClient) error {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			if v != "noeviction" {
				return fmt.Errorf("redis maxmemory-policy is %s: the denylist needs noeviction", v)
			}
			return nil
		}
	}
	return fmt.Errorf("redis INFO memory has no maxmemory_policy")
}
