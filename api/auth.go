package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/token"
)

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// UserResponse is the public view of a user.
type UserResponse struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// TokenResponse is returned by register, login and refresh.
type TokenResponse struct {
	AccessToken  string        `json:"accessToken"`
	RefreshToken string        `json:"refreshToken"`
	TokenType    string        `json:"tokenType"`
	ExpiresIn    int64         `json:"expiresIn"`
	User         *UserResponse `json:"user,omitempty"`
	// DeviceToken (login only): present it as X-Device-Token on this
	// device's later logins.
	DeviceToken string `json:"deviceToken,omitempty"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// MessageResponse acknowledges an action.
type MessageResponse struct {
	Message       string `json:"message"`
	SessionsEnded *int   `json:"sessionsEnded,omitempty"`
}

// SessionResponse is one live session.
type SessionResponse struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"userAgent"`
	Current    bool      `json:"current"`
}

// SessionsResponse lists live sessions.
type SessionsResponse struct {
	Sessions []SessionResponse `json:"sessions"`
}

func userResponse(u *authevents.User) *UserResponse {
	return &UserResponse{ID: u.ID.String(), Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt.UTC().Truncate(time.Millisecond)}
}

func tokenResponse(r *account.Result) TokenResponse {
	t := TokenResponse{
		AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, TokenType: "Bearer",
		ExpiresIn: int64(r.ExpiresIn / time.Second), DeviceToken: r.DeviceToken,
	}
	if r.User != nil {
		t.User = userResponse(r.User)
	}
	return t
}

func client(c *gin.Context) authevents.Client {
	return authevents.Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
}

func (s *Server) register(c *gin.Context) {
	var req registerRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	res, err := s.accounts.Register(c.Request.Context(), account.RegisterInput{
		Email: req.Email, Password: req.Password, Name: req.Name, Client: client(c),
	})
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	if res.VerificationPending {
		// The same answer for a new and a taken address.
		c.JSON(http.StatusAccepted, MessageResponse{Message: msgRegisterPending})
		return
	}
	c.JSON(http.StatusCreated, tokenResponse(res))
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	res, err := s.accounts.Login(c.Request.Context(), account.LoginInput{
		Email: req.Email, Password: req.Password, Client: client(c), DeviceToken: c.GetHeader("X-Device-Token"),
	})
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, tokenResponse(res))
}

// claimsKey is where authenticated stores the verified access token.
const claimsKey = "authevents.claims"

// errNoCredentials is a request to a bearer route without a bearer token.
// RFC 6750 §3: its challenge names no error, since nothing was refused.
var errNoCredentials = fmt.Errorf("%w: no bearer token", authevents.ErrUnauthorized)

// authenticated requires a valid bearer access token.
func (s *Server) authenticated(c *gin.Context) {
	scheme, raw, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		fail(c, errNoCredentials)
		return
	}
	v, err := s.accounts.Authenticate(c.Request.Context(), strings.TrimSpace(raw))
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(claimsKey, v)
	c.Next()
}

func claims(c *gin.Context) *token.Verified {
	return c.MustGet(claimsKey).(*token.Verified)
}

func (s *Server) me(c *gin.Context) {
	u, err := s.accounts.Me(c.Request.Context(), claims(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, userResponse(u))
}

func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.RefreshToken == "" {
		fail(c, &authevents.ValidationError{Fields: map[string]string{"refreshToken": "is required"}})
		return
	}
	res, err := s.accounts.Refresh(c.Request.Context(), req.RefreshToken, client(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, tokenResponse(res))
}

func (s *Server) logout(c *gin.Context) {
	if err := s.accounts.Logout(c.Request.Context(), claims(c)); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, MessageResponse{Message: "logged out"})
}

func (s *Server) logoutAll(c *gin.Context) {
	n, err := s.accounts.LogoutAll(c.Request.Context(), claims(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, MessageResponse{Message: "logged out of every session", SessionsEnded: &n})
}

func (s *Server) sessions(c *gin.Context) {
	v := claims(c)
	list, err := s.accounts.Sessions(c.Request.Context(), v.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	out := SessionsResponse{Sessions: make([]SessionResponse, 0, len(list))}
	for _, ss := range list {
		out.Sessions = append(out.Sessions, SessionResponse{
			ID: ss.ID.String(), CreatedAt: ss.CreatedAt.UTC(), LastUsedAt: ss.LastUsedAt.UTC(),
			IP: ss.IP, UserAgent: ss.UserAgent, Current: ss.ID == v.SessionID,
		})
	}
	noStore(c)
	c.JSON(http.StatusOK, out)
}

func (s *Server) endSession(c *gin.Context) {
	// Only the canonical form the API hands out (36 characters, as
	// format: uuid says); uuid.Parse also takes {…}, urn:uuid: and
	// unhyphenated spellings.
	raw := c.Param("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		fail(c, newHTTPError(http.StatusNotFound, CodeNotFound, "no such session", nil))
		return
	}
	if err := s.accounts.EndSession(c.Request.Context(), claims(c), id); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, MessageResponse{Message: "session ended"})
}

func (s *Server) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, s.accounts.JWKS())
}

// noStore keeps tokens and personal data out of shared caches (RFC 6749 §5.1).
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}
