package account

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
)

// openSession is the transaction of a successful login, under the user's
// lock: it records the login (and the rehash newHash, if any) if the user
// still has the password hash the login checked, inserts sess and appends
// ev, and returns the user as updated. ErrNotFound: deleted, or the
// password changed since the check; ErrAccountDisabled: disabled since the
// check. Either way nothing is written.
//
// Its statements need no answer before the last of them, so they go with
// the BEGIN in one round trip, and the COMMIT in a second (4 fewer than
// one statement at a time: on a 2-core machine where the API, PostgreSQL
// and the hash workers share the cores, each round trip costs the API and
// the PostgreSQL backend CPU that the hashes then lack). When the update
// matches no row, the inserts after it still run and are rolled back. An
// event that also goes out as version 2 is appended after the batch, as
// every use case appends it (it may need the user's data key made in the
// transaction).
func (s *Service) openSession(ctx context.Context, user *authevents.User, newHash string, sess *authevents.Session, ev outbox.Message) (*authevents.User, error) {
	var u *authevents.User
	asIs := s.appendsAsIs(ev)
	err := s.inBatchTx(ctx, func(b *pgx.Batch) error {
		// The user lock orders this user's transactions, and with them
		// the outbox rows they append.
		postgres.QueueLockUser(b, user.ID)
		postgres.QueueRecordLogin(b, user.ID, user.PasswordHash, newHash, &u)
		postgres.QueueCreateSession(b, sess)
		if asIs {
			return outbox.QueueAppend(b, ev)
		}
		return nil
	}, func(tx pgx.Tx) error {
		if u.DisabledAt != nil {
			return authevents.ErrAccountDisabled // disabled since the check: no session
		}
		if !asIs {
			return s.append(ctx, tx, ev)
		}
		return nil
	}, authevents.EventUserLoggedIn)
	if err != nil {
		return nil, err
	}
	return u, nil
}
