package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/dashboard"
	"github.com/authevents/authevents/internal/testenv"
)

// TestMakeRunDashboardShowsARegistration is the newcomer's path: make run,
// open the dashboard URL it prints, register a user with the API, and see
// the registration counted, published and consumed within seconds; then,
// as the README goes on, print the verification link from ./var/mail with
// the README's own shell lines, confirm the address and sign in.
func TestMakeRunDashboardShowsARegistration(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	mailDir := t.TempDir()
	_, out, done := makeRunOwnNATS(t, bin, "RATE_LIMIT_ENABLED=false", "MAIL_DIR="+mailDir)
	testenv.WaitFor(t, "make run to print its URLs", 90*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("make run ended (%v):\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), "authevents is running")
	})
	urls := func(name string) string {
		m := regexp.MustCompile(`(?m)^\s+` + name + `\s+(http://\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("make run printed no %s URL:\n%s", name, out)
		}
		return strings.TrimSuffix(m[1], "/")
	}
	board, api := urls("Dashboard"), urls("API")

	res, err := apiClient(t, api).RegisterWithResponse(t.Context(), nil, client.RegisterRequest{
		Email: "newcomer@example.com", Password: "correct horse battery staple", Name: "Newcomer"})
	// make run requires verified addresses (the default): 202, and the
	// verification link is mailed.
	if err != nil || res.StatusCode() != 202 {
		t.Fatalf("register: %v %v", err, res)
	}
	var ov dashboard.Overview
	registered := func() (te dashboard.TypeEvents) {
		for _, te = range ov.Events.Types {
			if te.Type == "user.registered" {
				return te
			}
		}
		return te
	}
	consumed := func() uint64 {
		for _, c := range ov.Consumers.Items {
			if c.Name == "email-service" {
				return c.Acknowledged
			}
		}
		return 0
	}
	testenv.WaitFor(t, "the registration counted, published and consumed on the dashboard", 15*time.Second, func() bool {
		res, err := http.Get(board + "/api/overview")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		ov = dashboard.Overview{}
		if err := json.NewDecoder(res.Body).Decode(&ov); err != nil {
			t.Fatal(err)
		}
		// Two events: user.registered and its verification link (make
		// run seals links to the email service's key), each also as
		// version 2 (make run sets PERSONAL_DATA_KEY); the email
		// service acknowledges all four, and acts on the two v2.
		return ov.Events != nil && ov.Consumers != nil && registered().Count == 1 && registered().Published == 1 && consumed() == 4
	})
	if ov.Outbox == nil || ov.Outbox.RelayReplicas != 1 || ov.Stream == nil || ov.Stream.Messages != 4 {
		t.Errorf("outbox %+v, stream %+v: want 1 relay replica and the two events, in two versions each, in the stream", ov.Outbox, ov.Stream)
	}

	token := readmeVerifyToken(t, mailDir)
	c := apiClient(t, api)
	if res, err := c.VerifyEmailWithResponse(t.Context(), nil, client.LinkTokenRequest{Token: token}); err != nil || res.StatusCode() != 200 {
		t.Fatalf("verify with the README's link: %v %v", err, res)
	}
	login, err := c.LoginWithResponse(t.Context(), nil, client.LoginRequest{Email: "newcomer@example.com", Password: "correct horse battery staple"})
	if err != nil || login.JSON200 == nil {
		t.Fatalf("login after verification: %v %v", err, login)
	}
}

// readmeVerifyToken runs the README's lines that print the newest
// verification link, in a folder whose var/mail is mailDir, and returns
// the link's token.
func readmeVerifyToken(t *testing.T, mailDir string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ls -t .*X-Authevents-Kind: verify.*\\\n.*$`).Find(readme)
	if m == nil {
		t.Fatal("README.md has no lines that print the verification link")
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "var"), 0o755)
	if err := os.Symlink(mailDir, filepath.Join(dir, "var", "mail")); err != nil {
		t.Fatal(err)
	}
	var link string
	testenv.WaitFor(t, "the verification mail in the mail folder", 15*time.Second, func() bool {
		cmd := exec.Command("bash", "-c", string(m))
		cmd.Dir = dir
		b, _ := cmd.Output()
		link = strings.TrimSpace(string(b))
		return link != ""
	})
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("the README's lines printed %q, not a link with a token", link)
	}
	return u.Query().Get("token")
}
