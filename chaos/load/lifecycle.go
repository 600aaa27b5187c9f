package load

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/authevents/authevents/consumer/email"
)

// register starts over as a new user. Under optional verification the
// answer (201) signs it in; under required verification (202) it follows
// the mailed link first, and learns its user id at its first login.
func (a *actor) register(ctx context.Context) ([]Truth, int, error) {
	a.n++
	local := fmt.Sprintf("u%d-%d-%s", a.id, a.n, a.r.cfg.RunID)
	addr := local + "@" + Domain
	// The name and user agent name the user alone, so that a scan for
	// them after the account's deletion finds this user's data only.
	*a = actor{r: a.r, id: a.id, rnd: a.rnd, n: a.n, used: map[string]bool{},
		name: "Load Tester " + local, agent: "authload/1 (" + local + ")", emails: []string{addr}}
	var t tokens
	status, err := a.do(ctx, "POST", "/auth/register", map[string]string{"email": addr, "password": password, "name": a.name}, "", &t)
	switch {
	case err != nil:
	case status == http.StatusCreated && t.User != nil:
		a.email, a.password, a.userID = addr, password, t.User.ID
		a.sessions = []session{{id: claim(t.AccessToken, "sid"), access: t.AccessToken, refresh: t.RefreshToken}}
		return []Truth{{Type: "user.registered", UserID: a.userID}}, status, nil
	case status == http.StatusAccepted:
		a.email, a.password, a.pending = addr, password, true
		a.await, a.awaitTo = email.KindVerify, addr
		a.promise(Truth{Type: "user.registered"})
		a.promise(Truth{Type: "user.email_verification_requested"})
	}
	return nil, status, err
}

// follow waits for the mail the actor awaits and returns its link's
// token. A mail that does not come within Config.MailWait (the email
// service may be down) is counted and given up on: the actor does
// something else, and a user whose verification keeps failing is
// abandoned for a new one.
func (a *actor) follow(ctx context.Context) (string, bool) {
	start := time.Now()
	token, id, err := a.r.mail.wait(ctx, a.awaitTo, a.await, a.used, a.r.cfg.MailWait)
	if ctx.Err() != nil {
		return "", false // the end of the run
	}
	if err != nil {
		a.r.mailWait(a.await, 0, false)
		a.await = ""
		if a.misses++; a.misses >= 3 {
			a.abandon()
		}
		return "", false
	}
	a.r.mailWait(a.await, time.Since(start), true)
	a.used[id] = true
	return token, true
}

// abandon gives the user up: the next step registers a new one. An actor
// does so when it cannot know its credentials (a change of password or
// address got no answer, and may have happened) or its address cannot be
// verified: it never sends a login it cannot expect to succeed.
func (a *actor) abandon() { a.email = "" }

// promise returns t as the truth of the step, or, while the actor does not
// know its user id, keeps it until the first login names it.
func (a *actor) promise(t Truth) []Truth {
	if a.userID == "" {
		t.At = time.Now()
		a.owed = append(a.owed, t)
		return nil
	}
	t.UserID = a.userID
	return []Truth{t}
}

// pay returns the truths kept for want of a user id, now that it is known.
func (a *actor) pay() []Truth {
	out := a.owed
	for i := range out {
		out[i].UserID = a.userID
	}
	a.owed = nil
	return out
}

// expect notes a new link of kind to addr is about to be asked for: the
// mails of that kind there so far are not its.
func (a *actor) expect(kind, addr string) {
	for _, id := range a.r.mail.seen(addr, kind) {
		a.used[id] = true
	}
}

// newPassword is the actor's next password.
func (a *actor) newPassword() string {
	a.n++
	return fmt.Sprintf("%s %d", password, a.n)
}

// lifecycle sends one request of the account lifecycle; link is the token
// follow found for VerifyEmail and ResetPassword.
func (a *actor) lifecycle(ctx context.Context, op Op, link string) (truth []Truth, status int, err error) {
	ok := func() bool { return err == nil && status/100 == 2 }
	unsure := func() bool { return err != nil || status >= 500 }
	cur := len(a.sessions) - 1
	switch op {
	case VerifyEmail:
		status, err = a.do(ctx, "POST", "/auth/email/verify", map[string]string{"token": link}, "", nil)
		switch {
		case ok() && a.await == email.KindEmailChangeVerify:
			// The link proved the new address: a resend for it now
			// promises nothing.
			a.email, a.verified, a.pending = a.newEmail, true, false
			truth = a.promise(Truth{Type: "user.email_changed"})
		case ok():
			a.verified, a.pending = true, false
			truth = a.promise(Truth{Type: "user.email_verified"})
		case unsure():
			a.abandon()
		}
		if status != http.StatusBadRequest { // 400: a superseded link; another may come
			a.await, a.misses = "", 0
		}
	case ResetPassword:
		pw := a.newPassword()
		status, err = a.do(ctx, "POST", "/auth/password/reset", map[string]string{"token": link, "newPassword": pw}, "", nil)
		switch {
		case ok():
			// Every session ended, and the link proved the address.
			a.password, a.sessions, a.verified, a.pending = pw, nil, true, false
			truth = a.promise(Truth{Type: "user.password_changed"})
		case unsure():
			a.abandon()
		}
		if status != http.StatusBadRequest {
			a.await, a.misses = "", 0
		}
	case ResendVerification:
		if !a.verified {
			a.expect(email.KindVerify, a.email)
		}
		status, err = a.do(ctx, "POST", "/auth/email/verify/resend", map[string]string{"email": a.email}, "", nil)
		if ok() && !a.verified {
			a.await, a.awaitTo = email.KindVerify, a.email
			if a.r.cfg.NoRateLimits { // else the API may drop it silently
				truth = a.promise(Truth{Type: "user.email_verification_requested"})
			}
		}
	case ForgotPassword:
		a.expect(email.KindReset, a.email)
		status, err = a.do(ctx, "POST", "/auth/password/forgot", map[string]string{"email": a.email}, "", nil)
		if ok() {
			a.await, a.awaitTo = email.KindReset, a.email
			if a.r.cfg.NoRateLimits {
				truth = a.promise(Truth{Type: "user.password_reset_requested"})
			}
		}
	case ChangePassword:
		pw := a.newPassword()
		status, err = a.do(ctx, "POST", "/auth/password/change", map[string]string{"currentPassword": a.password, "newPassword": pw},
			a.sessions[cur].access, nil)
		switch {
		case ok():
			// The other sessions ended; this one is kept.
			a.password, a.sessions = pw, a.sessions[cur:]
			truth = a.promise(Truth{Type: "user.password_changed"})
		case unsure():
			a.abandon()
		case status == http.StatusUnauthorized:
			a.sessions = a.sessions[:cur] // its access token is no longer taken
		}
	case ChangeEmail:
		a.newEmail = fmt.Sprintf("u%d-%d-%s-moved@%s", a.id, a.n, a.r.cfg.RunID, Domain)
		a.n++
		a.emails = append(a.emails, a.newEmail)
		status, err = a.do(ctx, "POST", "/auth/email/change", map[string]string{"newEmail": a.newEmail, "password": a.password},
			a.sessions[cur].access, nil)
		switch {
		case ok():
			a.await, a.awaitTo = email.KindEmailChangeVerify, a.newEmail
			truth = a.promise(Truth{Type: "user.email_change_requested"})
		case status == http.StatusUnauthorized:
			a.sessions = a.sessions[:cur]
		}
	}
	return truth, status, err
}
