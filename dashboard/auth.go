package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Auth is the dashboard's access control. With nothing set the dashboard
// is open, which CheckAddr allows only on a loopback address. With a token,
// a request carries it as "Authorization: Bearer <token>" or in the cookie
// that opening /?token=<token> once sets; with a user and password, as
// HTTP basic auth (the browser asks). Either one is enough when both are
// configured.
type Auth struct {
	Token    string
	User     string
	Password string
}

// cookieName holds the token in a browser after /?token=….
const cookieName = "authevents_dashboard"

// Describe says which access control is on, for the start-up log (never
// the secrets).
func (a Auth) Describe() string {
	switch {
	case a.Token != "" && a.User != "":
		return "token or basic"
	case a.Token != "":
		return "token"
	case a.User != "":
		return "basic"
	}
	return "none (loopback)"
}

func (a Auth) enabled() bool { return a.Token != "" || a.User != "" }

// Validate refuses half-configured credentials.
func (a Auth) Validate() error {
	if (a.User == "") != (a.Password == "") {
		return errors.New("DASHBOARD_USER and DASHBOARD_PASSWORD go together")
	}
	if a.Token != "" && len(a.Token) < 16 {
		return errors.New("DASHBOARD_TOKEN must be at least 16 characters")
	}
	return nil
}

// CheckAddr refuses to serve an address other than loopback without
// credentials: the dashboard shows the system's inner state.
func (a Auth) CheckAddr(addr string) error {
	if a.enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("DASHBOARD_ADDR: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("DASHBOARD_ADDR %s is not a loopback address: set DASHBOARD_TOKEN or DASHBOARD_USER and DASHBOARD_PASSWORD", addr)
}

func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func (a Auth) allowed(r *http.Request) bool {
	if a.Token != "" {
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " && equal(h[7:], a.Token) {
			return true
		}
		if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, a.Token) {
			return true
		}
	}
	if a.User != "" {
		if u, p, ok := r.BasicAuth(); ok && equal(u, a.User) && equal(p, a.Password) {
			return true
		}
	}
	return false
}

func (a Auth) wrap(h http.Handler) http.Handler {
	if !a.enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A link with the token logs the browser in once, then the token
		// leaves the address bar (and the history).
		if t := r.URL.Query().Get("token"); t != "" && a.Token != "" && equal(t, a.Token) {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: a.Token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if !a.allowed(r) {
			if a.User != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="authevents dashboard", charset="UTF-8"`)
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
