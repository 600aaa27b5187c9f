package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/internal/testenv"
)

// TestAuthloadAgainstMakeRun: bin/authload, pointed at make run with its
// defaults (-mail-dir is make run's MAIL_DIR), signs its users in whether
// the API requires verified addresses or not: under required it follows
// each verification link it finds in the mail folder before the first
// login, and every request gets the answer it expects.
func TestAuthloadAgainstMakeRun(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	authload := testenv.BuildCommands(t, "./cmd/authload")
	for _, mode := range []string{"required", "optional"} {
		t.Run(mode, func(t *testing.T) {
			mail := t.TempDir()
			_, out, done := makeRunOwnNATS(t, bin, "EMAIL_VERIFICATION="+mode, "RATE_LIMIT_ENABLED=false", "MAIL_DIR="+mail)
			waitRunning(t, "make run", out, done, 90*time.Second)
			m := regexp.MustCompile(`(?m)^\s+API\s+(http://\S+)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("make run printed no API URL:\n%s", out)
			}
			report := filepath.Join(t.TempDir(), "report.json")
			cmd := exec.Command(filepath.Join(authload, "authload"), "-url", m[1], "-rate", "30", "-duration", "6s", "-actors", "4",
				"-seed", "7", "-mail-dir", mail, "-mail-wait", "20s", "-no-rate-limits", "-quiet", "-report", report)
			b, err := cmd.CombinedOutput()
			t.Logf("authload:\n%s", b)
			if err != nil {
				t.Fatalf("authload: %v (a request got an answer it did not expect)", err)
			}
			var rep load.Report
			if raw, err := os.ReadFile(report); err != nil || json.Unmarshal(raw, &rep) != nil {
				t.Fatalf("report: %v", err)
			}
			if rep.Ops[load.Login].OK == 0 || rep.ExpectedEvents["user.logged_in"] == 0 {
				t.Errorf("no user signed in: %+v", rep.Ops)
			}
			verified := rep.Ops[load.VerifyEmail].OK
			// A verification's event is a ground truth only once a later
			// login of that user told its id (chaos/load, promise); on a
			// loaded machine one of the 4 users may not log in again within
			// the 6 s (CI: 3 logins at p50 636 ms), so one truth is the bar.
			if mode == "required" && (verified < 4 || rep.Mails["verify"].Found < 4 || rep.ExpectedEvents["user.email_verified"] < 1) {
				t.Errorf("required: %d addresses verified, mails %+v; want one at least per virtual user", verified, rep.Mails)
			}
			if mode == "optional" && rep.Ops[load.Register].Statuses[201] == 0 {
				t.Errorf("optional: no registration answered 201: %+v", rep.Ops[load.Register])
			}
		})
	}
}
