package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/db/revocation"
	"github.com/authevents/authevents/internal/buildinfo"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/personal"
)

// userJSON is what `authctl users show --json` prints: never the hash.
type userJSON struct {
	ID              string     `json:"id"`
	Email           string     `json:"email"`
	Name            string     `json:"name"`
	CreatedAt       time.Time  `json:"createdAt"`
	EmailVerifiedAt *time.Time `json:"emailVerifiedAt"`
	DisabledAt      *time.Time `json:"disabledAt"`
	LastLoginAt     *time.Time `json:"lastLoginAt"`
	LiveSessions    int        `json:"liveSessions"`
}

// changeJSON is what `authctl users disable|enable|delete --json` prints.
type changeJSON struct {
	UserID        string `json:"userId"`
	Changed       bool   `json:"changed"`
	SessionsEnded int    `json:"sessionsEnded"`
}

// users runs `authctl users <verb> ID|EMAIL`: show, or a change through
// the account use cases (the same transactions, events and denylist as
// the API's), never SQL of its own.
func users(verb string) func(c *cli, ctx context.Context, args []string) error {
	return func(c *cli, ctx context.Context, args []string) error {
		name := "users " + verb
		if len(args) != 1 {
			return usageError{cmd: name, msg: fmt.Sprintf("needs one user id or address, got %d arguments", len(args))}
		}
		accounts, done, err := c.accounts(ctx)
		if err != nil {
			return err
		}
		defer done()
		info, err := accounts.FindUser(ctx, args[0])
		if errors.Is(err, authevents.ErrNotFound) {
			return fmt.Errorf("no user %q", args[0])
		}
		if err != nil {
			return err
		}
		if verb == "show" {
			return c.showUser(info)
		}
		change := map[string]func(context.Context, uuid.UUID, string) (*account.Change, error){
			"disable": accounts.DisableUser, "enable": accounts.EnableUser, "delete": accounts.DeleteUser,
		}[verb]
		ch, err := change(ctx, info.User.ID, authevents.ByOperator)
		if errors.Is(err, authevents.ErrNotFound) {
			return fmt.Errorf("no user %q", args[0])
		}
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(changeJSON{UserID: ch.User.ID.String(), Changed: ch.Changed, SessionsEnded: ch.SessionsEnded})
		}
		past := map[string]string{"disable": "disabled", "enable": "enabled", "delete": "deleted"}[verb]
		if !ch.Changed {
			_, err = fmt.Fprintf(c.out, "user %s is already %s: nothing changed\n", ch.User.ID, past)
			return err
		}
		_, err = fmt.Fprintf(c.out, "%s user %s (%d sessions ended)\n", past, ch.User.ID, ch.SessionsEnded)
		return err
	}
}

func (c *cli) showUser(info *account.UserInfo) error {
	u := info.User
	if c.json {
		return c.printJSON(userJSON{ID: u.ID.String(), Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt.UTC(),
			EmailVerifiedAt: u.EmailVerifiedAt, DisabledAt: u.DisabledAt, LastLoginAt: u.LastLoginAt, LiveSessions: info.LiveSessions})
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "no"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := table(c.out, "id\t"+u.ID.String())
	fmt.Fprintf(tw, "email\t%s\nname\t%s\ncreated\t%s\nverified\t%s\ndisabled\t%s\nlast login\t%s\nlive sessions\t%d\n",
		u.Email, u.Name, u.CreatedAt.UTC().Format(time.RFC3339), when(u.EmailVerifiedAt), when(u.DisabledAt), when(u.LastLoginAt), info.LiveSessions)
	return tw.Flush()
}

// accounts builds the account use cases as bin/api does, with what the
// operator's use cases need: the database, the denylist (REDIS_URL,
// REDIS_KEY_PREFIX) and the token lifetimes its entries must outlive.
// done closes them, after asking the relays to look at the outbox.
func (c *cli) accounts(ctx context.Context) (_ *account.Service, done func(), err error) {
	pool, err := c.openPool(ctx)
	if err != nil {
		return nil, nil, err
	}
	opts, err := redis.ParseURL(c.cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	ring, err := personal.KeyringFromConfig(c.cfg.PersonalDataKey, c.cfg.PersonalDataKeyFile)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	rdb := redis.NewClient(opts)
	committed := false
	options := []account.Option{account.WithCommitHook(func(string) { committed = true })}
	if ring != nil {
		options = append(options, account.WithPersonalKeys(ring))
	}
	svc := account.New(pool, nil, nil, revocation.New(rdb, c.cfg.RedisKeyPrefix), account.Config{
		AccessTTL: c.cfg.AccessTokenTTL, TokenLeeway: c.cfg.JWTLeeway, IdleTimeout: c.cfg.SessionIdleTimeout,
		Source: c.cfg.ServiceName, ServiceVersion: buildinfo.Version(), Environment: c.cfg.AppEnv,
		V2Only: ring != nil && !c.cfg.EventsV1,
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)), options...)
	return svc, func() {
		if committed { // relays poll too; this wakes them at once
			_, _ = pool.Exec(context.WithoutCancel(ctx), `SELECT pg_notify($1, '')`, outbox.NotifyChannel)
		}
		rdb.Close()
		pool.Close()
	}, nil
}
