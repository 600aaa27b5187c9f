package load

import (
	"context"
	"net/http"
	"time"
)

// Domain is the domain of every address the load registers or moves to.
const Domain = "load.example.com"

// Deletion is an account deletion the load asked for, with the personal
// data the load gave that user: what must be found nowhere once the
// account is gone. Every request of the load comes from the same address
// (the load's host, 127.0.0.1 in the chaos suite), so an IP names no one
// user and is not part of it.
type Deletion struct {
	At     time.Time `json:"at"`     // when it was sent
	Status int       `json:"status"` // 204, or 0 / 5xx: it may have happened
	UserID string    `json:"userId"`
	// Emails are every address the user had or asked to move to.
	Emails    []string `json:"emails"`
	Name      string   `json:"name"`
	UserAgent string   `json:"userAgent"`
}

// deleteAccount deletes the signed-in user's account (DELETE
// /auth/account with the password; 204), after which the actor starts
// over as a new user. An answer that did not come may hide a deletion:
// the actor starts over too, and the deletion is recorded for the
// verdict, which knows deleted users from the stream.
func (a *actor) deleteAccount(ctx context.Context) (truth []Truth, status int, err error) {
	cur := len(a.sessions) - 1
	start := time.Now()
	status, err = a.do(ctx, "DELETE", "/auth/account", map[string]string{"password": a.password}, a.sessions[cur].access, nil)
	d := Deletion{At: start, Status: status, UserID: a.userID, Emails: a.emails, Name: a.name, UserAgent: a.agent}
	switch {
	case err == nil && status == http.StatusNoContent:
		a.r.deleted(d)
		truth = a.promise(Truth{Type: "user.deleted"})
		a.abandon()
	case err != nil || status >= 500:
		a.r.deleted(d)
		a.abandon()
	case status == http.StatusUnauthorized:
		a.sessions = a.sessions[:cur] // its access token is no longer taken
	}
	return truth, status, err
}

// deleted records a deletion that may have happened.
func (r *runner) deleted(d Deletion) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Deletions = append(r.res.Deletions, d)
}
