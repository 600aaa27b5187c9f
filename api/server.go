// Package api is the HTTP transport of the auth service (gin): routes,
// request and response types, middleware, and the one table that maps
// errors to status codes. It holds no business logic and no SQL.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/token"
)

// Config configures the transport.
type Config struct {
	// TrustedProxies are the CIDRs or IPs whose X-Forwarded-For is
	// believed. Empty trusts nobody: the client IP is the peer address.
	TrustedProxies []string
	// RequestTimeout bounds every request: its context ends then, and a
	// request that had not finished answers 503. 0 means no bound.
	RequestTimeout time.Duration
	// CORSAllowedOrigins are the origins ("https://app.example.com") whose
	// browser apps may call the API, or "*" for any. Empty: none.
	CORSAllowedOrigins []string
	// NoPages turns off the default pages the mail links open
	// (/verify-email, /reset-password), for a deployment whose
	// LINK_BASE_URL is a client app of its own.
	NoPages bool
}

// Accounts is what the transport needs from the use cases; *account.Service
// implements it. It is defined here, where it is used, so transport tests
// can put a fake behind the router and need no database.
type Accounts interface {
	Register(ctx context.Context, in account.RegisterInput) (*account.Result, error)
	Login(ctx context.Context, in account.LoginInput) (*account.Result, error)
	Refresh(ctx context.Context, refreshToken string, c authevents.Client) (*account.Result, error)
	// Authenticate verifies an access token (signature, claims, denylist).
	Authenticate(ctx context.Context, accessToken string) (*token.Verified, error)
	Me(ctx context.Context, userID uuid.UUID) (*authevents.User, error)
	Logout(ctx context.Context, v *token.Verified) error
	LogoutAll(ctx context.Context, v *token.Verified) (int, error)
	Sessions(ctx context.Context, userID uuid.UUID) ([]authevents.Session, error)
	EndSession(ctx context.Context, v *token.Verified, id uuid.UUID) error
	JWKS() token.JWKS

	VerifyEmail(ctx context.Context, token string) error
	ResendVerification(ctx context.Context, email string, c authevents.Client) error
	ForgotPassword(ctx context.Context, email string, c authevents.Client) error
	ResetPassword(ctx context.Context, token, newPassword string, c authevents.Client) error
	ChangePassword(ctx context.Context, v *token.Verified, current, newPassword string, c authevents.Client) error
	ChangeEmail(ctx context.Context, v *token.Verified, newEmail, password string, c authevents.Client) error

	DeleteAccount(ctx context.Context, v *token.Verified, password string, c authevents.Client) error
	Export(ctx context.Context, v *token.Verified) (*authevents.Export, error)
}

var _ Accounts = (*account.Service)(nil)

// Server serves the auth API.
type Server struct {
	accounts Accounts
	log      *slog.Logger
}

// New returns the HTTP handler of the auth API.
func New(accounts Accounts, cfg Config, log *slog.Logger, m *Metrics) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// gin trusts every proxy by default; we trust only configured ones.
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	e.ForwardedByClientIP = len(cfg.TrustedProxies) > 0
	e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false

	s := &Server{accounts: accounts, log: log.With("component", "api")}
	e.Use(requestID(), accessLog(s.log, m), recovery())
	if len(cfg.CORSAllowedOrigins) > 0 {
		e.Use(corsMiddleware(cfg.CORSAllowedOrigins))
	}
	if cfg.RequestTimeout > 0 {
		e.Use(timeout(cfg.RequestTimeout))
	}
	e.NoRoute(func(c *gin.Context) {
		fail(c, newHTTPError(http.StatusNotFound, CodeNotFound, "no such endpoint", nil))
	})
	e.NoMethod(func(c *gin.Context) {
		fail(c, newHTTPError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this endpoint", nil))
	})

	e.POST("/auth/register", s.register)
	e.POST("/auth/login", s.login)
	e.POST("/auth/refresh", s.refresh)
	e.GET("/auth/me", s.authenticated, s.me)
	e.POST("/auth/logout", s.authenticated, s.logout)
	e.POST("/auth/logout/all", s.authenticated, s.logoutAll)
	e.GET("/auth/sessions", s.authenticated, s.sessions)
	e.DELETE("/auth/sessions/:id", s.authenticated, s.endSession)
	e.DELETE("/auth/account", s.authenticated, s.deleteAccount)
	e.GET("/auth/account/export", s.authenticated, s.exportAccount)
	e.GET("/.well-known/jwks.json", s.jwks)
	s.lifecycleRoutes(e, !cfg.NoPages)
	ref, err := loadReference()
	if err != nil {
		return nil, err
	}
	ref.routes(e)
	schemaRoutes(e)
	return e, nil
}
