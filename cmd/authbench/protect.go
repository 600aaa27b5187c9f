package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/personal"
)

// Protection of the personal fields (issue 19, docs/privacy.md "Events
// v2") in the relay and consumer benchmarks, whose backlogs are synthetic:
// -protect (BENCH_PROTECT in the scripts) makes them as the API does with
// PERSONAL_DATA_KEY set: "v1+v2" (EVENTS_V1=true, the default) appends
// version 1 and version 2 of each change with personal fields, naming each
// other (twinid); "v2" (EVENTS_V1=false) version 2 alone; "off" version 1
// alone, as without the key. Version 2 is personal.Protect under a data key
// made by personal.Keys.Create in the benchmark database, so a consumer
// holding the same KEK really reads the key and decrypts.
type protector struct {
	mode string
	dks  map[uuid.UUID]*personal.DataKey
}

const (
	protectOff = "off"
	protectV1  = "v1+v2"
	protectV2  = "v2"
)

// newProtector checks mode; unless it is off, it makes sure
// PERSONAL_DATA_KEY is set in this process's environment (a new KEK if
// not: the benchmark's children inherit it) and creates, in one
// transaction, the data key of each of users.
func newProtector(ctx context.Context, pool *pgxpool.Pool, mode string, users []uuid.UUID) (*protector, error) {
	p := &protector{mode: mode}
	switch mode {
	case protectOff:
		return p, nil
	case protectV1, protectV2:
	default:
		return nil, fmt.Errorf("-protect %q: want off, v1+v2 or v2", mode)
	}
	if os.Getenv("PERSONAL_DATA_KEY") == "" {
		os.Setenv("PERSONAL_DATA_KEY", personal.GenerateKEK())
	}
	ring, err := personal.NewKeyring(os.Getenv("PERSONAL_DATA_KEY"))
	if err != nil {
		return nil, err
	}
	keys := personal.NewKeys(pool, ring, personal.Options{})
	p.dks = make(map[uuid.UUID]*personal.DataKey, len(users))
	err = postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
		for _, u := range users {
			k, err := keys.Create(ctx, tx, u)
			if err != nil {
				return err
			}
			p.dks[u] = k
		}
		return nil
	})
	return p, err
}

// on reports whether version 2 is produced.
func (p *protector) on() bool { return p.mode != protectOff }

// perChange is the number of messages a change with personal fields makes.
func (p *protector) perChange() int {
	if p.mode == protectV1 {
		return 2
	}
	return 1
}

// versions returns what the API appends for ce (its id set, its subject
// the user's id): ce alone when protection is off or its type has no
// personal field; else version 1 (naming its twin) and version 2, or
// version 2 alone.
func (p *protector) versions(ce authevents.CloudEvent) ([]authevents.CloudEvent, error) {
	if !p.on() || authevents.ProtectedType(ce.Type) == "" {
		return []authevents.CloudEvent{ce}, nil
	}
	user, err := uuid.Parse(ce.Subject)
	if err != nil {
		return nil, fmt.Errorf("subject %q: %w", ce.Subject, err)
	}
	key, ok := p.dks[user]
	if !ok {
		return nil, fmt.Errorf("no data key made for %s", user)
	}
	v2, err := personal.Protect(&ce, uuid.Must(uuid.NewV7()).String(), key)
	if err != nil {
		return nil, err
	}
	if p.mode == protectV2 {
		return []authevents.CloudEvent{v2}, nil
	}
	return []authevents.CloudEvent{ce, v2}, nil
}

// versionsOf is versions for an encoded CloudEvent of id and type typ; it
// returns the encoded messages with their ids and types.
func (p *protector) versionsOf(id uuid.UUID, typ string, body []byte) ([]encodedEvent, error) {
	if !p.on() || authevents.ProtectedType(typ) == "" {
		return []encodedEvent{{id, typ, body}}, nil
	}
	var ce authevents.CloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		return nil, err
	}
	vs, err := p.versions(ce)
	if err != nil {
		return nil, err
	}
	out := make([]encodedEvent, 0, len(vs))
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		vid, err := uuid.Parse(v.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, encodedEvent{vid, v.Type, b})
	}
	return out, nil
}

type encodedEvent struct {
	id   uuid.UUID
	typ  string
	body []byte
}
