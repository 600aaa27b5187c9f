package account

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
)

// RegisterInput is the register request.
type RegisterInput struct {
	Email, Password, Name string
	Client                authevents.Client
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, in RegisterInput) (_ *Result, err error) {
	defer markUnavailable(&err)
	in.Client = cleanClient(in.Client)
	email, name, verr := checkRegister(in)
	if verr != nil {
		return nil, verr
	}
	if err := s.allow(ctx, LimitRegisterIP, s.ipKey(in.Client.IP)); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, hashError("hash password", err)
	}
	now := s.now()
	user := &authevents.User{ID: newID(), Email: email, Name: name, PasswordHash: hash}
	res, sess, err := s.newSession(user, in.Client, now)
	if err != nil {
		return nil, err
	}
	ev, err := s.event(authevents.EventUserRegistered, user.ID.String(), now, authevents.UserRegistered{
		UserID: user.ID.String(), Email: email, Name: name, Timestamp: authevents.Timestamp(now),
	})
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.CreateUser(ctx, tx, user); err != nil {
			return err
		}
		if err := postgres.CreateSession(ctx, tx, sess); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, ev)
	}, authevents.EventUserRegistered)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", user.ID, "session_id", sess.ID)
	return res, nil
}
