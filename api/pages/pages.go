// Package pages serves the two minimal pages the links in the service's
// mails open by default (LINK_BASE_URL unset): confirming an address and
// setting a new password. They are server-rendered with html/template,
// load nothing from elsewhere, run no script, and work without
// JavaScript. The token arrives in the link's query string and leaves it
// at once: the page puts it in a form that is POSTed, every answer says
// Referrer-Policy: no-referrer and Cache-Control: no-store, and the
// Content-Security-Policy allows only this page's own inline style (by
// hash) and forms posted to this origin.
package pages

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/authevents/authevents"
)

// Paths of the pages: the domain's link paths, which the email service
// builds its links with.
const (
	VerifyEmailPath   = authevents.LinkVerifyEmail
	ResetPasswordPath = authevents.LinkResetPassword
)

// Actions are the use cases behind the pages' forms.
type Actions interface {
	VerifyEmail(ctx context.Context, token string) error
	ResetPassword(ctx context.Context, token, newPassword string, c authevents.Client) error
}

//go:embed templates/*.html
var files embed.FS

// style is the pages' only style; the CSP allows it by its hash.
const style = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}` +
	`main{max-width:26rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}` +
	`h1{font-size:1.3rem;margin-top:0}label{display:block;margin-top:1rem}` +
	`input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}` +
	`button{margin-top:1.25rem;padding:.6rem 1rem;font:inherit;border:0;border-radius:6px;background:#2456d3;color:#fff;cursor:pointer}` +
	`.error{color:#b3261e}.ok{color:#1e7a3c}`

var (
	tmpl = template.Must(template.ParseFS(files, "templates/layout.html"))
	// Each page is the layout with its own body.
	verifyPage = template.Must(template.Must(tmpl.Clone()).ParseFS(files, "templates/verify.html"))
	resetPage  = template.Must(template.Must(tmpl.Clone()).ParseFS(files, "templates/reset.html"))
	csp        = func() string {
		sum := sha256.Sum256([]byte(style))
		return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	}()
)

// ClientOf tells who made a request (the API's trusted-proxy rule).
type ClientOf func(*http.Request) authevents.Client

// Handler serves both pages at VerifyEmailPath and ResetPasswordPath.
func Handler(a Actions, clientOf ClientOf) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+VerifyEmailPath, func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, verifyPage, view{Title: "Confirm your address", Form: true,
			Action: VerifyEmailPath, Token: r.URL.Query().Get("token")})
	})
	mux.HandleFunc("POST "+VerifyEmailPath, func(w http.ResponseWriter, r *http.Request) {
		v := view{Title: "Confirm your address", Action: VerifyEmailPath}
		err := a.VerifyEmail(r.Context(), formToken(r))
		status := outcome(&v, err, "Your address is confirmed. You can close this page and sign in.")
		render(w, status, verifyPage, v)
	})
	mux.HandleFunc("GET "+ResetPasswordPath, func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, resetPage, view{Title: "Set a new password", Form: true,
			Action: ResetPasswordPath, Token: r.URL.Query().Get("token")})
	})
	mux.HandleFunc("POST "+ResetPasswordPath, func(w http.ResponseWriter, r *http.Request) {
		v := view{Title: "Set a new password", Action: ResetPasswordPath, Token: formToken(r)}
		pw := r.PostFormValue("password")
		if pw != r.PostFormValue("confirm") {
			v.Form, v.FieldError = true, "The two passwords differ."
			render(w, http.StatusBadRequest, resetPage, v)
			return
		}
		err := a.ResetPassword(r.Context(), v.Token, pw, clientOf(r))
		if verr := (*authevents.ValidationError)(nil); errors.As(err, &verr) {
			// The token was not used: the form stays, with the reason.
			v.Form, v.FieldError = true, "The password "+firstReason(verr)+"."
			render(w, http.StatusBadRequest, resetPage, v)
			return
		}
		status := outcome(&v, err, "Your password is changed, and every session that used the old one has ended. You can sign in now.")
		render(w, status, resetPage, v)
	})
	return http.MaxBytesHandler(mux, 8<<10)
}

type view struct {
	Title, Message, Kind string
	Form                 bool
	Action, Token        string
	FieldError           string
	Style                template.CSS
}

// outcome fills v's message from a use case's answer and returns the
// status: the same for every refused token, whatever the reason.
func outcome(v *view, err error, done string) int {
	switch {
	case err == nil:
		v.Message, v.Kind = done, "ok"
		return http.StatusOK
	case errors.Is(err, authevents.ErrInvalidLinkToken):
		v.Message, v.Kind = "This link is not valid: it was used already, has expired, or a newer one was sent. Ask for a new link.", "error"
		return http.StatusBadRequest
	case errors.As(err, new(*authevents.RateLimitedError)):
		v.Message, v.Kind = "Too many attempts. Please try again in a few minutes.", "error"
		return http.StatusTooManyRequests
	case errors.Is(err, authevents.ErrUnavailable):
		v.Message, v.Kind = "The service is busy. Please try again in a moment.", "error"
		return http.StatusServiceUnavailable
	default:
		v.Message, v.Kind = "Something went wrong on our side. Please try again later.", "error"
		return http.StatusInternalServerError
	}
}

func formToken(r *http.Request) string { return strings.TrimSpace(r.PostFormValue("token")) }

func firstReason(e *authevents.ValidationError) string {
	for _, f := range []string{"newPassword", "password"} {
		if why, ok := e.Fields[f]; ok {
			return why
		}
	}
	for _, why := range e.Fields {
		return why
	}
	return "was refused"
}

func render(w http.ResponseWriter, status int, t *template.Template, v view) {
	v.Style = template.CSS(style)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = t.ExecuteTemplate(w, "layout", v)
}
