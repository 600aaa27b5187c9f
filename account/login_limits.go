package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// loginAllowed applies the per-IP and per-account login limits (per-device
// instead of per-account when device is a valid device token of the
// account). Both
// buckets are charged on every attempt. When either is exhausted, one
// user.login_failed with reason rate_limited is appended per window and
// key, not one per request.
func (s *Service) loginAllowed(ctx context.Context, email string, c authevents.Client, device *token.Verified) error {
	if s.limiter == nil {
		return nil
	}
	var limited *authevents.RateLimitedError
	ipKey := s.ipKey(c.IP)
	second := struct{ name, key string }{LimitLoginAccount, email}
	if device != nil {
		second.name, second.key = LimitLoginDevice, device.ID.String()
	}
	for _, l := range []struct{ name, key string }{{LimitLoginIP, ipKey}, second} {
		err := s.allow(ctx, l.name, l.key)
		var rl *authevents.RateLimitedError
		if errors.As(err, &rl) {
			if limited == nil || rl.RetryAfter > limited.RetryAfter {
				limited = rl
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	if limited == nil {
		return nil
	}
	key := "login_failed:" + limited.Limit + ":"
	switch limited.Limit {
	case LimitLoginIP:
		key += ipKey
	case LimitLoginDevice:
		key += device.ID.String()
	default:
		key += email
	}
	first, err := s.limiter.Once(ctx, key, s.limiter.Period(limited.Limit))
	if err != nil {
		return fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if first {
		var user *authevents.User
		if norm, why := NormalizeEmail(email); why == "" {
			user, _ = postgres.UserByEmail(ctx, s.pool, norm)
		}
		if err := s.loginFailed(ctx, email, user, c, authevents.ReasonRateLimited); !errors.Is(err, authevents.ErrInvalidCredentials) {
			return err
		}
	}
	return limited
}
