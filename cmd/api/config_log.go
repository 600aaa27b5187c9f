package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/authevents/authevents/internal/config"
)

// LogValue logs the configuration once at start-up with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", config.RedactURL(c.DatabaseURL)),
		slog.String("redis_url", config.RedactURL(c.RedisURL)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("ops_addr", c.OpsAddr),
		slog.String("jwt_private_key_file", c.JWTPrivateKeyFile),
		slog.Int("jwt_previous_keys", len(c.JWTPreviousKeyFiles)),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_audience", c.JWTAudience),
		duration("access_token_ttl", c.AccessTokenTTL),
		duration("refresh_token_ttl", c.RefreshTokenTTL),
		duration("session_max_age", c.SessionMaxAge),
		duration("session_idle_timeout", c.SessionIdleTimeout),
		duration("refresh_grace_window", c.RefreshGraceWindow),
		duration("device_token_ttl", c.DeviceTokenTTL),
		duration("session_retention", c.SessionRetention),
		duration("session_prune_interval", c.SessionPruneEvery),
		slog.Bool("rate_limit_enabled", c.RateLimitEnabled),
		slog.Int("rate_limit_ipv6_prefix", c.RateLimitIPv6Prefix),
		slog.String("app_env", c.AppEnv),
		slog.String("service_name", c.ServiceName),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.Any("cors_allowed_origins", c.CORSAllowedOrigins),
		duration("request_timeout", c.RequestTimeout),
		slog.Int("hash_concurrency", c.HashConcurrency),
		slog.String("hash_workers", c.HashWorkers),
		slog.Int("hash_worker_nice", c.HashWorkerNice),
		slog.String("hash_priority", c.HashPriority),
		slog.String("email_verification", c.EmailVerification),
		slog.Bool("mail_seal_key", c.MailSealPublicKey != "" || c.MailSealPublicKeyFile != ""),
		slog.Bool("personal_data_key", c.PersonalDataKey != "" || c.PersonalDataKeyFile != ""),
		slog.Bool("events_v1", c.EventsV1),
		slog.String("reveal_addr", c.RevealAddr),
		slog.Int("hash_queue_depth", c.HashQueueDepth),
		slog.String("argon2", fmt.Sprintf("m=%d,t=%d,p=%d", c.Argon2Memory, c.Argon2Iterations, c.Argon2Parallelism)),
	)
}

// duration logs d as a Go duration string ("15m0s"): slog's JSON handler
// writes a time.Duration as nanoseconds, which people cannot read.
func duration(key string, d time.Duration) slog.Attr { return slog.String(key, d.String()) }
