package reveal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/personal"
)

func TestRevealAnswersPerItemAndLogsNoValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	ring, err := personal.NewKeyring(personal.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	keys := personal.NewKeys(pool, ring, personal.Options{CacheSize: -1})
	alive, gone := uuid.New(), uuid.New()
	var sealedAlive, sealedGone string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		a, err := keys.Create(ctx, tx, alive)
		if err != nil {
			return err
		}
		g, err := keys.Create(ctx, tx, gone)
		if err != nil {
			return err
		}
		sealedAlive, sealedGone = a.Encrypt("ev1", personal.FieldEmail, "ada@example.com"), g.Encrypt("ev2", personal.FieldEmail, "bob@example.com")
		return keys.Erase(ctx, tx, gone)
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := NewHandler(keys, []Client{{Name: "crm", TokenSHA256: sha256.Sum256([]byte("crm-token")), Fields: []personal.Field{personal.FieldEmail}}},
		slog.New(slog.NewJSONHandler(&logs, nil)))

	post := func(token string, items []Item) (int, []Result) {
		body, _ := json.Marshal(map[string]any{"items": items})
		req := httptest.NewRequest(http.MethodPost, "/v1/reveal", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct{ Items []Result }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out.Items
	}
	items := []Item{
		{alive.String(), "ev1", personal.FieldEmail, sealedAlive},
		{gone.String(), "ev2", personal.FieldEmail, sealedGone},
		{alive.String(), "ev1", personal.FieldName, sealedAlive},
		{alive.String(), "ev9", personal.FieldEmail, sealedAlive},
		{uuid.NewString(), "ev1", personal.FieldEmail, sealedAlive},
	}
	code, res := post("crm-token", items)
	if code != http.StatusOK || len(res) != len(items) {
		t.Fatalf("POST = %d with %d results, want 200 with %d", code, len(res), len(items))
	}
	if res[0].Value == nil || *res[0].Value != "ada@example.com" {
		t.Errorf("live field: %+v", res[0])
	}
	for i, want := range []Result{1: {Erased: true}, 2: {Error: "forbidden"}, 3: {Error: "unreadable"}, 4: {Error: "no_key"}} {
		if i > 0 && (res[i].Value != nil || res[i].Erased != want.Erased || res[i].Error != want.Error) {
			t.Errorf("item %d: %+v, want %+v", i, res[i], want)
		}
	}
	if strings.Contains(logs.String(), "ada@") || !strings.Contains(logs.String(), `"client":"crm"`) {
		t.Errorf("log = %s: want the client named and no value", logs.String())
	}

	if code, _ := post("wrong", items); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", code)
	}
	if code, _ := post("crm-token", make([]Item, MaxItems+1)); code != http.StatusBadRequest {
		t.Errorf("%d items: %d, want 400", MaxItems+1, code)
	}
}
