package pages

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/authevents/authevents"
)

// fake records what the forms pass down; the rules behind them are
// account's, tested against real servers.
type fake struct {
	token, password string
	client          authevents.Client
	err             error
}

func (f *fake) VerifyEmail(_ context.Context, token string) error {
	f.token = token
	return f.err
}

func (f *fake) ResetPassword(_ context.Context, token, pw string, c authevents.Client) error {
	f.token, f.password, f.client = token, pw, c
	return f.err
}

func serve(t *testing.T, f *fake) *httptest.Server {
	srv := httptest.NewServer(Handler(f, func(r *http.Request) authevents.Client {
		return authevents.Client{IP: "203.0.113.9", UserAgent: r.UserAgent()}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPagesKeepTheTokenToThemselves: every answer forbids referrers,
// caching, framing and anything not on the page, and the token leaves the
// URL for a form field.
func TestPagesKeepTheTokenToThemselves(t *testing.T) {
	srv := serve(t, &fake{})
	for _, path := range []string{VerifyEmailPath, ResetPasswordPath} {
		res, err := http.Get(srv.URL + path + "?token=ot_abc")
		if err != nil {
			t.Fatal(err)
		}
		html := body(t, res)
		h := res.Header
		for k, want := range map[string]string{
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
			"X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
		policy := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(policy, d) {
				t.Errorf("GET %s: CSP %q lacks %q", path, policy, d)
			}
		}
		// The inline style is allowed by its hash, and nothing else is inline.
		m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("GET %s: no style element", path)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if !strings.Contains(policy, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("GET %s: the CSP does not allow the page's own style", path)
		}
		for _, bad := range []string{"<script", "http://", "https://", "<link", "<img", `action="http`} {
			if strings.Contains(html, bad) {
				t.Errorf("GET %s: the page contains %q", path, bad)
			}
		}
		if !strings.Contains(html, `<form method="post" action="`+path+`">`) || !strings.Contains(html, `name="token" value="ot_abc"`) {
			t.Errorf("GET %s: the token is not carried by a POST form:\n%s", path, html)
		}
	}
}

func TestVerifyFormPostsTheToken(t *testing.T) {
	f := &fake{}
	srv := serve(t, f)
	res, err := http.PostForm(srv.URL+VerifyEmailPath, url.Values{"token": {"ot_abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, res); res.StatusCode != 200 || !strings.Contains(html, "Your address is confirmed") || f.token != "ot_abc" {
		t.Fatalf("POST = %d, token passed %q:\n%s", res.StatusCode, f.token, html)
	}

	f.err = authevents.ErrInvalidLinkToken
	res, _ = http.PostForm(srv.URL+VerifyEmailPath, url.Values{"token": {"ot_used"}})
	if html := body(t, res); res.StatusCode != 400 || !strings.Contains(html, "This link is not valid") || strings.Contains(html, "<form") {
		t.Fatalf("a refused token: %d\n%s", res.StatusCode, html)
	}
}

func TestResetForm(t *testing.T) {
	f := &fake{}
	srv := serve(t, f)
	post := func(v url.Values) (int, string) {
		res, err := http.PostForm(srv.URL+ResetPasswordPath, v)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body(t, res)
	}
	if code, html := post(url.Values{"token": {"ot_a"}, "password": {"one long password"}, "confirm": {"another"}}); code != 400 ||
		!strings.Contains(html, "The two passwords differ") || f.token != "" {
		t.Fatalf("different passwords: %d, use case called with %q\n%s", code, f.token, html)
	}

	f.err = &authevents.ValidationError{Fields: map[string]string{"newPassword": "is too common"}}
	code, html := post(url.Values{"token": {"ot_a"}, "password": {"password123"}, "confirm": {"password123"}})
	if code != 400 || !strings.Contains(html, "The password is too common.") || !strings.Contains(html, `name="token" value="ot_a"`) {
		t.Fatalf("a refused password keeps the form and its token: %d\n%s", code, html)
	}

	f.err = nil
	code, html = post(url.Values{"token": {"ot_a"}, "password": {"a good long password"}, "confirm": {"a good long password"}})
	if code != 200 || !strings.Contains(html, "Your password is changed") || f.password != "a good long password" || f.client.IP != "203.0.113.9" {
		t.Fatalf("reset: %d, passed %q from %+v\n%s", code, f.password, f.client, html)
	}
	if strings.Contains(html, "ot_a") {
		t.Fatal("the success page still carries the token")
	}
}

// TestPagesEscapeWhatTheyEcho: the token from the URL is echoed into the
// form, escaped.
func TestPagesEscapeWhatTheyEcho(t *testing.T) {
	srv := serve(t, &fake{})
	res, err := http.Get(srv.URL + VerifyEmailPath + "?token=" + url.QueryEscape(`"><script>alert(1)</script>`))
	if err != nil {
		t.Fatal(err)
	}
	if html := body(t, res); strings.Contains(html, "<script>") {
		t.Fatalf("the echoed token is not escaped:\n%s", html)
	}
}

func TestOutcomesOfTheUseCase(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{&authevents.RateLimitedError{Limit: "x"}, 429},
		{authevents.ErrUnavailable, 503},
		{io.ErrUnexpectedEOF, 500},
	} {
		srv := serve(t, &fake{err: tc.err})
		res, err := http.PostForm(srv.URL+VerifyEmailPath, url.Values{"token": {"t"}})
		if err != nil {
			t.Fatal(err)
		}
		if html := body(t, res); res.StatusCode != tc.code || strings.Contains(html, tc.err.Error()) {
			t.Errorf("%v: %d, want %d, and no cause shown:\n%s", tc.err, res.StatusCode, tc.code, html)
		}
	}
}
