package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api/pages"
)

// The account lifecycle: verified addresses, password reset and change,
// email change. The answers that must not tell whether an account exists
// (register under EMAIL_VERIFICATION=required, resend, forgot, email
// change) are one fixed body each, whatever happened behind them.

type tokenRequest struct {
	Token string `json:"token"`
}

type emailRequest struct {
	Email string `json:"email"`
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"newPassword"`
}

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

type changeEmailRequest struct {
	NewEmail string `json:"newEmail"`
	Password string `json:"password"`
}

// The fixed messages of the answers that must tell nothing.
const (
	msgRegisterPending = "check your inbox: the account is ready once you open the link we sent"
	msgResendAccepted  = "if the address has an account that is not verified yet, a new link is on its way"
	msgForgotAccepted  = "if the address has an account, a link to reset its password is on its way"
	msgChangeAccepted  = "a link is on its way to the new address; the address changes when it is opened"
)

func (s *Server) lifecycleRoutes(e *gin.Engine, pagesOn bool) {
	e.POST("/auth/email/verify", s.verifyEmail)
	e.POST("/auth/email/verify/resend", s.resendVerification)
	e.POST("/auth/password/forgot", s.forgotPassword)
	e.POST("/auth/password/reset", s.resetPassword)
	e.POST("/auth/password/change", s.authenticated, s.changePassword)
	e.POST("/auth/email/change", s.authenticated, s.changeEmail)
	if pagesOn {
		h := pages.Handler(s.accounts, func(r *http.Request) authevents.Client {
			c, _ := r.Context().Value(clientKey{}).(authevents.Client)
			return c
		})
		// The pages are net/http handlers; the client, as gin tells it
		// (trusted proxies), reaches them in the request's context.
		serve := func(c *gin.Context) {
			h.ServeHTTP(c.Writer, c.Request.WithContext(context.WithValue(c.Request.Context(), clientKey{}, client(c))))
		}
		for _, p := range []string{pages.VerifyEmailPath, pages.ResetPasswordPath} {
			e.GET(p, serve)
			e.POST(p, serve)
		}
	}
}

// clientKey carries a page request's client in its context.
type clientKey struct{}

func (s *Server) verifyEmail(c *gin.Context) {
	var req tokenRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.VerifyEmail(c.Request.Context(), req.Token); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, MessageResponse{Message: "email verified"})
}

func (s *Server) resendVerification(c *gin.Context) {
	var req emailRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.ResendVerification(c.Request.Context(), req.Email, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusAccepted, MessageResponse{Message: msgResendAccepted})
}

func (s *Server) forgotPassword(c *gin.Context) {
	var req emailRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.ForgotPassword(c.Request.Context(), req.Email, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusAccepted, MessageResponse{Message: msgForgotAccepted})
}

func (s *Server) resetPassword(c *gin.Context) {
	var req resetRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.ResetPassword(c.Request.Context(), req.Token, req.NewPassword, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, MessageResponse{Message: "password changed; every session has ended"})
}

func (s *Server) changePassword(c *gin.Context) {
	var req changePasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.ChangePassword(c.Request.Context(), claims(c), req.CurrentPassword, req.NewPassword, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, MessageResponse{Message: "password changed; every other session has ended"})
}

func (s *Server) changeEmail(c *gin.Context) {
	var req changeEmailRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.ChangeEmail(c.Request.Context(), claims(c), req.NewEmail, req.Password, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusAccepted, MessageResponse{Message: msgChangeAccepted})
}
