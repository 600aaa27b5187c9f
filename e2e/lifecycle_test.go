package e2e

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/internal/browsertest"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestLifecycleInTheBrowser is the account lifecycle as a person lives it,
// on the real binaries (api with EMAIL_VERIFICATION=required, relay, email
// service) and headless Chromium: register; the verification mail reaches
// the SMTP sink; its link opens the API's page, which confirms the
// address; forgot password; the reset mail's link opens the page that sets
// a new password; then login works with the new password and not the old
// one, and the session from before the reset is dead.
func TestLifecycleInTheBrowser(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Start(t)
	sys := startLifecycle(t, "email", "warn")
	sink, base := sys.sink, sys.base
	c := apiClient(t, base)
	const email, first, second = "ada@example.com", "correct horse battery staple", "a brand new passphrase"

	reg, err := c.RegisterWithResponse(t.Context(), nil, client.RegisterRequest{Email: email, Password: first, Name: "Ada"})
	if err != nil || reg.StatusCode() != 202 {
		t.Fatalf("register: %v %s", err, body(reg))
	}
	verify := linkIn(t, sink, "Confirm your address", "/verify-email")
	if err := chromedp.Do(ctx, chromedp.Navigate(verify), chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#message"))); err != nil {
		t.Fatalf("verification page: %v", err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "Your address is confirmed") {
		t.Fatalf("the verification page says %q", shown)
	}
	login := func(pw string) *client.LoginResponse {
		res, err := c.LoginWithResponse(t.Context(), nil, client.LoginRequest{Email: email, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		return res.JSON200
	}
	before := login(first)
	if before == nil {
		t.Fatal("login after verification failed")
	}

	if res, err := c.ForgotPasswordWithResponse(t.Context(), nil, client.ForgotPasswordJSONRequestBody{Email: email}); err != nil || res.StatusCode() != 202 {
		t.Fatalf("forgot: %v %s", err, body(res))
	}
	reset := linkIn(t, sink, "Reset your password", "/reset-password")
	if err := chromedp.Do(ctx, chromedp.Navigate(reset),
		chromedp.SendKeys(chromedp.CSS("#password"), second), chromedp.SendKeys(chromedp.CSS("#confirm"), second),
		chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#message"))); err != nil {
		t.Fatalf("reset page: %v", err)
	}
	if shown, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "Your password is changed") {
		t.Fatalf("the reset page says %q", shown)
	}
	if login(first) != nil {
		t.Error("the old password still logs in")
	}
	if login(second) == nil {
		t.Error("the new password does not log in")
	}
	refresh, err := c.RefreshWithResponse(t.Context(), nil, client.RefreshRequest{RefreshToken: before.RefreshToken})
	if err != nil || refresh.StatusCode() != 401 {
		t.Errorf("the refresh token from before the reset: %v %s, want 401", err, body(refresh))
	}
	me, err := c.MeWithResponse(t.Context(), nil, bearer(before.AccessToken))
	if err != nil || me.StatusCode() != 401 {
		t.Errorf("the access token from before the reset: %v %s, want 401", err, body(me))
	}
}

// linkIn waits for the mail with subject at the sink and returns its link
// to path, read from the text part as a mail client shows it.
func linkIn(t *testing.T, sink *smtptest.Server, subject, path string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://\S+` + regexp.QuoteMeta(path) + `\?token=[A-Za-z0-9_%-]+`)
	var link string
	testenv.WaitFor(t, "the mail "+subject, 20*time.Second, func() bool {
		for _, m := range sink.Messages() {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				continue
			}
			if s, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); s != subject {
				continue
			}
			if l := re.FindString(textPart(t, msg)); l != "" {
				link = l
				return true
			}
		}
		return false
	})
	return link
}

// textPart returns the decoded text/plain part of a message.
func textPart(t *testing.T, msg *mail.Message) string {
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	decode := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(r)
		return string(b)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return decode(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return decode(p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}
