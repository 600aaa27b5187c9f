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
	ipKey := s.ipKey(c.IP)
	second := limitKey{LimitLoginAccount, email}
	if device != nil {
		second = limitKey{LimitLoginDevice, device.ID.String()}
	}
	var limited *authevents.RateLimitedError
	if err := s.allowAll(ctx, []limitKey{{LimitLoginIP, ipKey}, second}); !errors.As(err, &limited) {
		return err
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

type limitKey struct{ name, key string }

// allowAll charges every bucket and returns the longest wait of those
// exhausted, as a RateLimitedError, or nil.
func (s *Service) allowAll(ctx context.Context, limits []limitKey) error {
	var limited *authevents.RateLimitedError
	for _, l := range limits {
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
	if limited != nil {
		return limited
	}
	return nil
}
